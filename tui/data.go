package tui

import (
	"slices"

	"github.com/mealab/mealab/trainer"
)

// runData is the UI's own copy of one run: views plot and print from it and
// never from the lab's memory. It is changed only by what the UI pulls.
type runData struct {
	info    trainer.RunInfo // the run's state as the lab had it at the last pull
	points  []trainer.Point
	evals   []trainer.EvalPoint
	events  []trainer.Event
	samples []trainer.Sample
	color   int  // palette index, fixed for the run's life
	hidden  bool // not overlaid on the chart
}

// lastSample is the newest generated text, if any.
func (r *runData) lastSample() (trainer.Sample, bool) {
	if len(r.samples) == 0 {
		return trainer.Sample{}, false
	}
	return r.samples[len(r.samples)-1], true
}

// maxSamples bounds the samples kept per run: the view shows the newest.
const maxSamples = 16

// store holds every run the UI knows, in the lab's order.
type store struct {
	order     []trainer.RunID
	runs      map[trainer.RunID]*runData
	removed   map[trainer.RunID]bool // removed from here: a pull under way when it happened must not bring it back
	nextColor int
}

func newStore() *store {
	return &store{runs: map[trainer.RunID]*runData{}, removed: map[trainer.RunID]bool{}}
}

// take applies what changed in the lab: each listed run's state, and its
// history (replacing ours on Reset, else appended); runs not listed are
// gone from the lab. It reports whether anything changed.
func (s *store) take(ch trainer.Changes) bool {
	if ch.Same {
		return false
	}
	order := make([]trainer.RunID, 0, len(ch.Runs))
	listed := make(map[trainer.RunID]bool, len(ch.Runs))
	for _, rc := range ch.Runs {
		id := rc.Info.ID
		if s.removed[id] {
			continue
		}
		listed[id] = true
		order = append(order, id)
		r := s.runs[id]
		if r == nil {
			r = &runData{color: s.nextColor}
			s.nextColor++
			s.runs[id] = r
		}
		if rc.Reset {
			r.points, r.evals, r.events, r.samples = nil, nil, nil, nil
		}
		r.info = rc.Info
		r.points = append(r.points, rc.Points...)
		r.evals = append(r.evals, rc.Evals...)
		r.events = append(r.events, rc.Events...)
		r.samples = append(r.samples, rc.Samples...)
		if n := len(r.samples) - maxSamples; n > 0 {
			r.samples = slices.Delete(r.samples, 0, n)
		}
	}
	for id := range s.runs {
		if !listed[id] {
			delete(s.runs, id)
		}
	}
	s.order = order
	return true
}

// remove forgets run id for good (a pull that still lists it is ignored).
func (s *store) remove(id trainer.RunID) {
	delete(s.runs, id)
	s.removed[id] = true
	s.order = slices.DeleteFunc(s.order, func(x trainer.RunID) bool { return x == id })
}

// list returns the runs in the lab's order.
func (s *store) list() []*runData {
	out := make([]*runData, 0, len(s.order))
	for _, id := range s.order {
		out = append(out, s.runs[id])
	}
	return out
}

// index is the position of run id in the order, or -1.
func (s *store) index(id trainer.RunID) int {
	return slices.Index(s.order, id)
}
