package trainer

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/mealab/mealab/model"
)

// Options configures a Lab.
type Options struct {
	// Compute is the backend for float32 training; nil means model.Naive.
	Compute model.Compute
	// Sink, when set, sees every update synchronously on the lab's goroutine,
	// before any coalescing (sessions record through it). It must be quick.
	Sink func(Update)
	// Buffer is the metric channel's capacity (default 256).
	Buffer int
	// OnCheckpoint, when set, receives a run's full state every
	// CheckpointEvery steps and right after head surgery, on the lab's
	// goroutine (sessions write checkpoints through it).
	OnCheckpoint    func(RunState)
	CheckpointEvery int
	// Gate, when set, must grant every training step (gate.go); nil steps
	// at full speed.
	Gate StepGate
}

// Lab owns runs and steps them side by side in lock-step: every running run
// does one step, then the next round starts, so curves that people compare
// were made on the same batches in the same order. All methods are safe to
// call from any goroutine; the runs themselves are touched only by the lab's
// own goroutine.
type Lab struct {
	opts    Options
	cmds    chan func()
	quit    chan struct{}
	stopped chan struct{}
	out     *outbox

	// Owned by the loop goroutine.
	runs   []*run
	nextID RunID
	held   int // > 0: no run steps (see Hold)

	mu    sync.Mutex // guards the snapshot fields below
	infos map[RunID]RunInfo
	order []RunID
	hist  map[RunID]*History
}

// History is everything a run reported so far.
type History struct {
	Points  []Point
	Evals   []EvalPoint
	Events  []Event
	Samples []Sample
}

// NewLab starts a lab's goroutine. Close stops it.
func NewLab(opts Options) *Lab {
	if opts.Compute == nil {
		opts.Compute = model.Naive{}
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 256
	}
	l := &Lab{
		opts:    opts,
		cmds:    make(chan func()),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
		out:     newOutbox(opts.Buffer),
		nextID:  1,
		infos:   map[RunID]RunInfo{},
		hist:    map[RunID]*History{},
	}
	go l.loop()
	go l.out.forward(l.quit)
	return l
}

// Updates is the metric stream. It never blocks training: when the reader
// falls behind, intermediate training points of a run are dropped (the
// latest is kept); evaluations, events, samples and state changes are never
// dropped. It is closed by Close.
func (l *Lab) Updates() <-chan Update { return l.out.ch }

// Close stops the lab's goroutine after the round in progress: every run
// that is stepping in this round takes its step first, so runs stepped
// together stop at the same step (what a table printed after Close shows
// and what a session saved after Close holds).
func (l *Lab) Close() {
	select {
	case <-l.quit:
	default:
		close(l.quit)
	}
	<-l.stopped
}

// exec runs fn on the lab's goroutine and waits for it.
func (l *Lab) exec(fn func() error) error {
	var err error
	done := make(chan struct{})
	select {
	case l.cmds <- func() { err = fn(); close(done) }:
	case <-l.stopped:
		return errors.New("the lab is closed")
	}
	<-done
	return err
}

func (l *Lab) loop() {
	defer close(l.stopped)
	for {
		select {
		case <-l.quit:
			return
		case c := <-l.cmds:
			c()
			continue
		default:
		}
		active := l.active()
		if len(active) == 0 || l.held > 0 {
			select {
			case <-l.quit:
				return
			case c := <-l.cmds:
				c()
			}
			continue
		}
		for _, r := range active {
			if r.state == Running && !l.gatedStep(r) {
				return
			}
			// Commands wait at most one run's step, not a whole round;
			// quitting waits for the round to end (see Close).
			select {
			case c := <-l.cmds:
				c()
			default:
			}
		}
	}
}

func (l *Lab) active() []*run {
	var a []*run
	for _, r := range l.runs {
		if r.state == Running {
			a = append(a, r)
		}
	}
	return a
}

func (l *Lab) find(id RunID) (*run, error) {
	for _, r := range l.runs {
		if r.id == id {
			return r, nil
		}
	}
	return nil, fmt.Errorf("no run %d in this lab", id)
}

// emit records u in the history and sends it on.
func (l *Lab) emit(u Update) {
	if l.opts.Sink != nil {
		l.opts.Sink(u)
	}
	l.mu.Lock()
	h := l.hist[u.RunOf()]
	if h != nil {
		switch v := u.(type) {
		case Point:
			h.Points = append(h.Points, v)
		case EvalPoint:
			h.Evals = append(h.Evals, v)
		case Event:
			h.Events = append(h.Events, v)
		case Sample:
			h.Samples = append(h.Samples, v)
		case RunInfo:
			l.infos[v.ID] = v
		}
	}
	l.mu.Unlock()
	l.out.push(u)
}

func (l *Lab) publishInfo(r *run) { l.emit(r.info()) }

func (l *Lab) step(r *run) {
	p, err := r.trainStep()
	if err != nil {
		l.finish(r, Stopped, "error: "+err.Error())
		return
	}
	l.emit(p)
	for _, e := range r.spikes.observe(p) {
		l.emit(e)
	}
	if why := r.divergence(p); why != "" {
		r.divAt = r.step
		l.finish(r, Diverged, why)
		return
	}
	s := r.spec
	last := r.step >= s.Sched.Total
	if s.EvalEvery > 0 && (r.step%s.EvalEvery == 0 || last) {
		if ep, err := r.evaluate(); err == nil {
			l.emit(ep)
		}
	}
	if s.SampleEvery > 0 && (r.step%s.SampleEvery == 0 || last) {
		if smp, err := r.sample(uint64(r.step)); err == nil {
			l.emit(smp)
		}
	}
	l.runScheduled(r)
	l.checkpointDue(r)
	if last {
		l.finish(r, Done, "")
		return
	}
	l.updateInfo(r)
}

// updateInfo refreshes the table snapshot without sending it (points carry
// the live numbers; state changes are sent by publishInfo).
func (l *Lab) updateInfo(r *run) {
	l.mu.Lock()
	l.infos[r.id] = r.info()
	l.mu.Unlock()
}

func (l *Lab) finish(r *run, s State, why string) {
	r.state, r.reason = s, why
	kind := map[State]string{Done: "done", Stopped: "stop", Diverged: "diverged"}[s]
	detail := why
	if s == Diverged {
		detail = fmt.Sprintf("diverged at step %d: %s", r.step, why)
	}
	l.emit(Event{Run: r.id, Step: r.step, Kind: kind, Detail: detail})
	l.skipScheduled(r)
	l.publishInfo(r)
	l.checkpointNow(r)
}

// checkpointNow hands the run's state to OnCheckpoint (pause, stop, the end
// of a run, surgery).
func (l *Lab) checkpointNow(r *run) {
	if l.opts.OnCheckpoint != nil {
		l.opts.OnCheckpoint(r.snapshot())
	}
}

func (l *Lab) register(r *run) {
	l.runs = append(l.runs, r)
	l.mu.Lock()
	l.order = append(l.order, r.id)
	l.hist[r.id] = &History{}
	l.mu.Unlock()
}

// Add creates a run from spec and starts it.
func (l *Lab) Add(spec RunSpec) (RunID, error) {
	spec = spec.Normalized()
	if err := errors.Join(spec.Validate(), ValidateSchedule(spec)); err != nil {
		return 0, err
	}
	ds, err := spec.Data.Open(spec.SeqLen)
	if err != nil {
		return 0, err
	}
	var id RunID
	err = l.exec(func() error {
		r, err := newRun(l.nextID, spec, l.opts.Compute, ds)
		if err != nil {
			return err
		}
		if r.spec.Name == "" {
			r.spec.Name = fmt.Sprintf("run%d", r.id)
		}
		l.nextID++
		id = r.id
		l.register(r)
		l.publishInfo(r) // first, so that recorders know the run before its events
		l.emit(Event{Run: r.id, Kind: "start", Detail: fmt.Sprintf("%s, %d params, lr %.1e", r.m.Cfg.Variant(), r.m.ParamCount(), spec.Sched.Peak)})
		if spec.EvalEvery > 0 {
			if ep, err := r.evaluate(); err == nil {
				l.emit(ep)
			}
			l.publishInfo(r) // with the starting validation loss
		}
		return nil
	})
	return id, err
}

func (l *Lab) setState(id RunID, to State, kind string) error {
	return l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		if r.state.Finished() {
			return fmt.Errorf("run %s is %s and cannot be %s", r.spec.Name, r.state, map[string]string{"pause": "paused", "resume": "resumed", "stop": "stopped"}[kind])
		}
		if r.state == to {
			return nil
		}
		r.state = to
		l.emit(Event{Run: id, Step: r.step, Kind: kind, Detail: kind})
		if to == Stopped {
			l.skipScheduled(r)
		}
		l.publishInfo(r)
		if to != Running {
			l.checkpointNow(r)
		}
		return nil
	})
}

// Pause holds a run; the others go on.
func (l *Lab) Pause(id RunID) error { return l.setState(id, Paused, "pause") }

// Resume continues a paused run.
func (l *Lab) Resume(id RunID) error { return l.setState(id, Running, "resume") }

// Stop ends a run for good; its history stays.
func (l *Lab) Stop(id RunID) error { return l.setState(id, Stopped, "stop") }

// Remove deletes a run and its history from the lab.
func (l *Lab) Remove(id RunID) error {
	return l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		l.emit(Event{Run: id, Step: r.step, Kind: "removed", Detail: "removed " + r.spec.Name})
		if r.dev != nil {
			_ = r.dev.Close()
		}
		l.runs = slices.DeleteFunc(l.runs, func(r *run) bool { return r.id == id })
		l.mu.Lock()
		delete(l.infos, id)
		delete(l.hist, id)
		l.order = slices.DeleteFunc(l.order, func(x RunID) bool { return x == id })
		l.mu.Unlock()
		return nil
	})
}

// SetLR changes a run's peak learning rate from now on; the schedule's shape
// (warm-up, cosine, floor) is kept.
func (l *Lab) SetLR(id RunID, lr float64) error {
	if !(lr > 0) || math.IsInf(lr, 0) {
		return fmt.Errorf("learning rate must be a positive number, got %g", lr)
	}
	return l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		old := r.spec.Sched.Peak
		r.spec.Sched.Peak = lr
		l.emit(Event{Run: id, Step: r.step, Kind: "lr", Detail: fmt.Sprintf("lr %.1e -> %.1e", old, lr)})
		l.publishInfo(r)
		return nil
	})
}

// Runs returns a snapshot of every run, in the order they were added.
func (l *Lab) Runs() []RunInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]RunInfo, 0, len(l.order))
	for _, id := range l.order {
		out = append(out, l.infos[id])
	}
	return out
}

// History returns a copy of what run id reported so far.
func (l *Lab) History(id RunID) (History, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.hist[id]
	if !ok {
		return History{}, false
	}
	return History{
		Points: slices.Clone(h.Points), Evals: slices.Clone(h.Evals),
		Events: slices.Clone(h.Events), Samples: slices.Clone(h.Samples),
	}, true
}

// AllFinished reports whether no run can step any more (none running or
// paused).
func (l *Lab) AllFinished() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range l.order {
		if !l.infos[id].State.Finished() {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------

// outbox decouples the lab from a slow reader: updates queue here and a
// forwarding goroutine feeds the channel. A queued training point is
// replaced by a newer one of the same run, so the queue stays short.
type outbox struct {
	ch     chan Update
	mu     sync.Mutex
	cond   *sync.Cond
	q      []Update
	closed bool
}

func newOutbox(n int) *outbox {
	o := &outbox{ch: make(chan Update, n)}
	o.cond = sync.NewCond(&o.mu)
	return o
}

func (o *outbox) push(u Update) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if p, ok := u.(Point); ok {
		for i := len(o.q) - 1; i >= 0; i-- {
			if q, ok := o.q[i].(Point); ok && q.Run == p.Run {
				o.q[i] = p
				return
			}
			if _, ok := o.q[i].(RunInfo); ok {
				break // keep order relative to state changes
			}
		}
	}
	o.q = append(o.q, u)
	o.cond.Signal()
}

func (o *outbox) forward(quit <-chan struct{}) {
	go func() {
		<-quit
		o.mu.Lock()
		o.closed = true
		o.cond.Broadcast()
		o.mu.Unlock()
	}()
	defer close(o.ch)
	for {
		o.mu.Lock()
		for len(o.q) == 0 && !o.closed {
			o.cond.Wait()
		}
		if o.closed {
			o.mu.Unlock()
			return
		}
		u := o.q[0]
		o.q = o.q[1:]
		o.mu.Unlock()
		select {
		case o.ch <- u:
		case <-quit:
			return
		}
	}
}

// Mixing is a copy of the KV head-mixing matrices of one layer of a run:
// W_lc^K and W_lc^V (G x H, row-major; learned for HLC/MEA, the fixed
// grouping otherwise).
type Mixing struct {
	K, V    []float64
	G, H    int
	Learned bool
}

// Mixing returns layer's mixing matrices of run id.
func (l *Lab) Mixing(id RunID, layer int) (Mixing, error) {
	var out Mixing
	err := l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		if layer < 0 || layer >= r.m.Cfg.Layers {
			return fmt.Errorf("run %s has layers 0..%d", r.spec.Name, r.m.Cfg.Layers-1)
		}
		if err := r.syncHost(); err != nil {
			return err
		}
		out.K, out.V, out.G, out.H, out.Learned = r.m.Mixing(layer)
		return nil
	})
	return out, err
}

// AttentionMap returns the attention probabilities (T x T, row t = query t)
// of head h in layer layer for the first sequence of the run's last forward
// pass (a training batch, or the last validation batch right after an
// evaluation), and the tokens of that sequence decoded as text, one string
// per position.
func (l *Lab) AttentionMap(id RunID, layer, head int) (probs []float64, T int, tokens []string, err error) {
	err = l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		if r.dev != nil {
			// The device keeps its activations; recompute this batch on the host.
			if err := r.syncHost(); err != nil {
				return err
			}
			if _, err := r.m.Forward(r.x, nil, r.spec.Batch, r.spec.SeqLen); err != nil {
				return err
			}
		}
		probs, T = r.m.AttentionProbs(layer, 0, head)
		if probs == nil {
			return fmt.Errorf("no attention map for layer %d head %d of run %s yet", layer, head, r.spec.Name)
		}
		for _, t := range r.x[:T] {
			tokens = append(tokens, r.ds.Decode([]int32{t}))
		}
		return nil
	})
	return probs, T, tokens, err
}
