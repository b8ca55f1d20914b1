package trainer

import (
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mealab/mealab/model"
)

// fakeEngine stands in for a GPU: it trains its own copy of the model on
// the host and counts what is copied back, so tests see what a device run
// costs and what happens after it is closed.
type fakeEngine struct {
	mu        sync.Mutex
	m         *model.Model[float32]
	opt       *model.AdamW[float32]
	closed    bool
	failCopy  error    // returned by Download when set
	downloads []string // "all" (weights + moments), "params N" (a range)
}

func (e *fakeEngine) Step(x, y []int32, B, T int, lr, clip float64, opt model.AdamWConfig) (float64, float64, float64, error) {
	if e.closed {
		return 0, 0, 0, errors.New("fake device: closed")
	}
	loss, err := e.m.Forward(x, y, B, T)
	if err != nil {
		return 0, 0, 0, err
	}
	e.m.ZeroGrad()
	e.m.Backward(1)
	gn := model.ClipGrads(e.m.Grads, clip)
	e.opt.Step(e.m.Params, e.m.Grads, lr)
	return loss, gn, e.m.MaxLogit, nil
}

func (e *fakeEngine) Eval(x, y []int32, B, T int, logits []float32) (float64, error) {
	if e.closed {
		return 0, errors.New("fake device: closed")
	}
	return e.m.Forward(x, y, B, T)
}

func (e *fakeEngine) Download(params, m, v []float32) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.downloads = append(e.downloads, "all")
	if e.failCopy != nil {
		return 0, e.failCopy
	}
	copy(params, e.m.Params)
	copy(m, e.opt.M)
	copy(v, e.opt.V)
	return e.opt.Steps, nil
}

func (e *fakeEngine) DownloadParams(dst []float32, off int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.downloads = append(e.downloads, "params")
	copy(dst, e.m.Params[off:])
	return nil
}

func (e *fakeEngine) AttentionProbs(l, b, h int) ([]float64, int, error) {
	p, T := e.m.AttentionProbs(l, b, h)
	if p == nil {
		return nil, 0, errors.New("fake device: no forward pass yet")
	}
	return p, T, nil
}

func (e *fakeEngine) Close() error { e.closed = true; return nil }

func (e *fakeEngine) copies() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.downloads)
}

// withFakeDevice makes device "cuda" a fakeEngine for the test; made
// collects the engines created.
func withFakeDevice(t *testing.T) (made func() []*fakeEngine) {
	var mu sync.Mutex
	var all []*fakeEngine
	old, had := engines["cuda"]
	engines["cuda"] = func(cfg model.Config, params, m, v []float32, optSteps int64) (Engine, error) {
		gm, err := model.New[float32](cfg, model.Naive{})
		if err != nil {
			return nil, err
		}
		copy(gm.Params, params)
		o := model.NewAdamW[float32](model.DefaultAdamW(), gm.Layout)
		copy(o.M, m)
		copy(o.V, v)
		o.Steps = optSteps
		e := &fakeEngine{m: gm, opt: o}
		mu.Lock()
		all = append(all, e)
		mu.Unlock()
		return e, nil
	}
	t.Cleanup(func() {
		if had {
			engines["cuda"] = old
		} else {
			delete(engines, "cuda")
		}
	})
	return func() []*fakeEngine {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(all)
	}
}

// sinkLog records what a lab's sink and checkpoint hook see.
type sinkLog struct {
	mu    sync.Mutex
	ups   []Update
	ckpts []RunState
}

func (s *sinkLog) sink(u Update) { s.mu.Lock(); s.ups = append(s.ups, u); s.mu.Unlock() }
func (s *sinkLog) checkpoint(st RunState) {
	s.mu.Lock()
	s.ckpts = append(s.ckpts, st)
	s.ups = append(s.ups, ckptMark{st.ID, st.Step})
	s.mu.Unlock()
}

// ckptMark stands for a checkpoint in the order of the sink's updates.
type ckptMark struct {
	id   RunID
	step int
}

func (c ckptMark) RunOf() RunID      { return c.id }
func (s *sinkLog) updates() []Update { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.ups) }

// TestRemoveStopsAtOnce: a run removed while the others train makes no
// further step, event or checkpoint after Remove returns, on the CPU and
// on a device (where the old code trained one more step on the closed
// device, failed, and wrote a checkpoint). The removed run is the last of
// its round, where the old loop still stepped it; the trials make a pass
// by luck impossible.
func TestRemoveStopsAtOnce(t *testing.T) {
	withFakeDevice(t)
	for _, device := range []string{"cpu", "cuda"} {
		for trial := 0; trial < 6; trial++ {
			var log sinkLog
			l := NewLab(Options{Sink: log.sink, OnCheckpoint: log.checkpoint, CheckpointEvery: 1})
			var ids []RunID
			for i := 0; i < 4; i++ {
				s := tinySpec("r", "mha", 0)
				s.Model.Layers, s.Model.Width, s.Model.MLP, s.Batch, s.EvalEvery = 1, 16, 32, 1, 0
				s.Sched.Total = 1 << 20
				s.Device = device
				id, err := l.Add(s)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			gone := ids[3]
			waitFor(t, l, "steps", func() bool { return runInfo(l, gone).Step >= 2 })
			if err := l.Remove(gone); err != nil {
				t.Fatal(err)
			}
			// Let the others make a few more steps: an extra step of the
			// removed run would have happened by then.
			at := runInfo(l, ids[0]).Step
			waitFor(t, l, "steps after the removal", func() bool { return runInfo(l, ids[0]).Step >= at+3 })
			l.Close()
			removedAt := -1
			for i, u := range log.updates() {
				if e, ok := u.(Event); ok && e.Run == gone && e.Kind == "removed" {
					removedAt = i
					continue
				}
				if removedAt >= 0 && u.RunOf() == gone {
					t.Fatalf("%s trial %d: the sink got %T %+v of the removed run after its removal", device, trial, u, u)
				}
			}
			if removedAt < 0 {
				t.Fatalf("%s: no removed event reached the sink", device)
			}
			if _, ok := l.History(gone); ok || slices.ContainsFunc(l.Runs(), func(r RunInfo) bool { return r.ID == gone }) {
				t.Fatalf("%s: the removed run is still listed", device)
			}
		}
	}
}

// TestSnapshotRefusesStaleWeights: when the device's weights cannot be
// copied back, no checkpoint is written (the old code wrote the host's
// stale weights) and the error is reported.
func TestSnapshotRefusesStaleWeights(t *testing.T) {
	made := withFakeDevice(t)
	var log sinkLog
	l := NewLab(Options{Sink: log.sink, OnCheckpoint: log.checkpoint})
	defer l.Close()
	s := tinySpec("g", "mha", 0)
	s.Device, s.Sched.Total, s.EvalEvery = "cuda", 1<<20, 0
	id, err := l.Add(s)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, l, "steps", func() bool { return runInfo(l, id).Step >= 2 })
	e := made()[0]
	e.mu.Lock()
	e.failCopy = errors.New("fake device: copy failed")
	e.mu.Unlock()
	if _, err := l.Snapshot(id); err == nil || !strings.Contains(err.Error(), "copy failed") {
		t.Fatalf("Snapshot with a failing device copy: %v, want the error", err)
	}
	if err := l.Pause(id); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	n := len(log.ckpts)
	log.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d checkpoints written from stale weights", n)
	}
	saw := false
	for _, u := range log.updates() {
		if ev, ok := u.(Event); ok && ev.Kind == "error" && strings.Contains(ev.Detail, "checkpoint skipped") {
			saw = true
		}
	}
	if !saw {
		t.Error("no error event says the checkpoint was skipped")
	}
}

// TestHeadsViewCopiesOnlyWhatItShows: on a device run the Heads view
// copies the two mixing matrices and one head's attention map, never the
// whole model with its AdamW moments (which stalled every run), and shows
// the device's values.
func TestHeadsViewCopiesOnlyWhatItShows(t *testing.T) {
	made := withFakeDevice(t)
	l := NewLab(Options{})
	defer l.Close()
	s := tinySpec("g", "mea", 2)
	s.Device, s.Sched.Total = "cuda", 1<<20
	id, err := l.Add(s)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, l, "steps", func() bool { return runInfo(l, id).Step >= 2 })
	if err := l.Pause(id); err != nil {
		t.Fatal(err)
	}
	e := made()[0]
	before := len(e.copies())
	for i := 0; i < 3; i++ {
		mx, err := l.Mixing(id, 1)
		if err != nil {
			t.Fatal(err)
		}
		want, _, _, _, _ := e.m.Mixing(1)
		for k := range want {
			if mx.K[k] != want[k] {
				t.Fatalf("mixing K[%d] = %v, the device has %v", k, mx.K[k], want[k])
			}
		}
		p, T, toks, err := l.AttentionMap(id, 1, 2)
		if err != nil || T != 32 || len(toks) != T {
			t.Fatalf("attention map: T=%d tokens=%d err=%v", T, len(toks), err)
		}
		wantP, _ := e.m.AttentionProbs(1, 0, 2)
		for k := range wantP {
			if math.Abs(p[k]-wantP[k]) > 0 {
				t.Fatalf("attention[%d] = %v, the device has %v", k, p[k], wantP[k])
			}
		}
	}
	for _, c := range e.copies()[before:] {
		if c == "all" {
			t.Fatalf("the heads view copied the whole model and its AdamW moments: %v", e.copies()[before:])
		}
	}
}
