package tui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The context lengths and batch sizes the KV panel's keys step through:
// first each run's own context (0 here), then what-if sizes from a laptop
// demo to a long-context server.
var (
	kvContexts = []int{0, 256, 1024, 2048, 4096, 8192, 32768, 131072}
	kvBatches  = []int{1, 2, 4, 8, 16, 32, 64, 128, 256}
)

// kvState is the KV panel's user-chosen context length and batch. It
// starts at what the runs really have: one sequence at each run's own
// context; anything else is a what-if and says so.
type kvState struct {
	ctx, batch int // indexes into kvContexts, kvBatches
}

func defaultKV() kvState { return kvState{ctx: 0, batch: 0} }

// context is the chosen what-if context, 0 for each run's own.
func (k kvState) context() int { return kvContexts[k.ctx] }
func (k kvState) batchN() int  { return kvBatches[k.batch] }

// own reports whether the sizes are each run's own context, one sequence.
func (k kvState) own() bool { return k.context() == 0 }

// ctxOf is the context the sizes of run r are computed at.
func (k kvState) ctxOf(r *runData) int {
	if k.own() {
		return r.info.Spec.Model.Context
	}
	return k.context()
}

// header describes the chosen sizes, what-if ones labelled as such.
func (k kvState) header(runs []*runData) string {
	if k.own() {
		ctx := "own contexts"
		if c := commonContext(runs); c > 0 {
			ctx = "own context " + fmtInt(int64(c))
		}
		batch := fmt.Sprintf("batch %d", k.batchN())
		if k.batchN() > 1 {
			batch = "what-if " + batch
		}
		return fmt.Sprintf("%s (c: what-if) · %s", ctx, batch)
	}
	return fmt.Sprintf("what-if context %s · batch %d", fmtInt(int64(k.context())), k.batchN())
}

// column is the title of the chosen-size column.
func (k kvState) column() string {
	if k.own() {
		return fmt.Sprintf("own ctx x %d", k.batchN())
	}
	return fmt.Sprintf("%s x %d", fmtInt(int64(k.context())), k.batchN())
}

// commonContext is the context all runs share, 0 when they differ.
func commonContext(runs []*runData) int {
	c := 0
	for _, r := range runs {
		rc := r.info.Spec.Model.Context
		if c != 0 && rc != c {
			return 0
		}
		c = rc
	}
	return c
}

// kvBaseline is the run savings are measured against: the MHA run with the
// largest cache, or the largest cache of any run when there is no MHA run.
func kvBaseline(runs []*runData) *runData {
	var best, bestMHA *runData
	for _, r := range runs {
		b := r.info.KVBytesPerToken
		if b <= 0 {
			continue
		}
		if best == nil || b > best.info.KVBytesPerToken {
			best = r
		}
		if strings.HasPrefix(r.info.Variant, "MHA") && (bestMHA == nil || b > bestMHA.info.KVBytesPerToken) {
			bestMHA = r
		}
	}
	if bestMHA != nil {
		return bestMHA
	}
	return best
}

// cachedHeads says what the cache holds: "4 x 2L" (4 heads in each of 2
// layers), or the per-layer list when layers differ.
func cachedHeads(r *runData) string {
	c := r.info.Spec.Model
	if c.Layers == 0 {
		return "-"
	}
	l := c.KVLabel()
	if strings.Contains(l, ",") {
		return l
	}
	return l + " x " + strconv.Itoa(c.Layers) + "L"
}

// kvBar draws the run's cache as a fraction of the baseline's: solid for
// what it keeps, light for what it saves. Bars longer than the baseline
// (a grown run) are capped and say so in the label.
func kvBar(b, base int64, n int) string {
	if n <= 0 || base <= 0 {
		return ""
	}
	f := float64(b) / float64(base)
	full := int(math.Round(math.Min(f, 1) * float64(n)))
	if b > 0 && full == 0 {
		full = 1
	}
	return strings.Repeat("█", full) + strings.Repeat("░", n-full)
}

func savingText(b, base int64) string {
	switch {
	case base <= 0 || b <= 0:
		return ""
	case b == base:
		return "baseline"
	case b < base:
		return fmt.Sprintf("saves %.0f%%", 100*(1-float64(b)/float64(base)))
	}
	return fmt.Sprintf("+%.0f%%", 100*(float64(b)/float64(base)-1))
}

// renderKV is the KV-cache tab: sizes per token, at full context and at the
// chosen context and batch, bars against the baseline, and what sampling
// actually allocated next to the formula.
func renderKV(runs []*runData, sel int, ks kvState, w, h int, th theme) []string {
	var out []string
	base := kvBaseline(runs)
	baseName := "none"
	if base != nil {
		baseName = base.info.Name + " (" + base.info.Variant + ")"
	}
	batch := ks.batchN()
	out = append(out, clip(style(th.bold, "KV cache")+style(th.dim, " (float32) · ")+
		ks.header(runs)+" · baseline "+baseName, w))
	if len(runs) == 0 {
		return append(out, style(th.dim, "  no runs yet"))
	}
	specs := []colSpec{
		{title: "run", prio: 1, maxW: 16},
		{title: "variant", prio: 3, maxW: 12},
		{title: "cached", prio: 4, right: true},
		{title: "per token", prio: 1, right: true},
		{title: "full context", prio: 5, right: true},
		{title: ks.column(), prio: 2, right: true},
	}
	cells := make([][]string, len(runs))
	for i, r := range runs {
		in := r.info
		full := "-"
		if c := in.Spec.Model.Context; c > 0 && in.KVBytesPerToken > 0 {
			full = fmtBytes(in.KVBytesPerToken*int64(c)) + " @" + fmtCount(float64(c))
		}
		cells[i] = []string{in.Name, in.Variant, cachedHeads(r), fmtBytes(in.KVBytesPerToken), full,
			fmtBytes(in.KVBytesPerToken * int64(ks.ctxOf(r)) * int64(batch))}
	}
	if ks.own() {
		// The chosen column is the full context then; do not say it twice.
		specs = append(specs[:4], specs[5])
		for i := range cells {
			cells[i] = append(cells[i][:4], cells[i][5])
		}
	}
	barMin := 12
	head, rows := layoutColumns(specs, cells, w-prefixW-barMin-12)
	textW := width(head)
	barW := max(w-prefixW-textW-2-12, 4)
	if barW > 40 {
		barW = 40 // longer bars only stretch the eye
	}
	out = append(out, strings.Repeat(" ", prefixW)+style(th.header, head)+"  "+style(th.header, fit("vs baseline", barW+12)))
	var bb int64
	if base != nil {
		bb = base.info.KVBytesPerToken
	}
	for i, r := range runs {
		b := r.info.KVBytesPerToken
		bar := th.run(r.color, kvBar(b, bb, barW))
		line := runPrefix(r, i, i == sel, th) + rows[i] + "  " + bar + " " + savingText(b, bb)
		if i == sel {
			line = runPrefix(r, i, true, th) + th.sel.Render(rows[i]) + "  " + bar + " " + style(th.bold, savingText(b, bb))
		}
		out = append(out, clip(line, w))
	}

	// How the number comes about, then what sampling really allocated.
	if len(out)+len(runs)+2 <= h {
		out = append(out, "", clip(style(th.bold, "Formula")+style(th.dim, ": 2 (K and V) × layers × cached heads × head width d × 4 bytes"), w))
		for i, r := range runs {
			out = append(out, clip(runPrefix(r, i, false, th)+fit(r.info.Name, 12)+"  "+formulaText(r), w))
		}
	}
	if len(out)+2 <= h {
		out = append(out, "", clip(style(th.bold, "Measured")+style(th.dim, ": the cache that sampling allocated, next to the formula (they must agree)"), w))
		for i, r := range runs {
			if len(out) >= h {
				break
			}
			out = append(out, clip(runPrefix(r, i, false, th)+sampleCheck(r, th), w))
		}
	}
	return out
}

// formulaText spells out the KV-cache size of one token.
func formulaText(r *runData) string {
	c := r.info.Spec.Model
	if c.Layers == 0 {
		return "-"
	}
	heads := fmt.Sprintf("%d layers × %d heads", c.Layers, c.Normalized().KVHeads)
	if c.Normalized().KVHeads == 1 {
		heads = fmt.Sprintf("%d layers × 1 head", c.Layers)
	}
	if l := c.KVLabel(); strings.Contains(l, ",") {
		heads = "(" + strings.ReplaceAll(l, ",", "+") + ") heads"
	}
	return fmt.Sprintf("2 × %s × d=%d × 4 B = %s B per token", heads, c.HeadDim(), fmtInt(c.KVBytesPerToken(4)))
}

// sampleCheck compares the cache sampling allocated with the formula; they
// must agree, and a mismatch is flagged loudly.
func sampleCheck(r *runData, th theme) string {
	s, ok := r.lastSample()
	name := fit(r.info.Name, 12)
	if !ok {
		if r.info.Spec.SampleEvery == 0 && r.info.Spec.Model.Layers > 0 {
			return name + style(th.dim, "  sampling is off for this run (sample_every = 0)")
		}
		return name + style(th.dim, "  no sample yet")
	}
	verdict := style(th.ok, fmt.Sprintf("= formula %s ✓", fmtBytes(s.FormulaBytes)))
	if s.CacheBytes != s.FormulaBytes {
		verdict = style(th.err, fmt.Sprintf("but formula %s  ✗ MISMATCH", fmtBytes(s.FormulaBytes)))
	}
	return fmt.Sprintf("%s  @%-5d %3d pos  allocated %s %s", name, s.Step, s.CacheTokens, fmtBytes(s.CacheBytes), verdict)
}

// renderKVCompact is the side panel of wide layouts: one bar per run.
func renderKVCompact(runs []*runData, w int, th theme) []string {
	out := []string{style(th.bold, "KV cache per token")}
	base := kvBaseline(runs)
	var bb int64
	if base != nil {
		bb = base.info.KVBytesPerToken
	}
	barW := max(w-12-10-12, 4)
	for _, r := range runs {
		b := r.info.KVBytesPerToken
		line := th.mark(r.color) + " " + fit(r.info.Name, 10) + " " + padLeft(fmtBytes(b), 9) + " " +
			th.run(r.color, kvBar(b, bb, barW)) + " " + savingText(b, bb)
		out = append(out, clip(line, w))
	}
	return out
}
