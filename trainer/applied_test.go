package trainer

import (
	"testing"

	"github.com/mealab/mealab/model"
)

// TestSpecKeepsInitialAndApplied: surgery by schedule and by hand is listed
// in the run's spec with its step, the model the run started with is kept,
// and forks and restarts start with a clean record (presets.Format writes a
// lab back as a preset from these).
func TestSpecKeepsInitialAndApplied(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	spec := tinySpec("m", "mea", 0)
	spec.Sched.Total = 6
	spec.Ops = []ScheduledOp{{Step: 2, Op: model.Op{Kind: model.OpCompress, R: 2}}, {Step: 3, Op: model.Op{Kind: model.OpCompress, R: 1}, Fork: true}}
	id, err := l.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitFinished(t, l)
	var got, child RunInfo
	for _, r := range l.Runs() {
		switch {
		case r.ID == id:
			got = r
		case r.Parent == id:
			child = r
		}
	}
	s := got.Spec
	if s.Initial == nil || s.Initial.KV(0) != 4 || s.Model.KV(0) != 2 {
		t.Fatalf("initial %+v, model %+v", s.Initial, s.Model)
	}
	if len(s.Applied) != 2 || s.Applied[0].String() != spec.Ops[0].String() || s.Applied[1].Step != 3 || !s.Applied[1].Fork {
		t.Fatalf("applied %+v", s.Applied)
	}
	if child.Name != "m>svd1" || child.Spec.Initial != nil || len(child.Spec.Applied) != 0 {
		t.Fatalf("fork %s: %+v %+v", child.Name, child.Spec.Initial, child.Spec.Applied)
	}
	nid, err := l.Restart(id, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range l.Runs() {
		if r.ID == nid && (r.Spec.Initial != nil || len(r.Spec.Applied) != 0) {
			t.Fatalf("restart keeps its parent's record: %+v", r.Spec)
		}
	}
}
