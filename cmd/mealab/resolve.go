package main

import (
	"fmt"
	"io"

	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
)

// resolve finds the preset --preset names (a file path, a user preset or a
// built-in one: presets.Resolve), applies --set, --data, --steps and
// --device as overrides and expands it with presets' one expansion. Notes
// for the person (a user file shadowing a built-in preset, runs renamed by
// an override, identical runs) are kept in f.notes.
func (f *runFlags) resolve() (*presets.Preset, []trainer.RunSpec, error) {
	p, note, err := presets.Resolve(f.preset)
	if err != nil {
		return nil, nil, usageError{err.Error()}
	}
	if note != "" {
		f.notes = append(f.notes, note)
	}
	if f.maxRuns < 1 {
		return nil, nil, usagef("--max-runs %d: give a positive number", f.maxRuns)
	}
	over := append([]presets.Setting(nil), f.sets...)
	if f.data != "" {
		over = append(over, presets.Setting{Key: "data", Value: f.data})
	}
	if f.given["steps"] {
		over = append(over, presets.Setting{Key: "steps", Value: fmt.Sprint(f.steps)})
	}
	if f.seeds > 0 {
		over = append(over, presets.Setting{Key: "seeds", Value: fmt.Sprint(f.seeds)})
	}
	if f.device != "" {
		st, err := presets.ParseSet("device=" + f.device)
		if err != nil {
			return nil, nil, usagef("--device %s: use cpu or cuda", f.device)
		}
		over = append(over, st)
	}
	if p.NeedsData && f.data == "" && !hasSet(f.sets, "data") {
		return nil, nil, usagef("preset %s trains on a text file: add --data FILE (%s)", p.Name, dataHint)
	}
	ex, err := p.Expand(presets.Options{Overrides: over, MaxRuns: f.maxRuns})
	if err != nil {
		return nil, nil, usageError{err.Error()}
	}
	f.notes = append(f.notes, ex.Notes...)
	return p, ex.Runs, nil
}

func printNotes(w io.Writer, notes []string) {
	for _, n := range notes {
		fmt.Fprintf(w, "mealab: warning: %s\n", n)
	}
}
