package presets

import (
	"fmt"

	"github.com/mealab/mealab/trainer"
)

// MaxSeeds bounds `seeds = N`: replicas multiply every run of a preset.
const MaxSeeds = 64

// Replicate turns every run into a group of n replicas that differ in
// initialisation and data order. Replica i (1-based) of every group gets
// the seeds Model.Seed+i-1 and DataSeed+i-1, so when the runs share their
// seeds (as presets do by default) replica i of MHA and replica i of MEA
// start from the same seed and see the same batches: groups compare
// pairwise. A replica is named after its run and its seed
// (trainer.ReplicaName: mha@seed=2, mea@lr=3e-2,seed=2), its Group is the
// run's name and its Replica is i. n = 1 returns the runs unchanged (no groups).
func Replicate(specs []trainer.RunSpec, n int) ([]trainer.RunSpec, error) {
	if n < 1 || n > MaxSeeds {
		return nil, fmt.Errorf("seeds must be between 1 and %d, got %d", MaxSeeds, n)
	}
	if n == 1 {
		return specs, nil
	}
	out := make([]trainer.RunSpec, 0, len(specs)*n)
	for _, s := range specs {
		if s.Group != "" {
			return nil, fmt.Errorf("run %s is already a replica of %s: seeds apply once", s.Name, s.Group)
		}
		for i := 1; i <= n; i++ {
			r := s
			r.Ops = append([]trainer.ScheduledOp(nil), s.Ops...)
			r.Group = s.Name
			r.Replica = i
			r.Model.Seed = s.Model.Seed + uint64(i-1)
			r.Name = trainer.ReplicaName(s.Name, r.Model.Seed)
			r.DataSeed = s.DataSeed + uint64(i-1)
			out = append(out, r)
		}
	}
	return out, nil
}

// replicate turns every run whose `seeds` is N > 1 into its N replicas
// (Replicate), keeping the expansion's order, and refuses a result larger
// than maxRuns.
func (e *Expansion) replicate(preset string, maxRuns int) error {
	if len(e.seeds) != len(e.Runs) {
		return fmt.Errorf("preset %s: internal: %d seed counts for %d runs", preset, len(e.seeds), len(e.Runs))
	}
	total := 0
	for _, n := range e.seeds {
		total += n
	}
	if total == len(e.Runs) {
		return nil
	}
	if total > maxRuns {
		return fmt.Errorf("preset %s expands to %d runs with its seeds, more than %d; lower seeds or a grid, or raise the limit with --max-runs", preset, total, maxRuns)
	}
	var runs []trainer.RunSpec
	var sections []string
	var seeds []int
	for i, s := range e.Runs {
		reps, err := Replicate([]trainer.RunSpec{s}, e.seeds[i])
		if err != nil {
			return fmt.Errorf("run %s: %w", s.Name, err)
		}
		for range reps {
			sections = append(sections, e.Section[i])
			seeds = append(seeds, 1)
		}
		runs = append(runs, reps...)
	}
	e.Runs, e.Section, e.seeds = runs, sections, seeds
	return nil
}
