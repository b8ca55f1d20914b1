package trainer

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/mealab/mealab/model"
)

// Options configures a Lab.
type Options struct {
	// Compute is the backend for float32 training; nil means model.Naive.
	Compute model.Compute
	// Sink, when set, sees every update synchronously on the lab's
	// goroutine, in the order they happen, none dropped (sessions record
	// through it). Nothing of a run reaches it after the run's "removed"
	// event. It must be quick: training waits for it.
	Sink func(Update)
	// Gate, when set, must grant every training step (gate.go); nil steps
	// at full speed.
	Gate StepGate
	// HistoryLimit bounds the points kept per run for viewers (see
	// Journal); 0 means DefaultHistoryLimit.
	HistoryLimit int
	// OnCheckpoint, when set, receives a run's full state every
	// CheckpointEvery steps and right after head surgery, on the lab's
	// goroutine (sessions write checkpoints through it).
	OnCheckpoint    func(RunState)
	CheckpointEvery int
}

// Lab owns runs and steps them side by side in lock-step: every running run
// does one step, then the next round starts, so curves that people compare
// were made on the same batches in the same order. All methods are safe to
// call from any goroutine; the runs themselves are touched only by the lab's
// own goroutine.
//
// Viewers pull what changed with Since (see Journal); the recorder is pushed
// every update through Options.Sink.
type Lab struct {
	opts    Options
	cmds    chan func()
	quit    chan struct{}
	stopped chan struct{}
	j       *Journal

	// Owned by the loop goroutine.
	runs   []*run
	nextID RunID
	held   int // > 0: no run steps (see Hold)
}

// History is everything a run reported so far (bounded in a Journal).
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
	l := &Lab{
		opts:    opts,
		cmds:    make(chan func()),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
		j:       NewJournal(opts.HistoryLimit),
		nextID:  1,
	}
	go l.loop()
	return l
}

// Since returns what changed after cursor c (the zero Cursor: everything)
// and the cursor to pass next time. Any number of viewers may call it, each
// at its own pace; it never waits for a training step.
func (l *Lab) Since(c Cursor) Changes {
	ch := l.j.Since(c)
	select {
	case <-l.stopped:
		ch.Closed = true
	default:
	}
	return ch
}

// Changed returns a channel closed once the lab's version (Changes.Next.
// Version) is above v, or the lab has stopped.
func (l *Lab) Changed(v uint64) <-chan struct{} {
	select {
	case <-l.stopped:
		return l.stopped
	default:
	}
	return l.j.Changed(v)
}

// Version is the lab's change counter (Changes.Next.Version of a Since
// now).
func (l *Lab) Version() uint64 { return l.j.Version() }

// Done is closed when the lab has stopped.
func (l *Lab) Done() <-chan struct{} { return l.stopped }

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
			// A command between two steps may have paused, stopped or
			// removed a run of this round: look at its state again.
			if r.state == Running && !r.removed && !l.gatedStep(r) {
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

// emit hands u to the sink, then to the viewers' journal.
func (l *Lab) emit(u Update) {
	if l.opts.Sink != nil {
		l.opts.Sink(u)
	}
	l.j.Put(u)
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

// updateInfo refreshes the run's state for viewers without sending it to
// the sink (points carry the live numbers; state changes are sent by
// publishInfo).
func (l *Lab) updateInfo(r *run) { l.j.SetInfo(r.info()) }

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
// of a run, surgery). When the state cannot be read (the device copy
// failed) no checkpoint is written, and an error event says so: an old
// checkpoint is better than one with stale weights.
func (l *Lab) checkpointNow(r *run) {
	if l.opts.OnCheckpoint == nil {
		return
	}
	st, err := r.snapshot()
	if err != nil {
		l.emit(Event{Run: r.id, Step: r.step, Kind: "error", Detail: "checkpoint skipped: " + err.Error()})
		return
	}
	l.opts.OnCheckpoint(st)
}

func (l *Lab) register(r *run) { l.registerWith(r, History{}) }

// registerWith adds r to the lab with the history it already has.
func (l *Lab) registerWith(r *run, h History) {
	l.runs = append(l.runs, r)
	l.j.Add(r.info(), h)
}

// Add creates a run from spec and starts it.
func (l *Lab) Add(spec RunSpec) (RunID, error) {
	ids, err := l.AddAll([]RunSpec{spec})
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// AddAll creates runs from specs and starts them together, in one command
// between two rounds: they take their first steps in the same round and
// stay in lock-step (runs added one by one start as many rounds apart as
// the lab stepped in between). Either every run is added or none.
func (l *Lab) AddAll(specs []RunSpec) ([]RunID, error) {
	dss := make([]Dataset, len(specs))
	for i := range specs {
		specs[i] = specs[i].Normalized()
		if err := errors.Join(specs[i].Validate(), ValidateSchedule(specs[i])); err != nil {
			return nil, addErr(specs, i, err)
		}
		ds, err := specs[i].Data.Open(specs[i].SeqLen)
		if err != nil {
			return nil, addErr(specs, i, err)
		}
		dss[i] = ds
	}
	var ids []RunID
	err := l.exec(func() error {
		runs := make([]*run, len(specs))
		for i, spec := range specs {
			r, err := newRun(l.nextID+RunID(i), spec, l.opts.Compute, dss[i])
			if err != nil {
				for _, made := range runs[:i] {
					if made.dev != nil {
						_ = made.dev.Close()
					}
				}
				return addErr(specs, i, err)
			}
			if r.spec.Name == "" {
				r.spec.Name = fmt.Sprintf("run%d", r.id)
			}
			runs[i] = r
		}
		l.nextID += RunID(len(specs))
		for _, r := range runs {
			ids = append(ids, r.id)
			l.register(r)
			l.publishInfo(r) // first, so that recorders know the run before its events
			l.emit(Event{Run: r.id, Kind: "start", Detail: fmt.Sprintf("%s, %d params, lr %.1e", r.m.Cfg.Variant(), r.m.ParamCount(), r.spec.Sched.Peak)})
			if r.spec.EvalEvery > 0 {
				if ep, err := r.evaluate(); err == nil {
					l.emit(ep)
				}
				l.publishInfo(r) // with the starting validation loss
			}
		}
		return nil
	})
	return ids, err
}

// addErr names the spec that failed when there are several.
func addErr(specs []RunSpec, i int, err error) error {
	if len(specs) == 1 {
		return err
	}
	name := specs[i].Name
	if name == "" {
		name = fmt.Sprintf("#%d", i+1)
	}
	return fmt.Errorf("run %s: %w", name, err)
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

// Remove deletes a run and its history from the lab. When it returns the
// run has made its last step: the "removed" event is the last thing of it
// the sink sees (sessions record the removal from it), and viewers no
// longer list it.
func (l *Lab) Remove(id RunID) error {
	return l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		l.emit(Event{Run: id, Step: r.step, Kind: "removed", Detail: "removed " + r.spec.Name})
		r.removed = true
		if r.dev != nil {
			_ = r.dev.Close()
			r.dev = nil
		}
		l.runs = slices.DeleteFunc(l.runs, func(r *run) bool { return r.id == id })
		l.j.Remove(id)
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
func (l *Lab) Runs() []RunInfo { return l.j.Runs() }

// History returns a copy of what run id reported so far (bounded: see
// Journal).
func (l *Lab) History(id RunID) (History, bool) { return l.j.History(id) }

// AllFinished reports whether no run can step any more (none running or
// paused).
func (l *Lab) AllFinished() bool { return l.j.AllFinished() }

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
		if err := r.syncMixing(layer); err != nil {
			return err
		}
		out.K, out.V, out.G, out.H, out.Learned = r.m.Mixing(layer)
		return nil
	})
	return out, err
}

// syncMixing brings layer's learned mixing matrices from the device into
// the host model, alone: the Heads view reads them once a second, and a
// whole-model copy with the AdamW moments would stall every run.
func (r *run) syncMixing(layer int) error {
	if r.dev == nil || !r.stale || !r.m.Cfg.HLC {
		return nil
	}
	k, ok := r.m.Layout.Lookup(fmt.Sprintf("layers.%d.attention.wlc_k", layer))
	v, ok2 := r.m.Layout.Lookup(fmt.Sprintf("layers.%d.attention.wlc_v", layer))
	if !ok || !ok2 {
		return fmt.Errorf("run %s has no mixing matrices in layer %d", r.spec.Name, layer)
	}
	for _, t := range []model.TensorInfo{k, v} {
		if err := r.dev.DownloadParams(r.m.Params[t.Off:t.Off+t.Len], t.Off); err != nil {
			return err
		}
	}
	return nil
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
			// The device keeps the probabilities of its last forward pass:
			// copy one head's T x T, nothing else.
			probs, T, err = r.dev.AttentionProbs(layer, 0, head)
			if err != nil {
				return fmt.Errorf("no attention map for layer %d head %d of run %s: %w", layer, head, r.spec.Name, err)
			}
		} else {
			probs, T = r.m.AttentionProbs(layer, 0, head)
		}
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
