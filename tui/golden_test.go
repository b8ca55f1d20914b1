package tui

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// frame renders the model's view and checks the invariants every frame
// must keep: exactly h lines, none wider than w, and no colour codes when
// colour is off.
func frame(t *testing.T, m *Model) string {
	t.Helper()
	m.redraw()
	raw := m.View().Content
	if !m.th.color && colourCode.MatchString(raw) {
		t.Errorf("colour codes in a NO_COLOR frame: %q", colourCode.FindString(raw))
	}
	plain := ansi.Strip(raw)
	lines := strings.Split(plain, "\n")
	if len(lines) != m.h {
		t.Errorf("frame has %d lines, want %d", len(lines), m.h)
	}
	for i, l := range lines {
		if w := ansi.StringWidth(l); w > m.w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i, w, m.w, l)
		}
	}
	return plain
}

// colourCode matches SGR sequences that set a colour (30-37, 38;..,
// 40-47, 48;.., 90-97, 100-107); attributes such as bold and reverse are
// allowed without colour.
var colourCode = regexp.MustCompile(`\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m`)

// golden compares a colour-free frame with testdata/name.golden.
func golden(t *testing.T, name, got string) {
	t.Helper()
	var b strings.Builder
	for _, l := range strings.Split(got, "\n") {
		b.WriteString(strings.TrimRight(l, " ") + "\n")
	}
	got = b.String()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -update to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < max(len(gl), len(wl)); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("%s differs at line %d:\n got: %q\nwant: %q\n(go test ./tui -update rewrites goldens; look at the diff first)", path, i+1, g, w)
				break
			}
		}
	}
}

func TestGolden(t *testing.T) {
	headsMsgFor := func(t *testing.T, m *Model) {
		// What the Heads tab's poll returns, fed in directly.
		r := m.selected()
		mix, _ := m.lab.Mixing(r.info.ID, m.heads.layer)
		p, T, toks, _ := m.lab.AttentionMap(r.info.ID, m.heads.layer, m.heads.head)
		m.Update(headsMsg{run: r.info.ID, layer: m.heads.layer, head: m.heads.head, mix: mix, attn: p, T: T, tokens: toks})
	}
	cases := []struct {
		name  string
		w, h  int
		setup func(t *testing.T, m *Model)
	}{
		{"overview", 80, 24, nil},
		{"overview", 160, 48, nil},
		{"overview_wide", 200, 50, nil},
		{"overview_small", 60, 16, nil},
		{"overview_tiny", 40, 10, nil},
		{"overview_log_ema_zoom", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "L", "e", "e", "z", "z", "z", "z", "z") }},
		{"overview_tokens_train", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "x", "v", "j", "space") }},
		{"overview_time_val", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "x", "x", "v", "v") }},
		{"kv", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "2") }},
		{"kv", 160, 48, func(t *testing.T, m *Model) { keys(t, m, "2", "c", "c", "b") }},
		{"heads", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "j", "j", "3"); headsMsgFor(t, m) }},
		{"heads", 160, 48, func(t *testing.T, m *Model) { keys(t, m, "j", "3", "]", "."); headsMsgFor(t, m) }},
		{"samples", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "4") }},
		{"samples", 160, 48, func(t *testing.T, m *Model) { keys(t, m, "4", "j") }},
		{"surgery", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "s", "1") }},
		{"surgery_error", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "s", "down", "down", "3") }},
		{"form", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "n", "tab", "right") }},
		{"form_error", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "n", "tab", "tab", "3") }},
		{"lr", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "r", "0", ".", "0", "1") }},
		{"preset", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "P") }},
		{"confirm_quit", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "q") }},
		{"help", 80, 24, func(t *testing.T, m *Model) { keys(t, m, "?") }},
		{"help", 160, 48, func(t *testing.T, m *Model) { keys(t, m, "?") }},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s_%dx%d", c.name, c.w, c.h)
		t.Run(name, func(t *testing.T) {
			m := newTestModel(t, fixtureLab(t), c.w, c.h)
			if c.setup != nil {
				c.setup(t, m)
			}
			golden(t, name, frame(t, m))
		})
	}
}

func TestGoldenEmptyLab(t *testing.T) {
	m := newTestModel(t, newFakeLab(), 80, 24)
	golden(t, "empty_80x24", frame(t, m))
}

// TestFramesNeverOverflow renders every tab and dialog at many sizes,
// including ones below 80x24, and checks each frame fits exactly.
func TestFramesNeverOverflow(t *testing.T) {
	sizes := [][2]int{{20, 3}, {30, 8}, {45, 12}, {79, 23}, {80, 24}, {100, 30}, {120, 40}, {159, 50}, {160, 48}, {240, 70}}
	flows := [][]string{{}, {"2"}, {"3"}, {"4"}, {"s"}, {"n"}, {"r"}, {"P"}, {"q"}, {"?"}, {"L", "e", "x", "z"}}
	for _, sz := range sizes {
		for _, fl := range flows {
			m := newTestModel(t, fixtureLab(t), sz[0], sz[1])
			keys(t, m, fl...)
			if m.tab == tabHeads {
				r := m.selected()
				mix, _ := m.lab.Mixing(r.info.ID, 0)
				p, T, toks, _ := m.lab.AttentionMap(r.info.ID, 0, 0)
				m.Update(headsMsg{run: r.info.ID, mix: mix, attn: p, T: T, tokens: toks})
			}
			frame(t, m)
		}
	}
	// A resize at any time re-lays the frame out.
	m := newTestModel(t, fixtureLab(t), 80, 24)
	for _, sz := range sizes {
		m.Update(tea.WindowSizeMsg{Width: sz[0], Height: sz[1]})
		frame(t, m)
	}
}

// TestColour checks both sides of the colour switch: runs are coloured
// when the terminal has colour, and the NO_COLOR frame has none (so the
// check in frame is not vacuous).
func TestColour(t *testing.T) {
	m := newTestModel(t, fixtureLab(t), 80, 24, func(o *Options) { o.NoColor = false })
	if !colourCode.MatchString(m.View().Content) {
		t.Error("no colour codes with colour on")
	}
	m = newTestModel(t, fixtureLab(t), 80, 24)
	if colourCode.MatchString(m.View().Content) {
		t.Error("colour codes with colour off")
	}
}
