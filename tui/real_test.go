package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/mealab/mealab/cpu"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
)

// TestRealLab drives the UI against a real trainer.Lab on the quick preset:
// pulled changes fill the table, a key press compresses a run's KV heads, and
// the chart and KV panel show it. It waits only on channels, with a
// deadline.
func TestRealLab(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a real model")
	}
	p, err := presets.Load("quick")
	if err != nil {
		t.Fatal(err)
	}
	// Enough steps that nothing finishes while the test operates on it.
	ex, err := p.Expand(presets.Options{Overrides: []presets.Setting{{Key: "steps", Value: "2000"}, {Key: "eval_every", Value: "5"}, {Key: "sample_every", Value: "5"}}})
	if err != nil {
		t.Fatal(err)
	}
	specs := ex.Runs
	lab := trainer.NewLab(trainer.Options{Compute: cpu.Compute{}})
	defer lab.Close()
	for _, s := range specs {
		if _, err := lab.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	m := New(lab, Options{NoColor: true, Title: "quick"})
	m.Update(tea.WindowSizeMsg{Width: 100, Height: 30})
	deadline := time.After(20 * time.Second)
	// pump pulls as the UI's tick would, but as soon as the lab changed.
	pump := func(what string, done func() bool) {
		t.Helper()
		for {
			m.Update(exec(t, pull(lab, m.cursor)))
			if done() {
				return
			}
			if m.closed {
				t.Fatalf("the lab closed while waiting for %s", what)
			}
			select {
			case <-lab.Changed(m.cursor.Version):
			case <-deadline:
				t.Fatalf("timed out waiting for %s; screen:\n%s", what, frame(t, m))
			}
		}
	}
	m.Update(exec(t, pull(lab, m.cursor)))
	mha := m.st.order[0]
	pump("steps", func() bool { return m.st.runs[mha].info.Step >= 3 && len(m.st.runs[mha].evals) >= 1 })
	if s := frame(t, m); !strings.Contains(s, "mha") || !strings.Contains(s, "running") {
		t.Fatalf("table missing:\n%s", s)
	}

	// Compress mha's KV heads to 1, in place.
	keys(t, m, "s", "1", "enter")
	if m.dlg != nil || m.statusErr {
		t.Fatalf("surgery failed: dialog %+v, status %q", m.dlg, m.status)
	}
	pump("the surgery event and the new KV size", func() bool {
		r := m.st.runs[mha]
		has := false
		for _, e := range r.events {
			has = has || e.Kind == "surgery"
		}
		return has && r.info.KVBytesPerToken == 256
	})
	pump("a step after the surgery", func() bool {
		return m.st.runs[mha].info.Step >= m.st.runs[mha].events[len(m.st.runs[mha].events)-1].Step+2
	})
	over := frame(t, m)
	if !strings.Contains(over, "S@") || !strings.Contains(over, "compress 1") || !strings.Contains(over, "256 B") {
		t.Errorf("the overview does not show the surgery:\n%s", over)
	}
	keys(t, m, "2")
	pump("a sample after the surgery", func() bool {
		s, ok := m.st.runs[mha].lastSample()
		return ok && s.FormulaBytes == 256*int64(s.CacheTokens)
	})
	kv := frame(t, m)
	if !strings.Contains(kv, "saves 75%") || !strings.Contains(kv, "✓") || strings.Contains(kv, "MISMATCH") {
		t.Errorf("the KV panel does not show the saving and an agreeing sample:\n%s", kv)
	}

	// The Heads tab reads the mixing matrices the compression made.
	msg := keys(t, m, "3")
	if h, ok := msg.(headsMsg); !ok || h.mixErr != nil || h.attnErr != nil {
		t.Fatalf("heads poll: %T %+v", msg, msg)
	}
	if s := frame(t, m); !strings.Contains(s, "W_lc^K  h'=1 → H=4") || !strings.Contains(s, "Attention of head 0") {
		t.Errorf("heads tab:\n%s", s)
	}

	// Pause from the keyboard; the state change comes back on the stream.
	keys(t, m, "1", "p")
	pump("the pause", func() bool { return m.st.runs[mha].info.State == trainer.Paused })

	lab.Close()
	m.Update(exec(t, pull(lab, m.cursor)))
	if !m.closed || !strings.Contains(frame(t, m), "the lab has closed") {
		t.Error("the closed lab is not shown")
	}
}

// addRuns starts a group through trainer.Lab.AddAll: its replicas take their
// first step in the same round, so once the lab closes (it ends the round
// in progress) every replica is at the same step.
func TestAddRunsStartsTogether(t *testing.T) {
	if testing.Short() {
		t.Skip("trains a real model")
	}
	spec, err := presets.Build("g", []presets.Setting{{Key: "layers", Value: "1"}, {Key: "width", Value: "32"},
		{Key: "context", Value: "32"}, {Key: "batch", Value: "2"}, {Key: "steps", Value: "100000"}, {Key: "eval_every", Value: "0"}, {Key: "sample_every", Value: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	specs, err := presets.Replicate([]trainer.RunSpec{spec}, 3)
	if err != nil {
		t.Fatal(err)
	}
	lab := trainer.NewLab(trainer.Options{Compute: cpu.Compute{}})
	first, err := addRuns(lab, specs)
	if err != nil || first == 0 {
		t.Fatalf("addRuns: %v %v", first, err)
	}
	deadline := time.After(20 * time.Second)
	for v := uint64(0); ; {
		rs := lab.Runs()
		if len(rs) == 3 && rs[2].Step >= 5 {
			break
		}
		select {
		case <-lab.Changed(v):
			v = lab.Version()
		case <-deadline:
			t.Fatal("the runs did not step")
		}
	}
	lab.Close()
	rs := lab.Runs()
	if rs[0].Step != rs[1].Step || rs[1].Step != rs[2].Step {
		t.Errorf("replicas stopped at steps %d, %d, %d; want one step", rs[0].Step, rs[1].Step, rs[2].Step)
	}
}
