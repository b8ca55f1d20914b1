package trainer

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mealab/mealab/model"
)

// RunState is everything needed to continue a run exactly: its spec (as
// changed by surgery and LR edits), weights, AdamW moments, data-stream
// position and counters. A run restored from it produces the same losses,
// bit for bit, as one that never stopped (same machine and thread count).
type RunState struct {
	ID        RunID
	Parent    RunID
	Spec      RunSpec
	Step      int
	Tokens    int64
	Wall      float64
	State     State
	Reason    string
	DivAt     int
	FirstLoss float64
	LastLoss  float64
	LastVal   float64
	BestVal   float64
	Recall    float64
	Params    []float32 // model.NewLayout(Spec.Model) order
	M, V      []float32 // AdamW moments, same layout
	OptSteps  int64
	Stream    []byte // data-stream position
}

// snapshot copies the run's state. It fails when the device's weights
// cannot be copied to the host: a state with stale weights must never be
// written as a checkpoint.
func (r *run) snapshot() (RunState, error) {
	if err := r.syncHost(); err != nil {
		return RunState{}, fmt.Errorf("run %s: copying the weights from the device: %w", r.spec.Name, err)
	}
	st, err := r.stream.MarshalBinary()
	if err != nil {
		return RunState{}, fmt.Errorf("run %s: data position: %w", r.spec.Name, err)
	}
	return RunState{
		ID: r.id, Parent: r.parent, Spec: r.spec, Step: r.step, Tokens: r.tokens, Wall: r.wall.Seconds(),
		State: r.state, Reason: r.reason, DivAt: r.divAt,
		FirstLoss: r.firstLoss, LastLoss: r.lastLoss, LastVal: r.lastVal, BestVal: r.bestVal, Recall: r.recall,
		Params: slices.Clone(r.m.Params), M: slices.Clone(r.opt.M), V: slices.Clone(r.opt.V), OptSteps: r.opt.Steps,
		Stream: st,
	}, nil
}

// Snapshot copies run id's state (for checkpoints).
func (l *Lab) Snapshot(id RunID) (RunState, error) {
	var out RunState
	err := l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		out, err = r.snapshot()
		return err
	})
	return out, err
}

// SnapshotAll copies the state of every run at one instant, in the order
// they were added: between two steps while the lab runs, or after Close
// (then it reads the runs the stopped loop left). Saving a session from it
// after Close makes the checkpoints, the logs and the final table agree on
// every run's step. A run whose state cannot be read (its device's
// weights cannot be copied back) is left out, and the error says which.
func (l *Lab) SnapshotAll() ([]RunState, error) {
	var out []RunState
	var errs []error
	take := func() error {
		out, errs = out[:0], errs[:0]
		for _, r := range l.runs {
			st, err := r.snapshot()
			if err != nil {
				errs = append(errs, err)
				continue
			}
			out = append(out, st)
		}
		return nil
	}
	select {
	case <-l.stopped:
		_ = take() // the loop has returned: nothing else touches the runs
		return out, errors.Join(errs...)
	default:
	}
	if l.exec(take) != nil {
		<-l.stopped // exec fails only once the loop has returned
		_ = take()
	}
	return out, errors.Join(errs...)
}

// checkpointDue calls Options.OnCheckpoint after steps that are multiples
// of Options.CheckpointEvery, on the lab's goroutine.
func (l *Lab) checkpointDue(r *run) {
	if l.opts.CheckpointEvery > 0 && r.step%l.opts.CheckpointEvery == 0 {
		l.checkpointNow(r)
	}
}

// Restore adds a run from a saved state, with the history it had reported
// (so curves and events are back), keeping its id when that id is free. A
// running run starts paused if paused is set.
func (l *Lab) Restore(st RunState, h History, paused bool) (RunID, error) {
	spec := st.Spec.Normalized()
	if err := spec.Validate(); err != nil {
		return 0, fmt.Errorf("saved run %s: %w", spec.Name, err)
	}
	ds, err := spec.Data.Open(spec.SeqLen)
	if err != nil {
		return 0, fmt.Errorf("saved run %s: %w", spec.Name, err)
	}
	var id RunID
	err = l.exec(func() error {
		want := st.ID
		if _, err := l.find(want); err == nil || want <= 0 {
			want = l.nextID
		}
		r, err := newRun(want, spec, l.opts.Compute, ds)
		if err != nil {
			return err
		}
		if len(st.Params) != len(r.m.Params) || len(st.M) != len(r.opt.M) || len(st.V) != len(r.opt.V) {
			return fmt.Errorf("saved run %s has %d parameters but its config needs %d; the checkpoint does not match its config", spec.Name, len(st.Params), len(r.m.Params))
		}
		copy(r.m.Params, st.Params)
		copy(r.opt.M, st.M)
		copy(r.opt.V, st.V)
		r.opt.Steps = st.OptSteps
		if err := r.attachDevice(); err != nil {
			return fmt.Errorf("saved run %s: %w", spec.Name, err)
		}
		if err := r.stream.UnmarshalBinary(st.Stream); err != nil {
			return fmt.Errorf("saved run %s: data position: %w", spec.Name, err)
		}
		r.parent, r.step, r.tokens = st.Parent, st.Step, st.Tokens
		r.wall = time.Duration(st.Wall * float64(time.Second))
		r.state, r.reason, r.divAt = st.State, st.Reason, st.DivAt
		if paused && r.state == Running {
			r.state = Paused
		}
		r.firstLoss, r.lastLoss, r.lastVal, r.bestVal, r.recall = st.FirstLoss, st.LastLoss, st.LastVal, st.BestVal, st.Recall
		if n := len(h.Points); n > 0 {
			r.tokPerSec = h.Points[n-1].TokPerSec
		}
		r.spikes.replay(h.Points)
		l.nextID = max(l.nextID, want+1)
		id = want
		h = History{Points: slices.Clone(h.Points), Evals: slices.Clone(h.Evals), Events: slices.Clone(h.Events), Samples: slices.Clone(h.Samples)}
		for i := range h.Points {
			h.Points[i].Run = id
		}
		for i := range h.Evals {
			h.Evals[i].Run = id
		}
		for i := range h.Events {
			h.Events[i].Run = id
		}
		for i := range h.Samples {
			h.Samples[i].Run = id
		}
		l.registerWith(r, h)
		l.publishInfo(r)
		return nil
	})
	return id, err
}

// LayoutOf lists the parameter tensors of a spec's model, for writing
// checkpoints with named tensors.
func LayoutOf(s RunSpec) *model.Layout { return model.NewLayout(s.Model.Normalized()) }
