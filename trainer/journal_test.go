package trainer

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// viewer is what a screen keeps: its own copy of every run, updated only
// from Since.
type viewer struct {
	cur  Cursor
	runs map[RunID]*History
	info map[RunID]RunInfo
}

func newViewer() *viewer {
	return &viewer{runs: map[RunID]*History{}, info: map[RunID]RunInfo{}}
}

// pull takes one Since into the viewer and checks the protocol's promises.
func (v *viewer) pull(t testing.TB, src interface{ Since(Cursor) Changes }) Changes {
	ch := src.Since(v.cur)
	if ch.Same {
		return ch
	}
	seen := map[RunID]bool{}
	for _, rc := range ch.Runs {
		id := rc.Info.ID
		seen[id] = true
		h := v.runs[id]
		if h == nil || rc.Reset {
			h = &History{}
			v.runs[id] = h
		}
		for _, p := range rc.Points {
			if n := len(h.Points); n > 0 && p.Step <= h.Points[n-1].Step {
				t.Errorf("run %d: point at step %d after step %d", id, p.Step, h.Points[n-1].Step)
			}
			h.Points = append(h.Points, p)
		}
		h.Evals = append(h.Evals, rc.Evals...)
		h.Events = append(h.Events, rc.Events...)
		h.Samples = append(h.Samples, rc.Samples...)
		v.info[id] = rc.Info
	}
	for id := range v.runs {
		if !seen[id] {
			delete(v.runs, id)
			delete(v.info, id)
		}
	}
	v.cur = ch.Next
	return ch
}

func TestJournalPullIsIncrementalAndExact(t *testing.T) {
	j := NewJournal(0)
	v := newViewer()
	if ch := v.pull(t, j); len(ch.Runs) != 0 {
		t.Fatalf("empty journal: %d runs", len(ch.Runs))
	}
	if ch := j.Since(v.cur); !ch.Same {
		t.Fatal("no change, but Same is not set")
	}
	j.Add(RunInfo{ID: 1, Name: "a"}, History{Points: []Point{{Run: 1, Step: 1}, {Run: 1, Step: 2}}})
	j.Put(Event{Run: 1, Step: 2, Kind: "lr"})
	ch := v.pull(t, j)
	if len(ch.Runs) != 1 || !ch.Runs[0].Reset || len(ch.Runs[0].Points) != 2 || len(ch.Runs[0].Events) != 1 {
		t.Fatalf("first pull: %+v", ch.Runs)
	}
	j.Put(Point{Run: 1, Step: 3})
	j.Put(EvalPoint{Run: 1, Step: 3, ValLoss: 1})
	j.Add(RunInfo{ID: 2, Name: "b"}, History{})
	j.Put(Point{Run: 2, Step: 1})
	ch = v.pull(t, j)
	if len(ch.Runs) != 2 {
		t.Fatalf("second pull lists %d runs, want 2", len(ch.Runs))
	}
	a, b := ch.Runs[0], ch.Runs[1]
	if a.Reset || len(a.Points) != 1 || a.Points[0].Step != 3 || len(a.Evals) != 1 || len(a.Events) != 0 {
		t.Errorf("run a's news: reset %v, %d points, %d evals, %d events; want only step 3 and its eval", a.Reset, len(a.Points), len(a.Evals), len(a.Events))
	}
	if !b.Reset || len(b.Points) != 1 {
		t.Errorf("run b's news: reset %v, %d points", b.Reset, len(b.Points))
	}
	j.Remove(1)
	v.pull(t, j)
	if _, ok := v.runs[1]; ok || len(v.runs) != 1 {
		t.Errorf("after removal the viewer holds %d runs (run 1: %v)", len(v.runs), ok)
	}
	got := RunChanges{Points: []Point{{Step: 1}, {Step: 2}}, Evals: []EvalPoint{{Step: 0}, {Step: 2}},
		Events: []Event{{Step: 0, Kind: "start"}, {Step: 2, Kind: "done"}}, Samples: []Sample{{Step: 2}}}.Updates()
	want := "trainer.EvalPoint@0 trainer.Event@0 trainer.Point@1 trainer.Point@2 trainer.EvalPoint@2 trainer.Sample@2 trainer.Event@2 "
	s := ""
	for _, u := range got {
		step := 0
		switch x := u.(type) {
		case Point:
			step = x.Step
		case EvalPoint:
			step = x.Step
		case Event:
			step = x.Step
		case Sample:
			step = x.Step
		}
		s += fmt.Sprintf("%T@%d ", u, step)
	}
	if s != want {
		t.Errorf("flattened order\n got %s\nwant %s", s, want)
	}
}

// TestJournalBoundsHistory: a long run keeps at most the limit of points,
// the first and the newest quarter exactly, every event, and an even
// spread of the rest; a viewer that pulls all along ends with exactly the
// lab's copy.
func TestJournalBoundsHistory(t *testing.T) {
	const limit = 400
	j := NewJournal(limit)
	j.Add(RunInfo{ID: 1}, History{})
	v := newViewer()
	const steps = 10000
	for s := 1; s <= steps; s++ {
		j.Put(Point{Run: 1, Step: s, Loss: float64(s)})
		if s%100 == 0 {
			j.Put(Event{Run: 1, Step: s, Kind: "lr"})
		}
		if s%37 == 0 {
			v.pull(t, j)
		}
	}
	v.pull(t, j)
	h, _ := j.History(1)
	if len(h.Points) > limit || len(h.Points) < limit/2 {
		t.Fatalf("kept %d points, want between %d and %d", len(h.Points), limit/2, limit)
	}
	if h.Points[0].Step != 1 || h.Points[len(h.Points)-1].Step != steps {
		t.Errorf("first/last kept steps %d/%d, want 1/%d", h.Points[0].Step, h.Points[len(h.Points)-1].Step, steps)
	}
	tail := h.Points[len(h.Points)-limit/4:]
	for i, p := range tail {
		if p.Step != steps-limit/4+1+i {
			t.Fatalf("the newest quarter is not dense: step %d at %d", p.Step, i)
		}
	}
	// The spread is even: gaps never grow towards the newest points, and
	// none is more than twice the even spread of the limit over the run.
	hi := 0
	for i := 1; i < len(h.Points); i++ {
		g := h.Points[i].Step - h.Points[i-1].Step
		if i > 1 && g > h.Points[i-1].Step-h.Points[i-2].Step {
			t.Fatalf("gap of %d steps after a gap of %d at step %d", g, h.Points[i-1].Step-h.Points[i-2].Step, h.Points[i].Step)
		}
		hi = max(hi, g)
	}
	if hi > 2*steps/(limit/2) {
		t.Errorf("a gap of %d steps: the thinned part is not evenly spread", hi)
	}
	if len(h.Events) != steps/100 {
		t.Errorf("kept %d events, want all %d", len(h.Events), steps/100)
	}
	vh := v.runs[1]
	if len(vh.Points) != len(h.Points) || len(vh.Events) != len(h.Events) {
		t.Fatalf("viewer holds %d points and %d events, the journal %d and %d", len(vh.Points), len(vh.Events), len(h.Points), len(h.Events))
	}
	for i := range vh.Points {
		if vh.Points[i] != h.Points[i] {
			t.Fatalf("viewer point %d is %+v, journal %+v", i, vh.Points[i], h.Points[i])
		}
	}
}

// TestSinkGetsEverythingInOrder: the recorder's sink sees every step of
// every run, in order, each run's RunInfo before anything else of it, and
// an evaluation after the step it follows; nothing is coalesced or
// dropped however slow viewers are.
func TestSinkGetsEverythingInOrder(t *testing.T) {
	var log sinkLog
	l := NewLab(Options{Sink: log.sink})
	defer l.Close()
	for _, v := range []string{"mha", "mea"} {
		s := tinySpec(v, v, 0)
		s.Model.Layers, s.Sched.Total, s.EvalEvery = 1, 20, 5
		if _, err := l.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	waitFinished(t, l)
	known := map[RunID]bool{}
	last := map[RunID]int{}
	evals := map[RunID]int{}
	for _, u := range log.updates() {
		id := u.RunOf()
		if _, ok := u.(RunInfo); ok {
			known[id] = true
			continue
		}
		if !known[id] {
			t.Fatalf("%T of run %d before its RunInfo", u, id)
		}
		switch x := u.(type) {
		case Point:
			if x.Step != last[id]+1 {
				t.Fatalf("run %d: step %d after %d", id, x.Step, last[id])
			}
			last[id] = x.Step
		case EvalPoint:
			if x.Step != last[id] {
				t.Fatalf("run %d: evaluation at step %d after point %d", id, x.Step, last[id])
			}
			evals[id]++
		}
	}
	for id, s := range last {
		if s != 20 || evals[id] != 5 {
			t.Errorf("run %d: %d steps and %d evaluations reached the sink, want 20 and 5 (steps 0, 5, ..., 20)", id, s, evals[id])
		}
	}
}

// TestManyViewers: viewers at different speeds (one never reads) all end
// with the whole history, none holds up training, and while the runs
// train side by side every pulled snapshot shows their steps at most one
// apart (the lock-step guarantee: within a round, runs already stepped are
// one ahead). Run it with -race.
func TestManyViewers(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	var specs []RunSpec
	for _, v := range []string{"mha", "mea", "gqa"} {
		s := tinySpec(v, v, 2)
		s.Model.Layers = 1
		s.Sched.Total = 30
		s.EvalEvery = 10
		s.SampleEvery = 15
		s.SampleLen = 4
		specs = append(specs, s)
	}
	ids, err := l.AddAll(specs)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	views := make([]*viewer, 8)
	for i := range views {
		views[i] = newViewer()
		wg.Add(1)
		go func(v *viewer, every time.Duration) {
			defer wg.Done()
			for {
				finished := l.AllFinished() // before the pull: it then holds the end
				ch := v.pull(t, l)
				if !ch.Same && len(ch.Runs) == len(ids) {
					lo, hi := 1<<30, 0
					for _, rc := range ch.Runs {
						if rc.Info.State == Running {
							lo, hi = min(lo, rc.Info.Step), max(hi, rc.Info.Step)
						}
					}
					if hi > lo+1 {
						t.Errorf("running runs at steps %d..%d in one snapshot: %v", lo, hi, stepsOf(ch))
					}
				}
				if ch.Closed || finished {
					return
				}
				if every > 0 {
					select {
					case <-time.After(every):
					case <-l.Changed(v.cur.Version):
					}
				} else {
					<-l.Changed(v.cur.Version)
				}
			}
		}(views[i], time.Duration(i)*time.Millisecond)
	}
	waitFinished(t, l)
	wg.Wait()
	late := newViewer() // arrives at the end, reads once
	late.pull(t, l)
	for _, v := range append(views, late) {
		for _, id := range ids {
			want, _ := l.History(id)
			got := v.runs[id]
			if got == nil || len(got.Points) != 30 || len(got.Evals) != len(want.Evals) || len(got.Events) != len(want.Events) || len(got.Samples) != len(want.Samples) {
				t.Fatalf("a viewer holds %+v of run %d", got, id)
			}
			if v.info[id].Step != 30 || v.info[id].State != Done {
				t.Errorf("a viewer shows run %d at step %d (%v)", id, v.info[id].Step, v.info[id].State)
			}
		}
	}
}

func stepsOf(ch Changes) string {
	s := ""
	for _, rc := range ch.Runs {
		s += fmt.Sprintf("%s %d %v; ", rc.Info.Name, rc.Info.Step, rc.Info.State)
	}
	return s
}

// TestTailPassesEachUpdateOnce: a log reader that pulls now and then gets
// every point once and in order, across the journal's thinning.
func TestTailPassesEachUpdateOnce(t *testing.T) {
	j := NewJournal(64)
	j.Add(RunInfo{ID: 1}, History{})
	var tail Tail
	var got []int
	for s := 1; s <= 1000; s++ {
		j.Put(Point{Run: 1, Step: s})
		if s%50 == 0 {
			j.Put(Event{Run: 1, Step: s, Kind: "lr"})
		}
		if s%13 == 0 || s == 1000 {
			ups, _ := tail.Pull(j)
			for _, u := range ups {
				if p, ok := u.(Point); ok {
					got = append(got, p.Step)
				}
			}
		}
	}
	if len(got) != 1000 {
		t.Fatalf("the tail passed %d points, want 1000", len(got))
	}
	for i, s := range got {
		if s != i+1 {
			t.Fatalf("point %d has step %d", i, s)
		}
	}
}
