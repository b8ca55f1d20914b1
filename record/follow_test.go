package record

import (
	"testing"
	"time"

	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// TestFollowerSeesWhatALabWrites: two labs (as two array tasks would) write
// one session, one run each, while a follower polls it. The follower sees
// both runs appear and ends with exactly the curves, evaluations, events
// and final states the labs reported, with no warnings.
func TestFollowerSeesWhatALabWrites(t *testing.T) {
	store, err := sessions.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := store.Create("live")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Follow(sess, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Runs()) != 0 {
		t.Fatalf("runs before any writer: %v", f.Runs())
	}
	f.Start()
	defer f.Close()
	type writer struct {
		rec *Recorder
		lab *trainer.Lab
	}
	var ws []writer
	for i, v := range []string{"mha", "mea"} {
		s2, _ := store.Load("live") // each writer has its own handle, as separate processes do
		rec := New(s2)
		l := newLab(rec, 10)
		s := spec(v, v)
		s.Sched.Total = 60
		if _, err := l.AddAs(trainer.RunID(i+1), s); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, writer{rec, l})
	}
	seen := map[trainer.RunID]int{} // points pulled, per run
	deadline := time.After(60 * time.Second)
	for _, w := range ws {
		wait(t, w.lab)
		_ = w.rec.SaveAll(w.lab)
		_ = w.rec.Close()
	}
	// Pull, as a screen does, until both runs are done on the follower's
	// side.
	var tail trainer.Tail
	for {
		ups, _ := tail.Pull(f)
		for _, u := range ups {
			if p, ok := u.(trainer.Point); ok {
				if p.Step != seen[p.Run]+1 {
					t.Fatalf("run %d: point %d after %d", p.Run, p.Step, seen[p.Run])
				}
				seen[p.Run] = p.Step
			}
		}
		done := 0
		for _, in := range f.Runs() {
			if in.State == trainer.Done && in.Step == 60 {
				done++
			}
		}
		if done == 2 && seen[1] == 60 && seen[2] == 60 {
			break
		}
		select {
		case <-time.After(10 * time.Millisecond): // the follower polls files every 10 ms
		case <-deadline:
			t.Fatalf("follower did not see both runs finish: %+v", f.Runs())
		}
	}
	for i, w := range ws {
		id := trainer.RunID(i + 1)
		want, _ := w.lab.History(id)
		got, ok := f.History(id)
		if !ok {
			t.Fatalf("run %d missing", id)
		}
		if len(got.Points) != len(want.Points) || len(got.Evals) != len(want.Evals) || len(got.Samples) != len(want.Samples) {
			t.Fatalf("run %d: follower has %d/%d/%d points/evals/samples, the lab %d/%d/%d", id, len(got.Points), len(got.Evals), len(got.Samples),
				len(want.Points), len(want.Evals), len(want.Samples))
		}
		for j := range want.Points {
			if got.Points[j].Loss != want.Points[j].Loss || got.Points[j].Step != want.Points[j].Step {
				t.Fatalf("run %d point %d: %+v, lab %+v", id, j, got.Points[j], want.Points[j])
			}
		}
		kinds := func(es []trainer.Event) (s []string) {
			for _, e := range es {
				s = append(s, e.Kind)
			}
			return
		}
		if g, w := kinds(got.Events), kinds(want.Events); len(g) != len(w) {
			t.Errorf("run %d events: %v, lab %v", id, g, w)
		}
		w.lab.Close()
	}
	if ws := f.Warnings(); len(ws) > 0 {
		t.Errorf("warnings: %v", ws)
	}
	if _, err := f.Add(spec("x", "mha")); err != ErrReadOnly {
		t.Errorf("Add on a follower: %v", err)
	}
}

// TestFollowerWaitsForTheEndEvent: run.json says done before the last
// buffered lines reach the logs; the follower keeps the run running until
// it has read them, so it never shows "done at step 50 of 60".
func TestFollowerWaitsForTheEndEvent(t *testing.T) {
	store, _ := sessions.Open(t.TempDir())
	sess, _ := store.Create("s")
	s := spec("mha", "mha")
	s.Sched.Total = 2
	meta := RunMeta{ID: 1, Name: "mha", Config: s, State: "running"}
	r, err := sess.CreateRun(DirName(1, "mha"), meta)
	if err != nil {
		t.Fatal(err)
	}
	_ = r.AppendMetric(metricLine{Type: "step", Step: 1, Loss: 3})
	f, err := Follow(sess, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	meta.State = "done"
	if err := r.SaveMeta(meta); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Poll(); err != nil {
		t.Fatal(err)
	}
	if in := f.Runs()[0]; in.State != trainer.Running || in.Step != 1 {
		t.Fatalf("before the last lines: %s at step %d, want running at 1", in.State, in.Step)
	}
	_ = r.AppendMetric(metricLine{Type: "step", Step: 2, Loss: 2})
	_ = r.AppendEvent(eventLine{Event: trainer.Event{Step: 2, Kind: "done"}})
	ups, _ := f.Poll()
	if in := f.Runs()[0]; in.State != trainer.Done || in.Step != 2 {
		t.Fatalf("after them: %s at step %d, want done at 2", in.State, in.Step)
	}
	last, ok := ups[len(ups)-1].(trainer.RunInfo)
	if !ok || last.State != trainer.Done {
		t.Fatalf("the last update is %#v, want the run's info, done", ups[len(ups)-1])
	}
}
