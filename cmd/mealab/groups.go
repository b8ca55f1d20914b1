package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/mealab/mealab/compare"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
)

// hasGroups reports whether any run is a seeded replica.
func hasGroups(infos []trainer.RunInfo) bool {
	for _, in := range infos {
		if in.Spec.Group != "" {
			return true
		}
	}
	return false
}

// checkBaseline refuses a --baseline that names no group of the runs and
// no run section of a grid (the part of a group's name before '@').
func checkBaseline(baseline string, specs []trainer.RunSpec) error {
	if baseline == "" {
		return nil
	}
	var names []string
	seen := map[string]bool{}
	for _, s := range specs {
		g := s.Group
		if g == "" {
			g = s.Name
		}
		sec, _, _ := strings.Cut(g, "@")
		if g == baseline || sec == baseline {
			return nil
		}
		// A group that scheduled surgery will fork: mha>gqa2 from mha.
		if len(s.Ops) > 0 && strings.HasPrefix(baseline, g+">") {
			return nil
		}
		if !seen[g] {
			seen[g] = true
			names = append(names, g)
		}
	}
	return usagef("--baseline %s: no such group, run section or fork of one; the groups are %s", baseline, strings.Join(names, ", "))
}

// groupRow is one group in --json output.
type groupRow struct {
	Group    string    `json:"group"`
	Variant  string    `json:"variant"`
	LR       float64   `json:"lr"`
	Seeds    int       `json:"seeds"`
	Diverged int       `json:"diverged"`
	Final    distJSON  `json:"final_val"`
	Best     distJSON  `json:"best_val"`
	Baseline string    `json:"baseline,omitempty"`
	Diff     *diffJSON `json:"diff,omitempty"`
	Verdict  string    `json:"verdict,omitempty"`
}

type distJSON struct {
	N    int `json:"n"`
	Mean any `json:"mean"`
	Std  any `json:"std"`
	Min  any `json:"min"`
	Max  any `json:"max"`
}

type diffJSON struct {
	Test string  `json:"test"`
	Diff float64 `json:"diff"`
	Lo   float64 `json:"lo"`
	Hi   float64 `json:"hi"`
	DF   float64 `json:"df"`
}

func groupRows(infos []trainer.RunInfo, baseline string) []groupRow {
	var out []groupRow
	dj := func(d compare.Dist) distJSON {
		return distJSON{N: d.N, Mean: jsonNum(d.Mean), Std: jsonNum(d.Std), Min: jsonNum(d.Min), Max: jsonNum(d.Max)}
	}
	for _, g := range compare.Groups(infos, baseline) {
		r := groupRow{Group: g.Name, Variant: g.Variant, LR: g.LR, Seeds: g.Replicas(), Diverged: g.Diverged,
			Final: dj(g.FinalVal), Best: dj(g.BestVal), Baseline: g.Baseline, Verdict: g.Verdict}
		if d := g.Diff; d != nil {
			r.Diff = &diffJSON{Test: d.Test, Diff: d.Diff, Lo: d.Lo, Hi: d.Hi, DF: d.DF}
		}
		out = append(out, r)
	}
	return out
}

// printGroups writes the per-group summary and verdicts after the run
// table, when the runs are seeded replicas.
func printGroups(w io.Writer, infos []trainer.RunInfo, baseline string) {
	if !hasGroups(infos) {
		return
	}
	gs := compare.Groups(infos, baseline)
	if len(gs) == 0 {
		return
	}
	if baseline != "" {
		compared := false
		for _, g := range gs {
			compared = compared || g.Baseline != "" || g.Name == baseline
		}
		if !compared {
			fmt.Fprintf(w, "\n--baseline %s matched no group of the runs (a fork that never happened?); no comparisons\n", baseline)
		}
	}
	fmt.Fprintf(w, "\nper group: final and best val loss over the seeds that did not diverge (mean ± std, [min, max]);\n")
	fmt.Fprintf(w, "against its baseline: the mean difference of final val loss (negative: lower than the baseline) with its 95%% interval\n")
	fmt.Fprintf(w, "(paired over seeds; Welch when the seeds do not pair up):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "group\tvariant\tlr\tseeds\tdiverged\tfinal val\t[min, max]\tbest val\tbaseline\tdifference\t95% interval\tverdict\t")
	for _, g := range gs {
		base, diff, iv := "-", "", ""
		if g.Baseline != "" {
			base = g.Baseline
		}
		if d := g.Diff; d != nil {
			diff = fmt.Sprintf("%+.4f", d.Diff)
			iv = fmt.Sprintf("[%+.4f, %+.4f]", d.Lo, d.Hi)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", g.Name, g.Variant, presets.FormatLR(g.LR), g.Replicas(), g.Diverged,
			meanStd(g.FinalVal), minMax(g.FinalVal), meanStd(g.BestVal), base, diff, iv, g.Verdict)
	}
	tw.Flush()
}

func meanStd(d compare.Dist) string {
	if d.N == 0 || math.IsNaN(d.Mean) {
		return "-"
	}
	return fmt.Sprintf("%.4f ± %.4f", d.Mean, d.Std)
}

func minMax(d compare.Dist) string {
	if d.N == 0 || math.IsNaN(d.Min) {
		return "-"
	}
	return fmt.Sprintf("[%.4f, %.4f]", d.Min, d.Max)
}
