package compare

import (
	"math"
	"strings"
	"testing"

	"github.com/mealab/mealab/trainer"
)

func info(id int, group string, rep int, variant string, lr, val, best float64, st trainer.State) trainer.RunInfo {
	in := trainer.RunInfo{ID: trainer.RunID(id), Name: group, Variant: variant, LR: lr, ValLoss: val, BestVal: best, State: st}
	if rep > 0 {
		in.Spec.Group, in.Spec.Replica = group, rep
		in.Name = group + "@seed=" + string(rune('0'+rep))
	}
	return in
}

func TestGroupsPairedVerdicts(t *testing.T) {
	var infos []trainer.RunInfo
	id := 1
	// Baseline mha; mea better by exactly 0.1 on every seed (paired sd 0:
	// a zero-width interval at -0.1); mea-h2 a noisy difference around 0.
	base := []float64{1.0, 1.2, 0.9, 1.1, 1.05}
	noise := []float64{0.03, -0.02, 0.01, -0.04, 0.02}
	for i, b := range base {
		infos = append(infos, info(id, "mha", i+1, "MHA", 2e-3, b, b-0.01, trainer.Done))
		infos = append(infos, info(id+1, "mea", i+1, "MEA", 2e-3, b-0.1, b-0.11, trainer.Done))
		infos = append(infos, info(id+2, "mea-h2", i+1, "MEA h'=2", 2e-3, b+noise[i], b, trainer.Done))
		id += 3
	}
	gs := Groups(infos, "")
	if len(gs) != 3 || gs[0].Name != "mha" || gs[1].Name != "mea" || gs[2].Name != "mea-h2" {
		t.Fatalf("groups %+v", gs)
	}
	if gs[0].Replicas() != 5 || gs[0].FinalVal.N != 5 || math.Abs(gs[0].FinalVal.Mean-1.05) > 1e-12 {
		t.Errorf("baseline summary %+v", gs[0].FinalVal)
	}
	if gs[0].Diff != nil || gs[0].Baseline != "" {
		t.Error("the baseline was compared with itself")
	}
	if d := gs[1].Diff; d == nil || d.Test != "paired t" || math.Abs(d.Diff+0.1) > 1e-12 || d.Hi >= 0 {
		t.Errorf("mea vs mha: %+v", d)
	}
	if gs[1].Verdict != "mea better" {
		t.Errorf("verdict %q", gs[1].Verdict)
	}
	if !strings.HasPrefix(gs[2].Verdict, "no difference detectable with 5 seeds") {
		t.Errorf("verdict %q", gs[2].Verdict)
	}
	// A chosen baseline.
	gs = Groups(infos, "mea")
	if gs[0].Baseline != "mea" || gs[0].Verdict != "mea better" || gs[0].Diff.Diff < 0 {
		t.Errorf("mha vs mea: %q %+v", gs[0].Verdict, gs[0].Diff)
	}
}

func TestGroupsDivergedAndWelch(t *testing.T) {
	infos := []trainer.RunInfo{
		info(1, "a", 1, "MHA", 1e-2, 1.0, 1.0, trainer.Done),
		info(2, "a", 2, "MHA", 1e-2, 1.1, 1.1, trainer.Done),
		info(3, "a", 3, "MHA", 1e-2, 1.2, 1.2, trainer.Done),
		info(4, "b", 1, "MEA", 1e-2, 0.5, 0.5, trainer.Done),
		info(5, "b", 2, "MEA", 1e-2, math.NaN(), 3, trainer.Diverged),
		info(6, "b", 3, "MEA", 1e-2, 0.6, 0.6, trainer.Done),
	}
	gs := Groups(infos, "a")
	b := gs[1]
	if b.Diverged != 1 || b.FinalVal.N != 2 {
		t.Fatalf("diverged %d, usable %d", b.Diverged, b.FinalVal.N)
	}
	if b.Diff == nil || b.Diff.Test != "Welch t" {
		t.Fatalf("with a diverged replica the pairing breaks: %+v", b.Diff)
	}
	// Single runs: no interval, a clear word.
	gs = Groups([]trainer.RunInfo{info(1, "x", 0, "MHA", 1e-3, 1, 1, trainer.Done), info(2, "y", 0, "MEA", 1e-3, 1, 1, trainer.Done)}, "")
	if gs[1].Diff != nil || !strings.Contains(gs[1].Verdict, "needs 2") {
		t.Errorf("single runs: %+v %q", gs[1].Diff, gs[1].Verdict)
	}
}

func TestStabilitiesCountSeeds(t *testing.T) {
	var infos []trainer.RunInfo
	id := 1
	add := func(variant string, lr float64, div int, n int) {
		for i := 1; i <= n; i++ {
			st := trainer.Done
			if i <= div {
				st = trainer.Diverged
			}
			infos = append(infos, info(id, variant+"@"+string(rune('a'+id)), i, variant, lr, 1/lr/1000, 1, st))
			id++
		}
	}
	add("MHA", 1e-3, 0, 3)
	add("MHA", 1e-2, 0, 3)
	add("MHA", 1e-1, 2, 3)
	add("MEA", 1e-3, 0, 3)
	add("MEA", 1e-2, 0, 3)
	add("MEA", 1e-1, 0, 3)
	ss := Stabilities(infos)
	if len(ss) != 2 {
		t.Fatalf("%+v", ss)
	}
	if ss[0].MaxStable != 1e-2 || ss[0].PerLR[2].Diverged != 2 || ss[0].PerLR[2].Seeds != 3 {
		t.Errorf("MHA %+v", ss[0])
	}
	if ss[1].MaxStable != 1e-1 || ss[1].BestLR != 1e-1 {
		t.Errorf("MEA %+v", ss[1])
	}
}

// In a grid, a section name as baseline compares every group with the
// baseline section's group at the same grid point; the default for a grid
// is the first group's section.
func TestGroupsGridBaseline(t *testing.T) {
	var infos []trainer.RunInfo
	id := 1
	for _, lr := range []string{"1e-2", "1e-1"} {
		for _, sec := range []string{"mha", "mea"} {
			for rep := 1; rep <= 3; rep++ {
				v := 1.0 + 0.01*float64(rep)
				if sec == "mea" && lr == "1e-1" {
					v -= 0.2
				}
				infos = append(infos, info(id, sec+"@lr="+lr, rep, strings.ToUpper(sec), 0.01, v, v, trainer.Done))
				id++
			}
		}
	}
	for _, baseline := range []string{"", "mha"} {
		gs := Groups(infos, baseline)
		by := map[string]Group{}
		for _, g := range gs {
			by[g.Name] = g
		}
		if g := by["mea@lr=1e-1"]; g.Baseline != "mha@lr=1e-1" || g.Verdict != "mea@lr=1e-1 better" {
			t.Errorf("baseline %q: mea@lr=1e-1 vs %q: %q", baseline, g.Baseline, g.Verdict)
		}
		if g := by["mea@lr=1e-2"]; g.Baseline != "mha@lr=1e-2" || g.Diff == nil || g.Diff.Diff != 0 {
			t.Errorf("baseline %q: mea@lr=1e-2 vs %q: %+v", baseline, g.Baseline, g.Diff)
		}
		if g := by["mha@lr=1e-1"]; g.Baseline != "" {
			t.Errorf("the baseline section was compared with %q", g.Baseline)
		}
	}
	// A group name as baseline: everything against it.
	gs := Groups(infos, "mha@lr=1e-2")
	if gs[3].Name != "mea@lr=1e-1" || gs[3].Baseline != "mha@lr=1e-2" {
		t.Errorf("fixed baseline: %s vs %s", gs[3].Name, gs[3].Baseline)
	}
}
