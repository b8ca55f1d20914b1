package sweep

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// Plan file format.
const (
	PlanFormat  = "mealab.sweep"
	PlanVersion = 1
	planFile    = "sweep/plan.json"
)

// Plan is a sweep: the expanded grid and the Slurm jobs submitted for it.
type Plan struct {
	Format     string    `json:"format"`
	Version    int       `json:"version"`
	Preset     string    `json:"preset"`
	PresetText string    `json:"preset_text"`
	Overrides  []string  `json:"overrides,omitempty"` // key=value, in order
	Created    time.Time `json:"created"`
	Runs       []Run     `json:"runs"`
	Slurm      *Slurm    `json:"slurm,omitempty"`
	Jobs       []Job     `json:"jobs,omitempty"`
}

// Run is one run of the grid. Index is its Slurm array index (0-based);
// ID is its run id (Index+1), the same in a task as in a local sweep.
type Run struct {
	Index int             `json:"index"`
	ID    trainer.RunID   `json:"id"`
	Name  string          `json:"name"`
	Dir   string          `json:"dir"` // its directory under runs/
	Spec  trainer.RunSpec `json:"spec"`
}

// Job is one sbatch submission: the array indices it covers.
type Job struct {
	ID        string    `json:"id"`
	Indices   []int     `json:"indices"`
	Script    string    `json:"script"` // path of the batch script
	Submitted time.Time `json:"submitted"`
}

// Expand turns a preset and overrides into runs: presets' one expansion
// (grids over any key, stable run names), the same train and the lab use.
func Expand(p *presets.Preset, over []presets.Setting) ([]trainer.RunSpec, error) {
	ex, err := p.Expand(presets.Options{Overrides: over})
	if err != nil {
		return nil, err
	}
	return ex.Runs, nil
}

// NewPlan makes the plan of p with the overrides, whose expansion (by
// Expand, or the command line's with its limits) is specs.
func NewPlan(p *presets.Preset, over []presets.Setting, specs []trainer.RunSpec) (*Plan, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("preset %s has no runs", p.Name)
	}
	pl := &Plan{Format: PlanFormat, Version: PlanVersion, Preset: p.Name, PresetText: p.Source, Created: time.Now().UTC()}
	for _, s := range over {
		pl.Overrides = append(pl.Overrides, s.String())
	}
	seen := map[string]bool{}
	for i, s := range specs {
		if seen[s.Name] {
			return nil, fmt.Errorf("preset %s has two runs called %s; a sweep needs distinct run names", p.Name, s.Name)
		}
		seen[s.Name] = true
		id := trainer.RunID(i + 1)
		pl.Runs = append(pl.Runs, Run{Index: i, ID: id, Name: s.Name, Dir: record.DirName(id, s.Name), Spec: s})
	}
	return pl, nil
}

// Save writes the plan into the session (replacing an older copy).
func (pl *Plan) Save(sess *sessions.Session) error {
	b, err := json.MarshalIndent(pl, "", "  ")
	if err != nil {
		return fmt.Errorf("encode sweep plan: %w", err)
	}
	_, err = sess.WriteAux(planFile, append(b, '\n'), 0o644)
	return err
}

// ErrNoPlan is returned by LoadPlan for sessions that are not sweeps.
var ErrNoPlan = errors.New("the session is not a sweep (it has no sweep/plan.json)")

// LoadPlan reads the session's plan.
func LoadPlan(sess *sessions.Session) (*Plan, error) {
	b, err := sess.ReadAux(planFile)
	if err != nil {
		if errors.Is(err, sessions.ErrNotFound) {
			return nil, ErrNoPlan
		}
		return nil, err
	}
	var pl Plan
	if err := json.Unmarshal(b, &pl); err != nil {
		return nil, fmt.Errorf("session %s: sweep/plan.json: %w", sess.Name(), err)
	}
	if pl.Format != PlanFormat {
		return nil, fmt.Errorf("session %s: sweep/plan.json has format %q, not %q", sess.Name(), pl.Format, PlanFormat)
	}
	if pl.Version > PlanVersion {
		return nil, &sessions.NewerVersionError{What: sess.Name() + "/sweep/plan.json", Version: pl.Version}
	}
	return &pl, nil
}

// Select returns the runs named by only (run names such as "mea@lr=1e-3",
// directory names such as "r3-mea_lr1e-3", or array indices as "#2"),
// in grid order. Unknown names are an error listing the valid ones.
func (pl *Plan) Select(only []string) ([]Run, error) {
	return Select(pl.Runs, only)
}

// Select is Plan.Select for any list of runs.
func Select(runs []Run, only []string) ([]Run, error) {
	want := map[int]bool{}
	for _, o := range only {
		for _, name := range strings.Split(o, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			found := false
			for _, r := range runs {
				if r.Name == name || r.Dir == name || fmt.Sprintf("#%d", r.Index) == name {
					want[r.Index], found = true, true
				}
			}
			if !found {
				var names []string
				for _, r := range runs {
					names = append(names, r.Name)
				}
				return nil, fmt.Errorf("--only %s: no such run; the runs are %s", name, strings.Join(names, ", "))
			}
		}
	}
	if len(want) == 0 {
		return nil, errors.New("--only: no run named; give run names, e.g. --only mha,mea")
	}
	var out []Run
	for _, r := range runs {
		if want[r.Index] {
			out = append(out, r)
		}
	}
	return out, nil
}

// GridRuns numbers specs as a sweep does (for --only without a plan).
func GridRuns(specs []trainer.RunSpec) []Run {
	var out []Run
	for i, s := range specs {
		id := trainer.RunID(i + 1)
		out = append(out, Run{Index: i, ID: id, Name: s.Name, Dir: record.DirName(id, s.Name), Spec: s})
	}
	return out
}
