package main

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/mealab/mealab/compare"
	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/stats"
	"github.com/mealab/mealab/trainer"
)

// loadedInfo is what a session holds of a run as the RunInfo that package
// compare summarises: its spec, state and final and best validation loss.
func loadedInfo(ld record.Loaded) trainer.RunInfo {
	in := trainer.RunInfo{ID: ld.Meta.ID, Name: ld.Meta.Name, Parent: ld.Meta.Parent, Spec: ld.Meta.Config,
		Variant: ld.Meta.Config.Model.Variant(), LR: ld.Meta.Config.Sched.Peak, ValLoss: math.NaN(), BestVal: math.NaN()}
	for _, s := range []trainer.State{trainer.Running, trainer.Paused, trainer.Done, trainer.Stopped, trainer.Diverged} {
		if s.String() == ld.Meta.State {
			in.State = s
		}
	}
	for _, e := range ld.History.Evals {
		in.ValLoss = e.ValLoss
		if math.IsNaN(in.BestVal) || e.ValLoss < in.BestVal {
			in.BestVal = e.ValLoss
		}
	}
	return in
}

// exportGroupsCSV writes groups.csv beside the per-run files when the
// session's runs are seeded replicas: per group the summary of final and
// best validation loss and the paired comparison with the first group.
func exportGroupsCSV(dir string, runs []record.Loaded, stdout io.Writer) error {
	var infos []trainer.RunInfo
	for _, ld := range runs {
		infos = append(infos, loadedInfo(ld))
	}
	if !hasGroups(infos) {
		return nil
	}
	var rows [][]string
	for _, g := range compare.Groups(infos, "") {
		diff, lo, hi, test := "", "", "", ""
		if d := g.Diff; d != nil {
			diff, lo, hi, test = num(d.Diff), num(d.Lo), num(d.Hi), d.Test
		}
		rows = append(rows, []string{g.Name, g.Variant, num(g.LR), strconv.Itoa(g.Replicas()), strconv.Itoa(g.Diverged),
			num(g.FinalVal.Mean), num(g.FinalVal.Std), num(g.FinalVal.Min), num(g.FinalVal.Max),
			num(g.BestVal.Mean), num(g.BestVal.Std), g.Baseline, diff, lo, hi, test, g.Verdict})
	}
	path := filepath.Join(dir, "groups.csv")
	header := []string{"group", "variant", "lr", "seeds", "diverged", "final_val_mean", "final_val_std", "final_val_min", "final_val_max",
		"best_val_mean", "best_val_std", "baseline", "diff", "diff_lo95", "diff_hi95", "test", "verdict"}
	if err := sessions.ExportCSV(path, header, rows); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s (%d groups)\n", path, len(rows))
	return nil
}

// groupSeries draws the groups of two or more replicas as their mean
// training curve with a min-max band and their mean validation curve; it
// returns the runs it did not draw (not replicas) for the caller.
func groupSeries(runs []record.Loaded) (series []sessions.Series, rest []record.Loaded) {
	by := map[string][]record.Loaded{}
	var order []string
	for _, ld := range runs {
		g := ld.Meta.Config.Group
		if g == "" {
			continue
		}
		if _, ok := by[g]; !ok {
			order = append(order, g)
		}
		by[g] = append(by[g], ld)
	}
	for _, ld := range runs {
		if g := ld.Meta.Config.Group; g == "" || len(by[g]) < 2 {
			rest = append(rest, ld)
		}
	}
	colour := 0
	for _, g := range order {
		members := by[g]
		if len(members) < 2 {
			continue
		}
		colour++
		train := map[int][]float64{}
		val := map[int][]float64{}
		for _, ld := range members {
			for _, p := range ld.History.Points {
				if finite(p.Loss) {
					train[p.Step] = append(train[p.Step], p.Loss)
				}
			}
			for _, e := range ld.History.Evals {
				if finite(e.ValLoss) {
					val[e.Step] = append(val[e.Step], e.ValLoss)
				}
			}
		}
		s := sessions.Series{Name: fmt.Sprintf("%s train (mean of %d, min-max band)", g, len(members)), Colour: colour}
		for _, step := range sortedSteps(train) {
			vs := train[step]
			lo, hi := stats.MinMax(vs)
			s.X, s.Y = append(s.X, float64(step)), append(s.Y, stats.Mean(vs))
			s.Lo, s.Hi = append(s.Lo, lo), append(s.Hi, hi)
		}
		series = append(series, s)
		v := sessions.Series{Name: g + " val (mean)", Dashed: true, Colour: colour}
		for _, step := range sortedSteps(val) {
			v.X, v.Y = append(v.X, float64(step)), append(v.Y, stats.Mean(val[step]))
		}
		if len(v.X) > 0 {
			series = append(series, v)
		}
	}
	return series, rest
}

func sortedSteps(m map[int][]float64) []int {
	ks := make([]int, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
