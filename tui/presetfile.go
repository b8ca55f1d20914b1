package tui

// Presets as files, from the lab: the picker's list (built-in and user
// presets) and the key that saves the lab's runs as a preset file.

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
)

// presetChoices is what the preset picker lists: only (Options.Presets)
// when given, else every preset presets.List finds, the user's marked as
// such; a built-in preset that a user file shadows is left out (its name
// starts the user's file).
func presetChoices(only []string, builtin bool) (names, descs []string) {
	if builtin && only == nil {
		only = presets.Names()
	}
	if only != nil {
		for _, n := range only {
			d := ""
			if p, err := resolvePreset(n, builtin); err == nil {
				d = p.Description
			}
			names, descs = append(names, n), append(descs, d)
		}
		return names, descs
	}
	for _, e := range presets.List() {
		if e.Shadowed {
			continue
		}
		d := e.Description
		switch {
		case e.Err != nil:
			d = "yours, does not parse: " + e.Err.Error()
		case e.Origin != "built-in":
			d = "yours: " + d
		}
		names, descs = append(names, e.Name), append(descs, d)
	}
	return names, descs
}

// expandForLab resolves a picked preset and expands it with the command
// line's overrides that apply to every run (RUN.key=value named a run of
// the preset the lab started with, not of this one).
func expandForLab(name string, over []presets.Setting, builtin bool) ([]trainer.RunSpec, error) {
	p, err := resolvePreset(name, builtin)
	if err != nil {
		return nil, err
	}
	var global []presets.Setting
	for _, s := range over {
		if s.Run == "" {
			global = append(global, s)
		}
	}
	ex, err := p.Expand(presets.Options{Overrides: global})
	if err != nil {
		return nil, err
	}
	return ex.Runs, nil
}

// resolvePreset finds a preset by name: only among the built-in ones when
// builtin is set (Options.NoPresetFiles), else as presets.Resolve does.
func resolvePreset(name string, builtin bool) (*presets.Preset, error) {
	if builtin {
		return presets.Load(name)
	}
	p, _, err := presets.Resolve(name)
	return p, err
}

// labPreset writes the lab's runs as they are now as preset text
// (presets.Format: initial model, hyperparameters, scheduled and applied
// surgery as `at =` lines; forks come from their parent's fork line).
// lrChanges are the LR changes made by hand per run, from the runs' "lr"
// events (the preset notes them: it cannot schedule them).
func labPreset(lab Lab, name, title string, lrChanges map[trainer.RunID][]string) ([]byte, []string) {
	infos := lab.Runs()
	byID := map[trainer.RunID]string{}
	for _, in := range infos {
		byID[in.ID] = in.Name
	}
	var runs []presets.LabRun
	for _, in := range infos {
		s := in.Spec
		s.Name = in.Name
		runs = append(runs, presets.LabRun{Spec: s, Parent: byID[in.Parent], LRChanges: lrChanges[in.ID]})
	}
	// No parentheses: headers print the description inside some.
	return presets.Format(name, "saved from the lab of "+title, runs)
}

// savePreset is the S key: the lab becomes a file in the user's presets
// directory, named after the experiment and the time, never overwriting.
func (m *Model) savePreset() tea.Cmd {
	lab, title := m.lab, m.opts.Title
	now := time.Now()
	lrs := map[trainer.RunID][]string{}
	for id, r := range m.st.runs {
		for _, e := range r.events {
			if e.Kind == "lr" {
				lrs[id] = append(lrs[id], fmt.Sprintf("step %d: %s", e.Step, e.Detail))
			}
		}
	}
	return func() tea.Msg {
		base := presetBase(title)
		name := base + "-" + now.Format("20060102-150405")
		text, notes := labPreset(lab, name, title, lrs)
		path, err := presets.WriteUser(name, text)
		if err != nil {
			return actionMsg{kind: "save-preset", err: err}
		}
		msg := fmt.Sprintf("saved the lab as preset %s (%s); rerun it with mealab train --preset %s", name, path, name)
		if len(notes) > 0 {
			msg += fmt.Sprintf(" — %d note(s) in the file", len(notes))
		}
		return actionMsg{kind: "save-preset", text: msg}
	}
}

// presetBase turns the lab's title ("quick · session demo", a preset
// file's path) into the start of a preset name: "quick-lab".
func presetBase(title string) string {
	title, _, _ = strings.Cut(title, " · ")
	title = strings.TrimSuffix(filepath.Base(title), ".preset")
	var b strings.Builder
	for _, c := range strings.ToLower(title) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '+':
			b.WriteRune(c)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if len(s) > 40 {
		s = s[:40]
	}
	if s == "" {
		return "lab"
	}
	return s + "-lab"
}
