package tui

// Seeded replica groups on the lab's screen: a group (runs that share
// trainer.RunSpec.Group, made by `seeds = N`) is drawn as its mean curve
// with a band (min-max or mean ± std), and summarised against a baseline
// group with a paired interval and a verdict (package compare).

import (
	"fmt"
	"math"
	"strings"

	"github.com/guptarohit/asciigraph"
	"github.com/mealab/mealab/compare"
	"github.com/mealab/mealab/stats"
	"github.com/mealab/mealab/trainer"
)

// bandMode is how groups are drawn: the `g` key steps through them.
type bandMode int

const (
	bandMinMax   bandMode = iota // mean line, min and max lines
	bandStd                      // mean line, mean ± std lines
	bandReplicas                 // every replica as its own run
	numBands
)

func (b bandMode) String() string {
	switch b {
	case bandStd:
		return "groups: mean ± std"
	case bandReplicas:
		return "replicas"
	}
	return "groups: mean, min-max"
}

// bandGroup is one group of visible replicas drawn as one curve.
type bandGroup struct {
	name    string
	members []chartRun
}

func (g bandGroup) color() int { return g.members[0].r.color }

// splitBands separates the visible runs into single runs and groups of two
// or more visible replicas (a group with one visible replica is drawn as a
// run). With bandReplicas everything is a single run.
func splitBands(vis []chartRun, cs chartState) (singles []chartRun, groups []bandGroup) {
	if cs.band == bandReplicas {
		return vis, nil
	}
	at := map[string]int{}
	var order []string
	members := map[string][]chartRun{}
	for _, cr := range vis {
		g := cr.r.info.Spec.Group
		if g == "" {
			continue
		}
		if _, ok := at[g]; !ok {
			at[g] = len(order)
			order = append(order, g)
		}
		members[g] = append(members[g], cr)
	}
	for _, cr := range vis {
		if g := cr.r.info.Spec.Group; g == "" || len(members[g]) < 2 {
			singles = append(singles, cr)
		}
	}
	for _, g := range order {
		if len(members[g]) >= 2 {
			groups = append(groups, bandGroup{name: g, members: members[g]})
		}
	}
	return singles, groups
}

// bandChars are the glyphs of a band's edges.
func bandChars(th theme) asciigraph.CharSet {
	if th.color {
		return asciigraph.CreateCharSet("·")
	}
	return asciigraph.CreateCharSet(":")
}

// series draws a group: its band's two edges, its mean validation line and
// its mean training line, over the same columns as the single runs.
func (g bandGroup) series(cs chartState, x0, x1 float64, W, minStep int, th theme) (bands, vals, trains []chartSeries) {
	alpha := smoothings[cs.smooth]
	scale := float64(W-1) / (x1 - x0)
	ci := g.color()
	color := palette256[ci%len(palette256)]
	if cs.series != seriesVal {
		var per [][]float64
		for _, cr := range g.members {
			pts, _ := window(cr.r, minStep)
			if len(pts) == 0 {
				continue
			}
			raw, smooth := bucketRun(pts, metLoss, cs.axis, x0, scale, W, cs.logY, alpha)
			if alpha > 0 {
				raw = smooth
			}
			per = append(per, raw)
		}
		if len(per) > 0 {
			mean, lo, hi := columnStats(per, W, cs.band)
			bands = append(bands,
				chartSeries{ys: lo, color: paletteDim[ci%len(paletteDim)], chars: bandChars(th)},
				chartSeries{ys: hi, color: paletteDim[ci%len(paletteDim)], chars: bandChars(th)})
			trains = append(trains, chartSeries{ys: mean, color: color, chars: trainChars(ci, th)})
		}
	}
	if cs.series != seriesTrain {
		col := func(x float64) int {
			c := int((x-x0)/(x1-x0)*float64(W-1) + 0.5)
			return min(max(c, 0), W-1)
		}
		var per [][]float64
		for _, cr := range g.members {
			_, evs := window(cr.r, minStep)
			if len(evs) == 0 {
				continue
			}
			ys := nanSlice(W)
			for _, e := range evs {
				v := e.ValLoss
				if cs.logY {
					if v <= 0 {
						continue
					}
					v = math.Log10(v)
				}
				if finite(v) {
					ys[col(cs.axis.xOf(e.Step, e.Tokens, e.Wall))] = v
				}
			}
			per = append(per, ys)
		}
		if len(per) > 0 {
			mean, _, _ := columnStats(per, W, cs.band)
			joinGaps(mean)
			vals = append(vals, chartSeries{ys: mean, color: color, chars: valCharsFor(g.members[0].label, th)})
		}
	}
	return bands, vals, trains
}

// columnStats is, per column, the mean of the finite values of the
// replicas and the band's edges (min and max, or mean ± std); NaN where no
// replica has a value.
func columnStats(per [][]float64, W int, mode bandMode) (mean, lo, hi []float64) {
	mean, lo, hi = nanSlice(W), nanSlice(W), nanSlice(W)
	vals := make([]float64, 0, len(per))
	for c := 0; c < W; c++ {
		vals = vals[:0]
		for _, ys := range per {
			if c < len(ys) && finite(ys[c]) {
				vals = append(vals, ys[c])
			}
		}
		if len(vals) == 0 {
			continue
		}
		m := stats.Mean(vals)
		mean[c] = m
		if mode == bandStd {
			s := stats.Std(vals)
			lo[c], hi[c] = m-s, m+s
		} else {
			lo[c], hi[c] = stats.MinMax(vals)
		}
	}
	return mean, lo, hi
}

// groupLegend is a group's entry in the chart legend.
func groupLegend(g bandGroup, th theme) string {
	ci := g.color()
	m := th.mark(ci)
	if !th.color {
		m = runGlyphs[ci%len(runGlyphs)] + g.members[0].label[len(g.members[0].label)-1:]
	}
	return fmt.Sprintf("%s %s×%d", m, th.run(ci, g.name), len(g.members))
}

// groupsOf summarises the lab's groups against baseline ("" = the first).
func groupsOf(runs []*runData, baseline string) []compare.Group {
	var infos []trainer.RunInfo
	grouped := false
	for _, r := range runs {
		infos = append(infos, r.info)
		grouped = grouped || r.info.Spec.Group != ""
	}
	if !grouped {
		return nil
	}
	return compare.Groups(infos, baseline)
}

// groupLines are the side panel's lines about groups: each group's final
// validation loss over its seeds and, against the baseline, the paired
// difference with its 95% interval and the verdict.
func groupLines(gs []compare.Group, w int, th theme) []string {
	if len(gs) == 0 {
		return nil
	}
	out := []string{style(th.bold, "Groups") + style(th.dim, " final val, vs baseline (95%, paired) · G baseline")}
	for _, g := range gs {
		s := fmt.Sprintf("%-8s ×%d %s", cut(g.Name, 8), g.Replicas(), fmtDist(g.FinalVal))
		if g.Diverged > 0 {
			s += fmt.Sprintf(" (%d div)", g.Diverged)
		}
		switch {
		case g.Diff != nil:
			s += fmt.Sprintf(" %+.3f [%+.3f,%+.3f] %s", g.Diff.Diff, g.Diff.Lo, g.Diff.Hi, shortVerdict(g.Verdict))
		case g.Baseline != "":
			s += "  " + shortVerdict(g.Verdict)
		default:
			s += "  baseline"
		}
		out = append(out, cut(s, w))
	}
	return out
}

func fmtDist(d compare.Dist) string {
	if d.N == 0 || math.IsNaN(d.Mean) {
		return "-"
	}
	return fmt.Sprintf("%.3f±%.3f", d.Mean, d.Std)
}

func shortVerdict(v string) string {
	v = strings.Replace(v, "no difference detectable with", "no difference, with", 1)
	return strings.Replace(v, "needs 2 or more usable seeds in each group", "too few seeds", 1)
}

// selectedGroupLine is the narrow layout's one line about the selected
// run's group against the baseline, or "" when it is not in a group.
func selectedGroupLine(gs []compare.Group, sel *runData, w int, th theme) string {
	if sel == nil || sel.info.Spec.Group == "" {
		return ""
	}
	for _, g := range gs {
		if g.Name != sel.info.Spec.Group {
			continue
		}
		s := fmt.Sprintf("%s ×%d: final val %s", g.Name, g.Replicas(), fmtDist(g.FinalVal))
		switch {
		case g.Baseline == "":
			s += " (baseline; G changes it)"
		case g.Diff != nil:
			s += fmt.Sprintf(" · vs %s %+.3f [%+.3f, %+.3f] · %s", g.Baseline, g.Diff.Diff, g.Diff.Lo, g.Diff.Hi, g.Verdict)
		default:
			s += " · " + g.Verdict
		}
		return cut(s, w)
	}
	return ""
}

// nextBaseline is the group after cur in gs (wrapping), for the G key.
func nextBaseline(gs []compare.Group, cur string) string {
	if len(gs) == 0 {
		return ""
	}
	if cur == "" {
		cur = gs[0].Name
	}
	for i, g := range gs {
		if g.Name == cur {
			return gs[(i+1)%len(gs)].Name
		}
	}
	return gs[0].Name
}

// replicasOf is the runs surgery on r applies to: every replica of r's
// group that is still in the lab (r itself first), or r alone.
func replicasOf(st *store, r *runData) []trainer.RunID {
	ids := []trainer.RunID{r.info.ID}
	g := r.info.Spec.Group
	if g == "" {
		return ids
	}
	for _, o := range st.list() {
		if o.info.ID != r.info.ID && o.info.Spec.Group == g {
			ids = append(ids, o.info.ID)
		}
	}
	return ids
}

// eachReplica makes one lab call per replica, in order, and returns the
// first replica's new run; it stops at the first refusal and says which
// replicas were already changed.
func eachReplica(ids []trainer.RunID, call func(Lab, trainer.RunID) (trainer.RunID, error)) func(Lab) (trainer.RunID, error) {
	return func(l Lab) (trainer.RunID, error) {
		var first trainer.RunID
		for i, id := range ids {
			nid, err := call(l, id)
			if err != nil {
				if i > 0 {
					return first, fmt.Errorf("replica %d of %d: %w (the first %d were changed)", i+1, len(ids), err, i)
				}
				return 0, err
			}
			if i == 0 {
				first = nid
			}
		}
		return first, nil
	}
}
