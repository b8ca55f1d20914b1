package tui

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/mealab/mealab/trainer"
)

// groupedLab is two groups of three seeded replicas (mha, mea) whose
// curves differ by a seed-dependent offset, mea lower on every seed.
func groupedLab(t testing.TB) *fakeLab {
	f := newFakeLab()
	id := trainer.RunID(1)
	for _, g := range []struct {
		name, variant string
		floor         float64
	}{{"mha", "mha", 0.70}, {"mea", "mea", 0.55}} {
		for rep := 1; rep <= 3; rep++ {
			spec := mustBuild(t, fmt.Sprintf("%s@seed=%d", g.name, rep), "variant", g.variant, "seed", fmt.Sprint(rep))
			spec.Group, spec.Replica = g.name, rep
			off := 0.05 * float64(rep-2)
			floor := g.floor
			f.addRun(id, fixtureRun{spec: spec, from: 1, to: 300, state: trainer.Running,
				loss: func(s int) float64 { return curve(s, floor+off, 2.9, 60, 0.7+0.2*float64(rep)) }})
			id++
		}
	}
	return f
}

func TestGroupGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		w, h int
		keys []string
	}{
		{"groups", 80, 24, nil},
		{"groups_std", 80, 24, []string{"g"}},
		{"groups_replicas", 80, 24, []string{"g", "g"}},
		{"groups_mea_selected", 80, 24, []string{"j", "j", "j"}},
		{"groups", 200, 50, nil},
		{"groups_baseline_mea", 200, 50, []string{"G"}},
	} {
		name := fmt.Sprintf("%s_%dx%d", c.name, c.w, c.h)
		t.Run(name, func(t *testing.T) {
			m := newTestModel(t, groupedLab(t), c.w, c.h)
			keys(t, m, c.keys...)
			golden(t, name, frame(t, m))
		})
	}
}

// The band is drawn from the replicas: with colour, the frame still fits
// and is coloured; without, the band glyph appears and a group is one
// legend entry, not three.
func TestGroupBands(t *testing.T) {
	m := newTestModel(t, groupedLab(t), 80, 24)
	fr := frame(t, m)
	if !strings.Contains(fr, ":") || !strings.Contains(fr, "mha×3") || !strings.Contains(fr, "mea×3") {
		t.Errorf("no band or group legend:\n%s", fr)
	}
	for _, l := range strings.Split(fr, "\n") {
		if strings.Contains(l, "mha×3") && strings.Contains(l, "seed=") {
			t.Errorf("replicas listed in the legend in group mode: %q", l)
		}
	}
	keys(t, m, "g", "g")
	if fr := frame(t, m); strings.Contains(fr, "mha×3") {
		t.Errorf("replica mode still draws groups:\n%s", fr)
	}
	mc := newTestModel(t, groupedLab(t), 80, 24, func(o *Options) { o.NoColor = false })
	if !colourCode.MatchString(mc.View().Content) {
		t.Error("no colour in a coloured grouped frame")
	}
	// The selected replica's group line says mea is better (lower on every
	// seed by the same 0.15: a paired interval far from zero).
	keys(t, m, "g", "j", "j", "j")
	if fr := frame(t, m); !strings.Contains(fr, "mea better") {
		t.Errorf("no verdict for the selected group:\n%s", fr)
	}
}

func TestColumnStats(t *testing.T) {
	nan := math.NaN()
	per := [][]float64{{1, 2, nan}, {3, nan, nan}, {5, 4, nan}}
	mean, lo, hi := columnStats(per, 3, bandMinMax)
	if mean[0] != 3 || lo[0] != 1 || hi[0] != 5 || mean[1] != 3 || lo[1] != 2 || hi[1] != 4 || !math.IsNaN(mean[2]) {
		t.Errorf("min-max: %v %v %v", mean, lo, hi)
	}
	_, lo, hi = columnStats(per, 3, bandStd)
	if math.Abs(lo[0]-1) > 1e-12 || math.Abs(hi[0]-5) > 1e-12 { // std of 1,3,5 is 2
		t.Errorf("std: %v %v", lo, hi)
	}
}

// Surgery on a replica applies to every replica of its group, in place or
// as forks.
func TestGroupSurgery(t *testing.T) {
	f := groupedLab(t)
	m := newTestModel(t, f, 100, 30)
	keys(t, m, "j", "j", "j", "s", "f", "1", "enter") // mea#1, fork, compress 1
	var applied []string
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, "apply") {
			applied = append(applied, c)
		}
	}
	want := []string{"apply 4 compress 1 fork=true", "apply 5 compress 1 fork=true", "apply 6 compress 1 fork=true"}
	if strings.Join(applied, "|") != strings.Join(want, "|") {
		t.Errorf("surgery on a group: %q, want %q", applied, want)
	}
}

// The new-run form's seeds field starts a group of seeded replicas.
func TestFormSeeds(t *testing.T) {
	f := fixtureLab(t)
	m := newTestModel(t, f, 100, 30)
	keys(t, m, "n", "shift+tab", "backspace", "3", "enter")
	var adds []string
	for _, c := range f.Calls() {
		if strings.HasPrefix(c, "add") {
			adds = append(adds, c)
		}
	}
	if len(adds) != 3 {
		t.Fatalf("the form started %d runs with seeds 3: %q", len(adds), f.Calls())
	}
	for i, want := range []string{"seed=1", "seed=2", "seed=3"} {
		if !strings.Contains(adds[i], want) {
			t.Errorf("run %d: %q lacks %s", i, adds[i], want)
		}
	}
	m = newTestModel(t, f, 100, 30)
	keys(t, m, "n", "shift+tab", "backspace", "0")
	if fr := frame(t, m); !strings.Contains(fr, "seeds: give a number of replicas from 1 to 64") {
		t.Errorf("seeds 0 accepted:\n%s", fr)
	}
}
