package trainer

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mealab/mealab/model"
)

func tinySpec(name, variant string, kv int) RunSpec {
	c := model.Config{Vocab: 32, Context: 32, Layers: 2, Width: 32, Heads: 4, MLP: 64, Seed: 1}
	if err := c.ApplyVariant(variant, kv); err != nil {
		panic(err)
	}
	return RunSpec{
		Name: name, Model: c, Batch: 4, Clip: 1,
		Sched:    model.Schedule{Peak: 3e-3, Warmup: 5, Total: 40, FloorFrac: 0.1},
		DataSeed: 7, EvalEvery: 20, EvalBatches: 2, SampleEvery: 0,
	}
}

// waitFor waits, on the lab's change notifications and never by sleeping,
// until cond holds, failing after 60 s.
func waitFor(t *testing.T, l *Lab, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(120 * time.Second) // a safety net for a loaded machine under -race
	for {
		v := l.Version()
		if cond() {
			return
		}
		select {
		case <-l.Changed(v):
		case <-deadline:
			t.Fatalf("%s: not within 120 s", what)
		}
	}
}

// waitFinished waits until every run has finished and returns everything
// the runs reported, in the lab's order, flattened.
func waitFinished(t *testing.T, l *Lab) []Update {
	t.Helper()
	waitFor(t, l, "every run finishing", l.AllFinished)
	var got []Update
	for _, rc := range l.Since(Cursor{}).Runs {
		got = append(got, rc.Updates()...)
	}
	return got
}

func losses(t *testing.T, l *Lab, id RunID) []float64 {
	h, ok := l.History(id)
	if !ok {
		t.Fatalf("no history for run %d", id)
	}
	var out []float64
	for _, p := range h.Points {
		out = append(out, p.Loss)
	}
	return out
}

func TestLabDeterministicAndLockStep(t *testing.T) {
	run := func() ([]float64, []float64) {
		l := NewLab(Options{})
		defer l.Close()
		a, err := l.Add(tinySpec("mha", "mha", 0))
		if err != nil {
			t.Fatal(err)
		}
		b, err := l.Add(tinySpec("mea", "mea", 2))
		if err != nil {
			t.Fatal(err)
		}
		waitFinished(t, l)
		return losses(t, l, a), losses(t, l, b)
	}
	a1, b1 := run()
	a2, b2 := run()
	if len(a1) != 40 || len(b1) != 40 {
		t.Fatalf("got %d and %d points, want 40 each", len(a1), len(b1))
	}
	for i := range a1 {
		if a1[i] != a2[i] || b1[i] != b2[i] {
			t.Fatalf("step %d: losses differ between identical labs: %v/%v, %v/%v", i+1, a1[i], a2[i], b1[i], b2[i])
		}
	}
	if !(a1[39] < a1[0]) || !(b1[39] < b1[0]) {
		t.Errorf("loss did not fall: mha %.3f -> %.3f, mea %.3f -> %.3f", a1[0], a1[39], b1[0], b1[39])
	}
}

func TestLabSameBatchesAcrossRuns(t *testing.T) {
	// Two identical runs in one lab must produce identical curves: they see
	// the same batches in the same order.
	l := NewLab(Options{})
	defer l.Close()
	a, _ := l.Add(tinySpec("a", "mea", 0))
	b, _ := l.Add(tinySpec("b", "mea", 0))
	waitFinished(t, l)
	la, lb := losses(t, l, a), losses(t, l, b)
	for i := range la {
		if la[i] != lb[i] {
			t.Fatalf("step %d: %v vs %v", i+1, la[i], lb[i])
		}
	}
}

func TestLabDivergenceStopsOnlyThatRun(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	bad := tinySpec("hot", "mha", 0)
	bad.Sched.Peak = 50 // absurd LR, no clipping: the run must blow up
	bad.Sched.Warmup = 0
	bad.Clip = 0
	good := tinySpec("ok", "mha", 0)
	ib, _ := l.Add(bad)
	ig, _ := l.Add(good)
	ups := waitFinished(t, l)
	info := map[RunID]RunInfo{}
	for _, r := range l.Runs() {
		info[r.ID] = r
	}
	if info[ib].State != Diverged || info[ib].DivergedAt == 0 || info[ib].Reason == "" {
		t.Fatalf("hot run: state %v at %d (%q); want diverged with a step and reason", info[ib].State, info[ib].DivergedAt, info[ib].Reason)
	}
	if info[ig].State != Done || info[ig].Step != 40 {
		t.Fatalf("healthy run: state %v step %d; want done at 40", info[ig].State, info[ig].Step)
	}
	saw := false
	for _, u := range ups {
		if e, ok := u.(Event); ok && e.Kind == "diverged" && e.Run == ib {
			saw = true
		}
	}
	if !saw {
		t.Error("no divergence event on the stream")
	}
}

func TestLabPauseResumeSetLR(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	spec := tinySpec("p", "mha", 0)
	spec.Sched.Total = 100000
	id, _ := l.Add(spec)
	if err := l.Pause(id); err != nil {
		t.Fatal(err)
	}
	s1 := l.Runs()[0].Step
	// A paused run makes no step even while another trains.
	other := spec
	other.Name = "q"
	oid, _ := l.Add(other)
	waitFor(t, l, "the other run stepping", func() bool { return runInfo(l, oid).Step >= 3 })
	if s2 := l.Runs()[0].Step; s2 != s1 {
		t.Fatalf("paused run moved from step %d to %d", s1, s2)
	}
	if err := l.Remove(oid); err != nil {
		t.Fatal(err)
	}
	if err := l.SetLR(id, 1e-3); err != nil {
		t.Fatal(err)
	}
	if err := l.SetLR(id, -1); err == nil {
		t.Fatal("negative LR accepted")
	}
	if err := l.Resume(id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, l, "steps after resume", func() bool { return l.Runs()[0].Step > s1+2 })
	r := l.Runs()[0]
	if r.Step <= s1+2 || r.LR != 1e-3 {
		t.Fatalf("after resume: step %d (was %d), lr %g", r.Step, s1, r.LR)
	}
	if err := l.Stop(id); err != nil {
		t.Fatal(err)
	}
	if err := l.Resume(id); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("resuming a stopped run: %v", err)
	}
	if err := l.Remove(id); err != nil || len(l.Runs()) != 0 {
		t.Fatalf("remove: %v, %d runs left", err, len(l.Runs()))
	}
}

func TestRunSpecValidation(t *testing.T) {
	s := tinySpec("x", "mha", 0)
	s.Batch = 0
	s.Sched.Peak = math.NaN()
	s.Model.Width = 30
	err := s.Validate()
	for _, want := range []string{"batch must be positive", "learning rate must be positive", "not divisible"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want it to mention %q", err, want)
		}
	}
	huge := tinySpec("big", "mha", 0)
	huge.Model.Width, huge.Model.Layers, huge.Model.MLP, huge.Model.Vocab = 16384, 64, 65536, 65536
	huge.Batch = 64
	if _, err := NewLab(Options{}).Add(huge); err == nil || !strings.Contains(err.Error(), "GiB") {
		t.Errorf("a model far too large for memory: %v", err)
	}
}

func TestMQARRecallReported(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	s := tinySpec("r", "mha", 0)
	s.Data = DataSpec{Kind: "mqar", Keys: 8, Values: 8}
	s.Model.Vocab = 18
	s.Sched.Total = 10
	s.EvalEvery = 10
	id, err := l.Add(s)
	if err != nil {
		t.Fatal(err)
	}
	waitFinished(t, l)
	h, _ := l.History(id)
	last := h.Evals[len(h.Evals)-1]
	if math.IsNaN(last.Recall) || last.Recall < 0 || last.Recall > 1 {
		t.Fatalf("recall %v, want a fraction", last.Recall)
	}
}

func TestTextData(t *testing.T) {
	if _, err := ParseText("e", nil, 8); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty: %v", err)
	}
	if _, err := ParseText("b", []byte{0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 9, 0}, 2); err == nil || !strings.Contains(err.Error(), "binary") {
		t.Errorf("binary: %v", err)
	}
	if _, err := ParseText("s", []byte("hello world"), 64); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short: %v", err)
	}
	tx, err := ParseText("u", []byte(strings.Repeat("héllo wörld. ", 20)), 8)
	if err != nil {
		t.Fatal(err)
	}
	x, y := make([]int32, 16), make([]int32, 16)
	tx.Val(0, x, y, 2, 8)
	if got := tx.Decode(x[:8]); len([]rune(got)) != 8 {
		t.Errorf("decoded %q, want 8 characters", got)
	}
	for i := 0; i < 7; i++ {
		if y[i] != x[i+1] {
			t.Fatalf("targets are not inputs shifted by one: %v %v", x[:8], y[:8])
		}
	}
}

func TestTinyShakespeare(t *testing.T) {
	path := "../../shared/data/tinyshakespeare.txt"
	if _, err := os.Stat(path); err != nil {
		t.Skip("shared data not present")
	}
	tx, err := LoadText(path, 64)
	if err != nil {
		t.Fatal(err)
	}
	if tx.Vocab() != 65 {
		t.Errorf("tinyshakespeare has %d characters, want 65", tx.Vocab())
	}
}

func TestSyntheticHasLongRangeQueries(t *testing.T) {
	x, y := make([]int32, 4*256), make([]int32, 4*256)
	Synthetic{}.Val(0, x, y, 4, 256)
	text := Synthetic{}.Decode(x)
	if !strings.Contains(text, "what does") || !strings.Contains(text, " has a ") {
		t.Fatalf("synthetic text lacks facts and queries: %q", text[:200])
	}
}

func TestLabMixingAndAttentionMap(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	s := tinySpec("m", "mea", 2)
	s.Sched.Total = 3
	id, _ := l.Add(s)
	waitFinished(t, l)
	mx, err := l.Mixing(id, 1)
	if err != nil || mx.G != 2 || mx.H != 4 || len(mx.K) != 8 || !mx.Learned {
		t.Fatalf("mixing: %+v, %v", mx, err)
	}
	if _, err := l.Mixing(id, 5); err == nil {
		t.Fatal("layer 5 of a 2-layer run accepted")
	}
	p, T, toks, err := l.AttentionMap(id, 0, 3)
	if err != nil || T != 32 || len(p) != T*T || len(toks) != T {
		t.Fatalf("attention map: T=%d len=%d tokens=%d err=%v", T, len(p), len(toks), err)
	}
	for row := 0; row < T; row++ {
		var sum float64
		for u := 0; u < T; u++ {
			sum += p[row*T+u]
			if u > row && p[row*T+u] != 0 {
				t.Fatalf("attention to the future at (%d,%d)", row, u)
			}
		}
		if math.Abs(sum-1) > 1e-5 {
			t.Fatalf("row %d sums to %v", row, sum)
		}
	}
}

func TestResumeIsExact(t *testing.T) {
	spec := tinySpec("r", "mea", 2)
	spec.Sched.Total = 20
	spec.EvalEvery = 0
	// Uninterrupted.
	l := NewLab(Options{})
	id, _ := l.Add(spec)
	waitFinished(t, l)
	want := losses(t, l, id)
	l.Close()
	// Stopped at step 10 by a checkpoint, restored into a fresh lab.
	var saved RunState
	l1 := NewLab(Options{CheckpointEvery: 10, OnCheckpoint: func(s RunState) {
		if s.Step == 10 {
			saved = s
		}
	}})
	id1, _ := l1.Add(spec)
	waitFinished(t, l1)
	h1, _ := l1.History(id1)
	l1.Close()
	if saved.Step != 10 {
		t.Fatalf("no checkpoint at step 10 (got %d)", saved.Step)
	}
	saved.State = Running
	l2 := NewLab(Options{})
	defer l2.Close()
	h1.Points = h1.Points[:10]
	id2, err := l2.Restore(saved, h1, false)
	if err != nil {
		t.Fatal(err)
	}
	waitFinished(t, l2)
	got := losses(t, l2, id2)
	if len(got) != 20 {
		t.Fatalf("restored history has %d points, want 20", len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("step %d: resumed loss %v, uninterrupted %v", i+1, got[i], want[i])
		}
	}
}

func TestCudaDeviceInPureGoBuild(t *testing.T) {
	s := tinySpec("g", "mha", 0)
	s.Device = "cuda"
	l := NewLab(Options{})
	defer l.Close()
	_, err := l.Add(s)
	if gpuBuilt {
		return
	}
	if err == nil || !strings.Contains(err.Error(), "-tags cuda") {
		t.Fatalf("a cuda run in the pure-Go build: %v; want the message saying how to get a CUDA build", err)
	}
}

func runInfo(l *Lab, id RunID) RunInfo {
	for _, r := range l.Runs() {
		if r.ID == id {
			return r
		}
	}
	return RunInfo{}
}

// Runs added while the lab is held start in the same round: a preset's
// runs are never more than one step apart (issue 11: the table showed
// 117/116/114).
func TestHoldStartsRunsTogether(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	if err := l.Hold(); err != nil {
		t.Fatal(err)
	}
	spec := tinySpec("a", "mha", 0)
	spec.Sched.Total = 1 << 20
	a, err := l.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // time enough to step a while, were it not held
	if got := stepOf(l, a); got != 0 {
		t.Fatalf("run stepped to %d while the lab was held", got)
	}
	b, err := l.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, l, "steps after the release", func() bool { return stepOf(l, b) >= 3 })
	l.Close()
	sa, sb := stepOf(l, a), stepOf(l, b)
	if sa == 0 || sa != sb {
		t.Fatalf("after release and Close: steps %d and %d; want both moving and equal (Close ends the round)", sa, sb)
	}
}

func stepOf(l *Lab, id RunID) int {
	for _, r := range l.Runs() {
		if r.ID == id {
			return r.Step
		}
	}
	return -1
}
