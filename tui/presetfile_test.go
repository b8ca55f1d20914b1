package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mealab/mealab/cpu"
	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
)

// TestSavePreset: S writes the lab's runs as they are (an in-place
// compression by hand, a fork by hand) into the user's presets directory,
// and the file re-runs them: initial models, surgery as `at =` lines, the
// fork left to its parent's line.
func TestSavePreset(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a real model")
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	p, err := presets.Load("quick")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := p.Expand(presets.Options{Overrides: []presets.Setting{{Key: "steps", Value: "400"}, {Key: "sample_every", Value: "0"}}})
	if err != nil {
		t.Fatal(err)
	}
	lab := trainer.NewLab(trainer.Options{Compute: cpu.Compute{}})
	defer lab.Close()
	var ids []trainer.RunID
	for _, s := range ex.Runs {
		id, err := lab.Add(s)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// Surgery after some training, as a person would do it.
	deadline := time.Now().Add(time.Minute)
	for ready := false; !ready; {
		ready = true
		for _, in := range lab.Runs() {
			ready = ready && in.Step >= 3
		}
		if time.Now().After(deadline) {
			t.Fatal("runs did not train")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, bounded by the deadline
	}
	if _, err := lab.Apply(ids[1], model.Op{Kind: model.OpCompress, R: 2}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Apply(ids[0], model.Op{Kind: model.OpToGQA, R: 2}, true); err != nil {
		t.Fatal(err)
	}
	steps := map[string]int{}
	for _, in := range lab.Runs() {
		if len(in.Spec.Applied) > 0 {
			steps[in.Name] = in.Spec.Applied[0].Step
		}
	}
	// An LR changed by hand: the preset cannot schedule it, so the file
	// says so in a note (and keeps the LR the run has now).
	if err := lab.SetLR(ids[1], 1e-2); err != nil {
		t.Fatal(err)
	}
	m := New(lab, Options{NoColor: true, Title: "quick"})
	m.Update(pull(lab, m.cursor)())
	_, cmd := m.Update(press("S"))
	msg := exec(t, cmd)
	m.Update(msg)
	if a, ok := msg.(actionMsg); !ok || a.err != nil || !strings.Contains(m.status, "saved the lab as preset quick-lab-") {
		t.Fatalf("S: %#v, status %q", msg, m.status)
	}
	files, _ := filepath.Glob(filepath.Join(presets.UserDir(), "quick-lab-*.preset"))
	if len(files) != 1 {
		t.Fatalf("files %v", files)
	}
	text, _ := os.ReadFile(files[0])
	s := string(text)
	for _, want := range []string{
		fmt.Sprintf("[run mha]\nvariant = mha\nlr = 3e-3\nat = %d gqa 2 fork\n", steps["mha"]),
		fmt.Sprintf("[run mea]\nvariant = mea\nlr = 1e-2\nat = %d compress 2\n", steps["mea"]),
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
	if !strings.Contains(s, "# note: run mea: its learning rate was changed by hand (step ") || !strings.Contains(s, "lr 3.0e-03 -> 1.0e-02), which a preset cannot schedule; it is written with lr = 1e-2") {
		t.Errorf("no note of the LR changed by hand in\n%s", s)
	}
	if !strings.Contains(m.status, "note(s) in the file") {
		t.Errorf("status %q does not point at the notes", m.status)
	}
	if strings.Contains(s, "[run mha>gqa2]") {
		t.Errorf("the fork is its parent's fork line, not a run:\n%s", s)
	}
	// The saved preset resolves by name (as `--preset NAME` would) and
	// expands to the runs as they started, with their surgery scheduled.
	name := strings.TrimSuffix(filepath.Base(files[0]), ".preset")
	q, _, err := presets.Resolve(name)
	if err != nil {
		t.Fatal(err)
	}
	back, err := q.Expand(presets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Runs) != 2 || back.Runs[1].Model.KVHeads != 4 || len(back.Runs[1].Ops) != 1 || back.Runs[1].Ops[0].Op.Kind != model.OpCompress || !back.Runs[0].Ops[0].Fork {
		t.Fatalf("re-run: %+v", back.Runs)
	}
	// The picker lists it as the user's.
	names, descs := presetChoices(nil, false)
	found := false
	for i, n := range names {
		found = found || (n == name && strings.HasPrefix(descs[i], "yours: "))
	}
	if !found {
		t.Errorf("picker: %v %v", names, descs)
	}
	// A UI told to keep off preset files (the classroom server) neither
	// lists the user's file nor expands it by name, and refuses to save.
	names, _ = presetChoices(nil, true)
	for _, n := range names {
		if n == name {
			t.Errorf("a built-in-only picker listed the user's preset %s", n)
		}
	}
	if _, err := expandForLab(name, nil, true); err == nil {
		t.Errorf("a built-in-only lab expanded the user's preset %s", name)
	}
}

func TestPresetBase(t *testing.T) {
	for in, want := range map[string]string{
		"quick": "quick-lab", "quick · session demo": "quick-lab", "./exp/kv-lr.preset": "kv-lr-lab",
		"": "lab", "Ünïcode exp": "n-code-exp-lab",
	} {
		if got := presetBase(in); got != want {
			t.Errorf("presetBase(%q) = %q, want %q", in, got, want)
		}
	}
}
