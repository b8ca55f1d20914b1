package tui

import (
	"strconv"

	"charm.land/lipgloss/v2"
	"github.com/guptarohit/asciigraph"
)

// Okabe-Ito (#E69F00 #56B4E9 #009E73 #F0E442 #0072B2 #D55E00 #CC79A7, and
// its black drawn grey so it shows on dark terminals): eight colours that
// stay distinct under the common forms of colour blindness. They are given
// as their nearest xterm-256 indexes because asciigraph speaks only ANSI
// indexes; the table uses the same indexes, so a run's colour is the same
// cell colour in both on every terminal. The dim ones draw the raw line
// under the smoothed one in the same hue.
var (
	palette256 = []asciigraph.AnsiColor{178, 74, 35, 221, 25, 166, 175, 246}
	paletteDim = []asciigraph.AnsiColor{136, 67, 29, 143, 24, 130, 132, 242}
)

// Without colour, runs are told apart by the character their line is drawn
// with; plain ASCII, because ambiguous-width symbols break alignment on some
// terminals (CJK locales, old SSH clients).
var runGlyphs = []string{"*", "+", "o", "x", "#", "%", "@", "="}

// theme holds every style the views use, so that NO_COLOR (and the golden
// files) get the same layout with attributes only.
type theme struct {
	color bool

	title, tabOn, tabOff, header, dim, bold, sel, err, ok, warn lipgloss.Style
	posCell, negCell                                            lipgloss.Style
}

func newTheme(color bool) theme {
	s := lipgloss.NewStyle
	t := theme{color: color,
		title:  s().Bold(true),
		tabOn:  s().Bold(true).Reverse(true),
		tabOff: s(),
		header: s().Bold(true).Underline(true),
		dim:    s(),
		bold:   s().Bold(true),
		sel:    s().Reverse(true),
		err:    s().Bold(true),
		ok:     s(),
		warn:   s().Bold(true),
	}
	if color {
		t.title = t.title.Foreground(lipgloss.Color("74"))
		t.tabOn = s().Bold(true).Foreground(lipgloss.Color("16")).Background(lipgloss.Color("74"))
		t.tabOff = s().Foreground(lipgloss.Color("#B0B0B0"))
		t.header = s().Bold(true).Foreground(lipgloss.Color("#B0B0B0"))
		t.dim = s().Foreground(lipgloss.Color("#808080"))
		t.sel = s().Bold(true).Background(lipgloss.Color("#3A3A3A"))
		t.err = s().Bold(true).Foreground(lipgloss.Color("166"))
		t.ok = s().Foreground(lipgloss.Color("35"))
		t.warn = s().Bold(true).Foreground(lipgloss.Color("221"))
		t.posCell = s().Foreground(lipgloss.Color("178"))
		t.negCell = s().Foreground(lipgloss.Color("74"))
	}
	return t
}

// runColor styles text in run colour index ci.
func (t theme) run(ci int, text string) string {
	if !t.color {
		return text
	}
	c := palette256[ci%len(palette256)]
	return lipgloss.NewStyle().Foreground(lipgloss.Color(strconv.Itoa(int(c)))).Render(text)
}

// mark is the run's legend symbol: a coloured square, or its line
// character without colour.
func (t theme) mark(ci int) string {
	if !t.color {
		return runGlyphs[ci%len(runGlyphs)]
	}
	return t.run(ci, "■")
}

// style applies st only when the text is non-empty (lipgloss would pad).
func style(st lipgloss.Style, text string) string {
	if text == "" {
		return ""
	}
	return st.Render(text)
}
