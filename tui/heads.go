package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mealab/mealab/trainer"
)

// headsState is the Heads tab: which layer and head are shown, and the
// latest mixing matrices and attention map fetched from the lab.
type headsState struct {
	layer, head int

	mix      trainer.Mixing
	mixOK    bool
	mixKey   [2]int // run, layer the matrices belong to
	mixErr   string
	attn     []float64
	attnT    int
	tokens   []string
	attnKey  [3]int // run, layer, head
	attnErr  string
	inflight bool
	last     time.Time // when the last poll was sent
}

// pollEvery is how often the Heads tab refreshes while it is visible: the
// matrices change every step, but reading them waits for a step.
const pollEvery = time.Second

// shades go from nothing to full; the first is a visible dot so that a
// zero reads as a value, not as a hole.
var shades = []string{"·", "░", "▒", "▓", "█"}

func shade(f float64) string {
	if !finite(f) {
		return "?"
	}
	f = math.Min(math.Max(f, 0), 1)
	return shades[int(math.Round(f*float64(len(shades)-1)))]
}

// renderMatrix draws an h'×H mixing matrix: rows are component heads (what
// the cache stores), columns the composite heads attention uses. Numbers
// are shown when cellW allows, shade blocks always.
func renderMatrix(title string, w []float64, G, H int, numbers bool, th theme) []string {
	maxAbs := 0.0
	for _, v := range w {
		if finite(v) {
			maxAbs = math.Max(maxAbs, math.Abs(v))
		}
	}
	if maxAbs == 0 {
		maxAbs = 1
	}
	cellW := 3
	if numbers {
		cellW = 7
	}
	out := []string{style(th.bold, title)}
	var hdr strings.Builder
	hdr.WriteString("     ")
	for j := 0; j < H; j++ {
		hdr.WriteString(padLeft(fmt.Sprintf("h%d", j), cellW-1) + " ")
	}
	out = append(out, style(th.dim, strings.TrimRight(hdr.String(), " ")))
	for i := 0; i < G; i++ {
		var b strings.Builder
		b.WriteString(style(th.dim, padLeft(fmt.Sprintf("c%d", i), 4)) + " ")
		for j := 0; j < H; j++ {
			v := math.NaN()
			if i*H+j < len(w) {
				v = w[i*H+j]
			}
			g := shade(math.Abs(v) / maxAbs)
			cell := g + g
			if numbers {
				cell = g + fmt.Sprintf("%+.2f", v)
				if !finite(v) {
					cell = g + "  nan"
				}
			}
			st := th.posCell
			if v < 0 {
				st = th.negCell
			}
			b.WriteString(style(st, cell) + " ")
		}
		out = append(out, strings.TrimRight(b.String(), " "))
	}
	return out
}

// matrixWidth is the width renderMatrix needs.
func matrixWidth(H int, numbers bool) int {
	if numbers {
		return 5 + 7*H - 1
	}
	return 5 + 3*H - 1
}

// renderAttention draws a T×T attention map max-pooled into at most w×h
// cells: row = query position, column = key position.
func renderAttention(p []float64, T, w, h int, th theme) []string {
	if T <= 0 || w < 8 || h < 1 {
		return nil
	}
	labelW := len(fmt.Sprint(T-1)) + 1
	cols := min(T, w-labelW)
	rows := min(T, h)
	out := make([]string, 0, rows)
	for r := 0; r < rows; r++ {
		t0, t1 := r*T/rows, (r+1)*T/rows
		var b strings.Builder
		label := ""
		if r == 0 || r == rows-1 || (rows > 8 && r%(rows/4) == 0) {
			label = fmt.Sprint(t0)
		}
		b.WriteString(style(th.dim, padLeft(label, labelW-1)) + " ")
		for c := 0; c < cols; c++ {
			u0, u1 := c*T/cols, (c+1)*T/cols
			m := 0.0
			for t := t0; t < max(t1, t0+1); t++ {
				for u := u0; u < max(u1, u0+1); u++ {
					if t*T+u < len(p) && finite(p[t*T+u]) {
						m = math.Max(m, p[t*T+u])
					}
				}
			}
			if u0 > t1-1 { // above the diagonal: the causal mask
				b.WriteString(" ")
				continue
			}
			// Square root: attention mass is spread thin over long rows, and
			// a linear scale would leave most of the map blank.
			b.WriteString(shade(math.Sqrt(m)))
		}
		out = append(out, b.String())
	}
	return out
}

// renderHeads is the Heads tab for the selected run.
func renderHeads(r *runData, hs *headsState, w, h int, th theme) []string {
	if r == nil {
		return []string{style(th.dim, "no run selected")}
	}
	c := r.info.Spec.Model
	L, H := max(c.Layers, 1), max(c.Heads, 1)
	var out []string
	out = append(out, clip(style(th.bold, "Heads")+" of "+th.run(r.color, r.info.Name)+" ("+r.info.Variant+")"+
		fmt.Sprintf(" · layer %d of %d · head %d of %d", hs.layer, L, hs.head, H)+style(th.dim, " · live, every second"), w))

	key := [2]int{int(r.info.ID), hs.layer}
	var mixLines []string
	switch {
	case hs.mixErr != "" && hs.mixKey == key:
		mixLines = []string{style(th.err, cut(hs.mixErr, w))}
	case !hs.mixOK || hs.mixKey != key:
		mixLines = []string{style(th.dim, "reading the mixing matrices…")}
	default:
		m := hs.mix
		kind := "learned"
		if !m.Learned {
			kind = "fixed, not learned (s converts to MEA)"
		}
		both := 2*matrixWidth(m.H, true)+4 <= w
		numbers := both || matrixWidth(m.H, true) <= w
		if !both && !numbers {
			both = 2*matrixWidth(m.H, false)+4 <= w
		}
		kt := fmt.Sprintf("W_lc^K  h'=%d → H=%d", m.G, m.H)
		vt := fmt.Sprintf("W_lc^V  h'=%d → H=%d", m.G, m.H)
		k := renderMatrix(kt, m.K, m.G, m.H, numbers, th)
		v := renderMatrix(vt, m.V, m.G, m.H, numbers, th)
		mixLines = append(mixLines, style(th.dim, cut("rows c: heads the cache stores · columns h: heads attention uses · "+kind, w)))
		if both {
			mw := matrixWidth(m.H, numbers) + 4
			for i := range k {
				mixLines = append(mixLines, clip(k[i]+strings.Repeat(" ", max(mw-width(k[i]), 1))+v[i], w))
			}
		} else {
			for _, l := range append(k, v...) {
				mixLines = append(mixLines, clip(l, w))
			}
		}
	}
	out = append(out, mixLines...)

	rest := h - len(out) - 2
	if rest < 3 {
		return out[:min(len(out), h)]
	}
	out = append(out, "")
	akey := [3]int{int(r.info.ID), hs.layer, hs.head}
	switch {
	case hs.attnErr != "" && hs.attnKey == akey:
		out = append(out, style(th.dim, cut("attention map: "+hs.attnErr, w)))
	case hs.attn == nil || hs.attnKey != akey:
		out = append(out, style(th.dim, "reading the attention map…"))
	default:
		caption := style(th.bold, fmt.Sprintf("Attention of head %d, layer %d", hs.head, hs.layer)) + style(th.dim, fmt.Sprintf(" · last training sequence, %d tokens · row = query, column = key, darker = more weight", hs.attnT))
		out = append(out, clip(caption, w))
		grid := renderAttention(hs.attn, hs.attnT, w, rest-1, th)
		out = append(out, grid...)
		if len(out) < h {
			toks := strings.Join(hs.tokens, "")
			out = append(out, style(th.dim, cut("tokens: "+oneLine(toks), w)))
		}
	}
	return out[:min(len(out), h)]
}
