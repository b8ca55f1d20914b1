package trainer

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/mealab/mealab/model"
)

// ScheduledOp is head surgery a run's spec schedules at a step (the
// kv-compress preset uses it).
type ScheduledOp struct {
	Step int      `json:"step"`
	Op   model.Op `json:"op"`
	// Fork applies the operation to a copy that trains beside the original;
	// otherwise the run itself is changed.
	Fork bool `json:"fork,omitempty"`
}

// String writes the form ParseScheduledOp reads.
func (s ScheduledOp) String() string {
	out := fmt.Sprintf("%d %s", s.Step, s.Op)
	if s.Fork {
		out += " fork"
	}
	return out
}

// ParseScheduledOp reads "STEP OP [fork]", e.g. "600 compress 2 fork".
func ParseScheduledOp(s string) (ScheduledOp, error) {
	f := strings.Fields(s)
	if len(f) < 2 {
		return ScheduledOp{}, fmt.Errorf("%q: write STEP OPERATION [fork], e.g. \"600 compress 2 fork\"", s)
	}
	step, err := strconv.Atoi(f[0])
	if err != nil || step < 1 {
		return ScheduledOp{}, fmt.Errorf("%q: the step %q is not a positive whole number", s, f[0])
	}
	fork := false
	if f[len(f)-1] == "fork" {
		fork, f = true, f[:len(f)-1]
	}
	op, err := model.ParseOp(strings.Join(f[1:], " "))
	if err != nil {
		return ScheduledOp{}, err
	}
	return ScheduledOp{Step: step, Op: op, Fork: fork}, nil
}

// runScheduled attempts every operation the run's spec schedules at its
// current step, in order. One that the run refuses (its model changed since
// the schedule was checked, or the device failed) becomes a "refused"
// event with the reason, and the later ones are still attempted.
func (l *Lab) runScheduled(r *run) {
	for _, so := range r.spec.Ops {
		if so.Step != r.step {
			continue
		}
		if _, err := l.surgery(r, so.Op, so.Fork); err != nil {
			l.emit(Event{Run: r.id, Step: r.step, Kind: "refused", Detail: fmt.Sprintf("scheduled %s refused: %v", so, err)})
		}
	}
}

// skipScheduled accounts for the operations a run that has just finished
// will never reach: each becomes a "skipped" event.
func (l *Lab) skipScheduled(r *run) {
	for _, so := range r.spec.Ops {
		if so.Step > r.step {
			l.emit(Event{Run: r.id, Step: r.step, Kind: "skipped",
				Detail: fmt.Sprintf("scheduled %s skipped: the run %s at step %d", so, r.state, r.step)})
		}
	}
}

// ValidateSchedule refuses, before a run starts, what can already be known
// to fail in its schedule: a step the run never reaches, or an operation
// the model cannot take at that point. Operations are checked in step
// order on the config the earlier ones leave (an in-place operation
// changes it, a fork does not). Presets call it when they are expanded,
// and Lab.Add before it starts a run; what only the running model can
// tell (a device failure, a person's surgery in between) is reported as a
// "refused" event when the step comes.
func ValidateSchedule(s RunSpec) error {
	s = s.Normalized()
	ops := slices.Clone(s.Ops)
	slices.SortStableFunc(ops, func(a, b ScheduledOp) int { return a.Step - b.Step })
	c := s.Model
	var errs []error
	for _, so := range ops {
		if so.Step > s.Sched.Total {
			errs = append(errs, fmt.Errorf("at = %s: the run ends at step %d; schedule it at a step from 1 to %d or raise steps", so, s.Sched.Total, s.Sched.Total))
			continue
		}
		nc, _, err := so.Op.Config(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("at = %s: the model at that step (%s) refuses it: %w", so, c.Variant(), err))
			continue
		}
		if !so.Fork {
			c = nc
		}
	}
	return errors.Join(errs...)
}

// Preview is the report op would give on run id now (KV sizes and the
// realised K/V errors per layer) without changing the run: the surgery
// dialog shows it before a person applies the operation.
func (l *Lab) Preview(id RunID, op model.Op) (model.Report, error) {
	var rep model.Report
	err := l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		if err := r.syncHost(); err != nil {
			return err
		}
		rep, err = model.Preview(r.m, op)
		return err
	})
	return rep, err
}

// surgery applies op to r in place or to a fork of it; it runs on the lab's
// goroutine.
func (l *Lab) surgery(r *run, op model.Op, fork bool) (RunID, error) {
	if op.Kind == model.OpGrow && op.Seed == 0 {
		op.Seed = uint64(r.step) + 1
	}
	if err := r.syncHost(); err != nil {
		return 0, err
	}
	nm, nopt, rep, err := model.Apply(r.m, r.opt, op)
	if err != nil {
		return 0, err
	}
	if !fork && r.spec.Initial == nil {
		c := r.spec.Model
		r.spec.Initial = &c
	}
	r.spec.Applied = append(r.spec.Applied[:len(r.spec.Applied):len(r.spec.Applied)], ScheduledOp{Step: r.step, Op: op, Fork: fork})
	target := r
	if fork {
		child := *r
		child.id = l.nextID
		l.nextID++
		child.parent = r.id
		child.spec = derived(r.spec, op.Short())
		// The child does not repeat its parent's schedule; its parent's
		// fork (Applied) recreates it.
		child.spec.Ops, child.spec.Initial, child.spec.Applied = nil, nil, nil
		child.stream = r.stream.Clone()
		child.x, child.y = make([]int32, len(r.x)), make([]int32, len(r.y))
		child.state, child.reason, child.divAt = Running, "", 0
		if child.step >= child.spec.Sched.Total {
			child.state = Done
		}
		target = &child
	}
	target.m, target.opt = nm, nopt
	target.spec.Model = nm.Cfg
	if fork {
		target.dev = nil // the parent keeps its device copy
	}
	if err := target.attachDevice(); err != nil {
		return 0, err
	}
	target.bestVal, target.lastVal = nanF, nanF
	ev := Event{Run: target.id, Step: target.step, Kind: "surgery", Detail: describe(op, rep),
		KVBefore: rep.KVBefore, KVAfter: rep.KVAfter, ApproxErr: rep.MaxErr, ErrK: rep.ErrK, ErrV: rep.ErrV}
	if fork {
		l.register(target)
		l.publishInfo(target) // first, so that recorders know the fork before its events
		l.emit(Event{Run: r.id, Step: r.step, Kind: "fork", Detail: fmt.Sprintf("forked %s with %s", target.spec.Name, op), Child: target.id})
		l.emit(Event{Run: target.id, Step: target.step, Kind: "start", Detail: fmt.Sprintf("fork of %s at step %d", r.spec.Name, r.step)})
	}
	l.emit(ev)
	if target.spec.EvalEvery > 0 {
		if ep, err := target.evaluate(); err == nil {
			l.emit(ep)
		}
	}
	l.publishInfo(target)
	if fork {
		l.publishInfo(r) // its spec now lists the fork (Applied)
	}
	l.checkpointNow(target)
	return target.id, nil
}

// describe is a surgery event's text: the operation, the KV cache before
// and after, and the per-layer K/V errors (or, for an operation that keeps
// the projections, what it changes).
func describe(op model.Op, rep model.Report) string {
	return fmt.Sprintf("%s: KV %d -> %d B/token, %s", op, rep.KVBefore, rep.KVAfter, rep.ErrorText())
}

// Apply performs head surgery on a run, in place or as a fork that then
// trains beside its parent on the same batches. It returns the id of the
// run that was changed (the fork, when fork is set).
func (l *Lab) Apply(id RunID, op model.Op, fork bool) (RunID, error) {
	var out RunID
	err := l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		if !fork && r.state.Finished() {
			return fmt.Errorf("run %s is %s; fork it instead of changing it in place", r.spec.Name, r.state)
		}
		out, err = l.surgery(r, op, fork)
		return err
	})
	return out, err
}

// RestartConfig is the model config Restart uses: c with heads query heads
// (width kept). KV heads follow: MHA keeps KV = H, GQA keeps its group count
// when it divides H (else becomes MHA), MEA/HLC keeps h' up to H.
func RestartConfig(c model.Config, heads int) (model.Config, error) {
	c = c.Normalized()
	wasMHA := c.KV(0) == c.Heads && len(c.LayerKV) == 0
	c.Heads = heads
	c.LayerKV = nil
	switch {
	case wasMHA:
		c.KVHeads = heads
	case c.KVHeads > heads:
		c.KVHeads = heads
	}
	if !c.HLC && c.KVHeads > 0 && heads > 0 && heads%c.KVHeads != 0 {
		c.KVHeads = heads
	}
	return c, c.Validate()
}

// Restart starts a fresh run that inherits everything from run id except
// the number of query heads (width is kept, so head width changes): the
// weights cannot carry over. KV heads follow: MHA keeps KV = H, GQA keeps
// its group count when it divides H, MEA keeps h' when h' <= H.
func (l *Lab) Restart(id RunID, heads int) (RunID, error) {
	var spec RunSpec
	var parent RunID
	err := l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		spec, parent = r.spec, r.id
		return nil
	})
	if err != nil {
		return 0, err
	}
	c, err := RestartConfig(spec.Model, heads)
	if err != nil {
		return 0, err
	}
	spec.Model = c
	spec = derived(spec, fmt.Sprintf("H%d", heads))
	spec.Ops, spec.Initial, spec.Applied = nil, nil, nil
	nid, err := l.Add(spec)
	if err != nil {
		return 0, err
	}
	_ = l.exec(func() error {
		if r, err := l.find(nid); err == nil {
			r.parent = parent
			l.publishInfo(r)
		}
		return nil
	})
	return nid, nil
}

// ReplicaName is the name of a seeded replica of group: the group's name
// with its initialisation seed as one more grid value, "mha@seed=2" or
// "mha@lr=3e-2,seed=2", so that the name says what differs.
func ReplicaName(group string, seed uint64) string {
	if strings.Contains(group, "@") {
		return fmt.Sprintf("%s,seed=%d", group, seed)
	}
	return fmt.Sprintf("%s@seed=%d", group, seed)
}

// derived names a run made from spec by an operation (a fork or a restart):
// "mea>svd2". A replica's derived run is the same replica of a derived
// group, so surgery on every replica of a group gives a group again:
// "mea@seed=3" becomes "mea>svd2@seed=3" in group "mea>svd2".
func derived(spec RunSpec, suffix string) RunSpec {
	if spec.Group != "" {
		spec.Group = spec.Group + ">" + suffix
		spec.Name = ReplicaName(spec.Group, spec.Model.Seed)
		return spec
	}
	spec.Name = spec.Name + ">" + suffix
	return spec
}
