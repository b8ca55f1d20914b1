package serve

import (
	"errors"

	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/trainer"
	"github.com/mealab/mealab/tui"
)

// ownView is a person's own lab as one of their screens sees it: the lab
// itself, but its own update stream (from the hub) and the person's limits
// on everything that makes a run.
type ownView struct {
	*trainer.Lab
	u   *user
	sub *sub
}

var _ tui.Lab = (*ownView)(nil)

func (v *ownView) Updates() <-chan trainer.Update { return v.sub.ch }

func (v *ownView) Add(spec trainer.RunSpec) (trainer.RunID, error) {
	v.u.mu.Lock()
	defer v.u.mu.Unlock()
	if err := v.u.check(spec, 1); err != nil {
		return 0, err
	}
	return v.Lab.Add(spec)
}

func (v *ownView) Apply(id trainer.RunID, op model.Op, fork bool) (trainer.RunID, error) {
	v.u.mu.Lock()
	defer v.u.mu.Unlock()
	if fork {
		info, ok := v.info(id)
		if ok {
			if err := v.u.check(info.Spec, 1); err != nil {
				return 0, err
			}
		}
	}
	nid, err := v.Lab.Apply(id, op, fork)
	if err == nil && v.u.limits.Params > 0 {
		// Growing a run can take it past the parameter limit: undo by
		// stopping the grown run, with the reason.
		if info, ok := v.info(nid); ok && info.Params > v.u.limits.Params {
			_ = v.Lab.Stop(nid)
			return nid, limitError{"limit: the operation made the run larger than the parameter limit; it was stopped"}
		}
	}
	return nid, err
}

func (v *ownView) Restart(id trainer.RunID, heads int) (trainer.RunID, error) {
	v.u.mu.Lock()
	defer v.u.mu.Unlock()
	info, ok := v.info(id)
	if ok {
		spec := info.Spec
		spec.Model.Heads = heads
		if err := v.u.check(spec, 1); err != nil {
			return 0, err
		}
	}
	return v.Lab.Restart(id, heads)
}

func (v *ownView) Resume(id trainer.RunID) error {
	// A paused run already counts against the limit of unfinished runs.
	return v.Lab.Resume(id)
}

func (v *ownView) info(id trainer.RunID) (trainer.RunInfo, bool) {
	for _, in := range v.Lab.Runs() {
		if in.ID == id {
			return in, true
		}
	}
	return trainer.RunInfo{}, false
}

// followView is someone else's lab, read-only: it can be watched (each
// viewer at their own size) but nothing in it can be changed.
type followView struct {
	lab  *trainer.Lab
	sub  *sub
	whom string
}

var _ tui.Lab = (*followView)(nil)

// errReadOnly is what every changing call on a followed lab returns.
var errReadOnly = errors.New("read-only: you are following someone else's lab (T takes a copy of a run into yours)")

func (v *followView) Updates() <-chan trainer.Update { return v.sub.ch }
func (v *followView) Runs() []trainer.RunInfo        { return v.lab.Runs() }
func (v *followView) History(id trainer.RunID) (trainer.History, bool) {
	return v.lab.History(id)
}
func (v *followView) Add(trainer.RunSpec) (trainer.RunID, error) { return 0, errReadOnly }
func (v *followView) Pause(trainer.RunID) error                  { return errReadOnly }
func (v *followView) Resume(trainer.RunID) error                 { return errReadOnly }
func (v *followView) Stop(trainer.RunID) error                   { return errReadOnly }
func (v *followView) Remove(trainer.RunID) error                 { return errReadOnly }
func (v *followView) SetLR(trainer.RunID, float64) error         { return errReadOnly }
func (v *followView) Apply(trainer.RunID, model.Op, bool) (trainer.RunID, error) {
	return 0, errReadOnly
}
func (v *followView) Restart(trainer.RunID, int) (trainer.RunID, error) { return 0, errReadOnly }
func (v *followView) Preview(id trainer.RunID, op model.Op) (model.Report, error) {
	return v.lab.Preview(id, op)
}
func (v *followView) Mixing(id trainer.RunID, layer int) (trainer.Mixing, error) {
	return v.lab.Mixing(id, layer)
}
func (v *followView) AttentionMap(id trainer.RunID, layer, head int) ([]float64, int, []string, error) {
	return v.lab.AttentionMap(id, layer, head)
}

// take forks run id of from's lab, with its weights, AdamW state and
// history, into to's lab, within to's limits. It returns the new run's name.
func take(from, to *user, id trainer.RunID) (string, error) {
	if from == to {
		return "", errors.New("that run is already yours")
	}
	st, err := from.lab.Snapshot(id)
	if err != nil {
		return "", err
	}
	h, _ := from.lab.History(id)
	to.mu.Lock()
	defer to.mu.Unlock()
	if err := to.check(st.Spec, 1); err != nil {
		return "", err
	}
	st.ID, st.Parent = 0, 0
	st.Spec.Name = from.name + "." + st.Spec.Name
	if len(st.Spec.Name) > 64 {
		st.Spec.Name = st.Spec.Name[:64]
	}
	if st.State.Finished() {
		st.State = trainer.Paused
	}
	nid, err := to.lab.Restore(st, h, false)
	if err != nil {
		return "", err
	}
	for _, in := range to.lab.Runs() {
		if in.ID == nid {
			return in.Name, nil
		}
	}
	return st.Spec.Name, nil
}
