package tui

import (
	"charm.land/lipgloss/v2"
	"github.com/guptarohit/asciigraph"
)

// Okabe-Ito: eight colours that stay distinct under the common forms of
// colour blindness. The last one is the palette's black, drawn grey so it
// shows on dark terminals. The 256-colour indexes are the nearest cube
// entries, for asciigraph, which speaks only ANSI indexes; the dim ones draw
// the raw (unsmoothed) line under the smoothed one in the same hue.
var (
	paletteHex = []string{"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"}
	palette256 = []asciigraph.AnsiColor{214, 74, 36, 227, 25, 166, 175, 246}
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
		t.title = t.title.Foreground(lipgloss.Color("#56B4E9"))
		t.tabOn = s().Bold(true).Foreground(lipgloss.Color("#000000")).Background(lipgloss.Color("#56B4E9"))
		t.tabOff = s().Foreground(lipgloss.Color("#B0B0B0"))
		t.header = s().Bold(true).Foreground(lipgloss.Color("#B0B0B0"))
		t.dim = s().Foreground(lipgloss.Color("#808080"))
		t.sel = s().Bold(true).Background(lipgloss.Color("#3A3A3A"))
		t.err = s().Bold(true).Foreground(lipgloss.Color("#D55E00"))
		t.ok = s().Foreground(lipgloss.Color("#009E73"))
		t.warn = s().Bold(true).Foreground(lipgloss.Color("#F0E442"))
		t.posCell = s().Foreground(lipgloss.Color("#E69F00"))
		t.negCell = s().Foreground(lipgloss.Color("#56B4E9"))
	}
	return t
}

// runColor styles text in run colour index ci.
func (t theme) run(ci int, text string) string {
	if !t.color {
		return text
	}
	return lipgloss.NewStyle().Foreground(lipgloss.Color(paletteHex[ci%len(paletteHex)])).Render(text)
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
