package tui

import (
	"fmt"
	"strings"
)

// wrapText breaks plain text into lines of at most w cells.
func wrapText(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	var out []string
	r := []rune(s)
	for len(r) > 0 {
		n := 0
		cw := 0
		for n < len(r) {
			rw := width(string(r[n]))
			if cw+rw > w {
				break
			}
			cw += rw
			n++
		}
		if n == 0 {
			n = 1
		}
		out = append(out, string(r[:n]))
		r = r[n:]
	}
	return out
}

// renderSamples shows each run's newest generated text with its decoding
// speed; the selected run gets the spare lines.
func renderSamples(runs []*runData, sel, w, h int, th theme) []string {
	out := []string{clip(style(th.bold, "Samples")+style(th.dim, " · each run's newest text, decoded with its KV cache ([prompt])"), w)}
	if len(runs) == 0 {
		return append(out, style(th.dim, "  no runs yet"))
	}
	avail := h - 1
	per := max(avail/len(runs), 2)
	for i, r := range runs {
		if len(out) >= h {
			break
		}
		lines := per
		if i == sel {
			lines = max(per, avail-(len(runs)-1)*2)
		}
		s, ok := r.lastSample()
		head := runPrefix(r, i, i == sel, th) + th.run(r.color, r.info.Name)
		if !ok {
			msg := "no sample yet"
			if r.info.Spec.SampleEvery == 0 && r.info.Spec.Model.Layers > 0 {
				msg = "sampling is off (sample_every = 0)"
			}
			out = append(out, clip(head+style(th.dim, "  "+msg), w))
			continue
		}
		out = append(out, clip(head+style(th.dim, fmt.Sprintf("  step %d · decode %s tok/s · cache %s for %d positions",
			s.Step, fmtRate(s.TokPerSec), fmtBytes(s.CacheBytes), s.CacheTokens)), w))
		text := "[" + oneLine(s.Prompt) + "]" + oneLine(s.Text)
		body := wrapText(text, w-prefixW)
		for k, l := range body {
			if k >= lines-1 || len(out) >= h {
				break
			}
			out = append(out, strings.Repeat(" ", prefixW)+l)
		}
	}
	return out
}
