// Package compare turns the runs of a lab into groups of seeded replicas
// and says, per group against a baseline group, whether a difference in
// validation loss is larger than seed-to-seed noise. It also counts, per
// variant and learning rate, how many seeds diverged.
//
// A group is the set of runs that share trainer.RunSpec.Group (replicas made
// by presets.Replicate); a run without a group is a group of one. Final and
// best validation losses are summarised over the replicas that did not
// diverge. Against the baseline, replicas are paired by index (replica i of
// every group shares its seeds and batches) and the paired t interval of the
// mean difference is used; when the two groups do not have the same set of
// usable replicas (one diverged, different seed counts) Welch's interval is
// used instead. See package stats for the tests themselves.
package compare

import (
	"math"
	"sort"
	"strings"

	"github.com/mealab/mealab/stats"
	"github.com/mealab/mealab/trainer"
)

// Level is the confidence level of every interval.
const Level = 0.95

// Dist summarises one number over the replicas of a group.
type Dist struct {
	N                   int
	Mean, Std, Min, Max float64
}

func dist(xs []float64) Dist {
	if len(xs) == 0 {
		return Dist{Mean: math.NaN(), Std: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	lo, hi := stats.MinMax(xs)
	return Dist{N: len(xs), Mean: stats.Mean(xs), Std: stats.Std(xs), Min: lo, Max: hi}
}

// Group is one replica group with its summary and, for groups other than
// the baseline, the comparison with it.
type Group struct {
	Name     string
	Variant  string
	LR       float64
	Members  []trainer.RunID // in replica order
	Diverged int             // replicas that diverged
	FinalVal Dist            // final validation loss over replicas that did not diverge
	BestVal  Dist            // best validation loss over the same replicas

	// Against the baseline group (empty Baseline: this is the baseline or
	// there is none). Diff is candidate - baseline of the final validation
	// loss: negative means this group is better.
	Baseline string
	Diff     *stats.Interval
	Verdict  string

	final map[int]float64 // replica -> final val, usable replicas only
}

// Replicas is the number of runs in the group.
func (g Group) Replicas() int { return len(g.Members) }

// GroupName is the group a run belongs to.
func GroupName(info trainer.RunInfo) string {
	if info.Spec.Group != "" {
		return info.Spec.Group
	}
	return info.Name
}

// Groups builds the groups of infos in order of first appearance and
// compares each with baseline (a group name; "" picks the first group).
func Groups(infos []trainer.RunInfo, baseline string) []Group {
	var out []Group
	at := map[string]int{}
	type member struct {
		rep  int
		id   trainer.RunID
		info trainer.RunInfo
	}
	members := map[string][]member{}
	for _, in := range infos {
		name := GroupName(in)
		if _, ok := at[name]; !ok {
			at[name] = len(out)
			out = append(out, Group{Name: name, Variant: in.Variant, LR: in.LR})
		}
		members[name] = append(members[name], member{in.Spec.Replica, in.ID, in})
	}
	for i := range out {
		g := &out[i]
		ms := members[g.Name]
		sort.SliceStable(ms, func(a, b int) bool { return ms[a].rep < ms[b].rep })
		var fin, best []float64
		g.final = map[int]float64{}
		for _, m := range ms {
			g.Members = append(g.Members, m.id)
			if m.info.State == trainer.Diverged {
				g.Diverged++
				continue
			}
			if v := m.info.ValLoss; finite(v) {
				fin = append(fin, v)
				g.final[m.rep] = v
			}
			if v := m.info.BestVal; finite(v) {
				best = append(best, v)
			}
		}
		g.FinalVal, g.BestVal = dist(fin), dist(best)
	}
	if len(out) == 0 {
		return out
	}
	base := baselineFor(out, at, baseline)
	for i := range out {
		g := &out[i]
		bn, ok := base(g.Name)
		if !ok || bn == g.Name {
			continue
		}
		b := out[at[bn]]
		g.Baseline = b.Name
		iv, err := Diff(g.final, b.final)
		if err != nil {
			g.Verdict = "needs 2 or more usable seeds in each group"
			continue
		}
		g.Diff = &iv
		g.Verdict = stats.Verdict(g.Name, b.Name, iv)
	}
	return out
}

// baselineFor resolves what a group is compared with. baseline names a
// group (every group is compared with it) or a run section of a grid
// ("mha": mea@lr=1e-2 is compared with mha@lr=1e-2, the baseline's run at
// the same grid point). "" picks the first group, or, when the first
// group is a grid point (NAME@...), its section.
func baselineFor(gs []Group, at map[string]int, baseline string) func(string) (string, bool) {
	if baseline == "" {
		baseline = gs[0].Name
		if sec, _, ok := strings.Cut(baseline, "@"); ok {
			baseline = sec
		}
	}
	if _, ok := at[baseline]; ok {
		return func(string) (string, bool) { return baseline, true }
	}
	return func(name string) (string, bool) {
		sec, point, ok := strings.Cut(name, "@")
		if !ok {
			return "", false
		}
		if sec == baseline {
			return name, true
		}
		b := baseline + "@" + point
		_, ok = at[b]
		return b, ok
	}
}

// Diff compares two groups' per-replica values (replica index -> value):
// paired when both hold the same replica indices, Welch otherwise.
func Diff(cand, base map[int]float64) (stats.Interval, error) {
	paired := len(cand) == len(base)
	for k := range cand {
		if _, ok := base[k]; !ok {
			paired = false
		}
	}
	keys := func(m map[int]float64) []int {
		ks := make([]int, 0, len(m))
		for k := range m {
			ks = append(ks, k)
		}
		sort.Ints(ks)
		return ks
	}
	if paired {
		var a, b []float64
		for _, k := range keys(cand) {
			a = append(a, cand[k])
			b = append(b, base[k])
		}
		return stats.Paired(a, b, Level)
	}
	var a, b []float64
	for _, k := range keys(cand) {
		a = append(a, cand[k])
	}
	for _, k := range keys(base) {
		b = append(b, base[k])
	}
	return stats.Welch(a, b, Level)
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// LRCount is how many seeds ran and diverged at one learning rate.
type LRCount struct {
	LR       float64
	Seeds    int
	Diverged int
}

// Stability is one variant's divergence counts over an LR ladder.
type Stability struct {
	Variant string
	PerLR   []LRCount // ascending LR
	// MaxStable is the largest LR at which no seed diverged (0: none).
	MaxStable float64
	// BestLR is the stable LR with the lowest mean final validation loss.
	BestLR  float64
	BestVal float64
}

// Stabilities counts divergences per variant and LR, in order of first
// appearance of each variant. Forks (runs with a parent) are left out: they
// did not start at their LR.
func Stabilities(infos []trainer.RunInfo) []Stability {
	var out []Stability
	at := map[string]int{}
	type acc struct {
		n, div int
		vals   []float64
	}
	per := map[string]map[float64]*acc{}
	for _, in := range infos {
		if in.Parent != 0 {
			continue
		}
		if _, ok := at[in.Variant]; !ok {
			at[in.Variant] = len(out)
			out = append(out, Stability{Variant: in.Variant})
			per[in.Variant] = map[float64]*acc{}
		}
		a := per[in.Variant][in.LR]
		if a == nil {
			a = &acc{}
			per[in.Variant][in.LR] = a
		}
		a.n++
		if in.State == trainer.Diverged {
			a.div++
		} else if finite(in.ValLoss) {
			a.vals = append(a.vals, in.ValLoss)
		}
	}
	for i := range out {
		s := &out[i]
		s.BestVal = math.NaN()
		var lrs []float64
		for lr := range per[s.Variant] {
			lrs = append(lrs, lr)
		}
		sort.Float64s(lrs)
		for _, lr := range lrs {
			a := per[s.Variant][lr]
			s.PerLR = append(s.PerLR, LRCount{LR: lr, Seeds: a.n, Diverged: a.div})
			if a.div == 0 {
				s.MaxStable = lr
				if m := stats.Mean(a.vals); len(a.vals) > 0 && (math.IsNaN(s.BestVal) || m < s.BestVal) {
					s.BestLR, s.BestVal = lr, m
				}
			}
		}
	}
	return out
}
