package trainer

import (
	"strings"
	"testing"

	"github.com/mealab/mealab/model"
)

func mustOps(t *testing.T, texts ...string) []ScheduledOp {
	t.Helper()
	var out []ScheduledOp
	for _, s := range texts {
		so, err := ParseScheduledOp(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, so)
	}
	return out
}

// restorePaused puts a fresh run of spec into l at step 0, paused, without
// the schedule check Add makes (as a session's saved run comes back).
func restorePaused(t *testing.T, l *Lab, spec RunSpec) RunID {
	t.Helper()
	ds, err := spec.Data.Open(spec.Normalized().SeqLen)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRun(1, spec.Normalized(), model.Naive{}, ds)
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	id, err := l.Restore(st, History{}, true)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func eventsOf(t *testing.T, l *Lab, id RunID, kind string) []Event {
	t.Helper()
	h, ok := l.History(id)
	if !ok {
		t.Fatalf("no history for run %d", id)
	}
	var out []Event
	for _, e := range h.Events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// An operation the run refuses when its step comes is an event with the
// reason, and the operations after it at the same step still happen (they
// used to be skipped without a word).
func TestScheduledRefusalIsAnEventAndTheRestStillRun(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	spec := tinySpec("m", "mha", 0)
	spec.Sched.Total = 8
	spec.EvalEvery = 0
	spec.Ops = mustOps(t, "5 gqa 2", "5 compress 1 fork")
	if err := ValidateSchedule(spec); err != nil {
		t.Fatalf("the schedule is fine for an MHA run: %v", err)
	}
	id := restorePaused(t, l, spec)
	// A person converts the run to MEA before step 5: gqa 2 can no longer
	// apply, compress 1 still can.
	if _, err := l.Apply(id, model.Op{Kind: model.OpToMEA}, false); err != nil {
		t.Fatal(err)
	}
	if err := l.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitFinished(t, l)
	runs := l.Runs()
	if len(runs) != 2 || runs[1].Parent != id || runs[1].Variant != "MEA h'=1" && runs[1].Variant != "HLC h'=1" {
		t.Fatalf("runs %+v; want the compress 1 fork after the refused gqa 2", runs)
	}
	refused := eventsOf(t, l, id, "refused")
	if len(refused) != 1 || refused[0].Step != 5 || !strings.Contains(refused[0].Detail, "gqa 2") ||
		!strings.Contains(refused[0].Detail, "head mixing") {
		t.Fatalf("refused events %+v; want one at step 5 naming gqa 2 and the reason", refused)
	}
	surg := eventsOf(t, l, runs[1].ID, "surgery")
	if len(surg) != 1 || len(surg[0].ErrK) != spec.Model.Layers || len(surg[0].ErrV) != spec.Model.Layers || !(surg[0].ErrK[0] > 0) {
		t.Fatalf("the fork's surgery event %+v; want per-layer K and V errors", surg)
	}
}

// A run that stops before a scheduled step accounts for the operation.
func TestScheduledSkippedWhenTheRunStops(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	spec := tinySpec("m", "mha", 0)
	spec.Ops = mustOps(t, "30 gqa 2 fork", "35 compress 1")
	id := restorePaused(t, l, spec)
	if err := l.Stop(id); err != nil {
		t.Fatal(err)
	}
	sk := eventsOf(t, l, id, "skipped")
	if len(sk) != 2 || !strings.Contains(sk[0].Detail, "30 gqa 2 fork") || !strings.Contains(sk[1].Detail, "35 compress 1") ||
		!strings.Contains(sk[0].Detail, "stopped at step 0") {
		t.Fatalf("skipped events %+v; want both operations, with why", sk)
	}
}

func TestValidateSchedule(t *testing.T) {
	for _, tc := range []struct {
		variant string
		kv      int
		ops     []string
		want    string // "" = accepted
	}{
		{"mha", 0, []string{"600 gqa 2 fork"}, ""},
		{"mea", 0, []string{"600 compress 2 fork"}, ""},
		{"mea", 0, []string{"600 gqa 2 fork"}, "compress it with SVD"},
		{"mha", 0, []string{"5000 gqa 2"}, "ends at step 1000"},
		{"mha", 0, []string{"10 gqa 2", "20 mea"}, ""},                         // GQA can become MEA
		{"mha", 0, []string{"10 mea", "20 gqa 2"}, "(HLC) refuses"},            // in place: the model is MEA by then
		{"mha", 0, []string{"20 gqa 2", "10 mea"}, "(HLC) refuses"},            // checked in step order
		{"mha", 0, []string{"10 mea fork", "20 gqa 2"}, ""},                    // a fork leaves the run as it was
		{"mea", 2, []string{"10 compress 3", "10 grow 5"}, "compress to 1..2"}, // every error is listed
		{"mea", 2, []string{"10 compress 3", "10 grow 5"}, "grow to 2..4"},
	} {
		spec := tinySpec("r", tc.variant, tc.kv)
		spec.Sched.Total = 1000
		spec.Ops = mustOps(t, tc.ops...)
		err := ValidateSchedule(spec)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s %v: refused: %v", tc.variant, tc.ops, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s %v: got %v, want %q", tc.variant, tc.ops, err, tc.want)
		}
		// Add refuses the same schedules.
		if tc.want != "" {
			l := NewLab(Options{})
			if _, err := l.Add(spec); err == nil {
				t.Errorf("%s %v: Add accepted a schedule that cannot run", tc.variant, tc.ops)
			}
			l.Close()
		}
	}
}
