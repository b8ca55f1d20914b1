package tui

import (
	"math"
	"sort"
	"strconv"

	"github.com/mealab/mealab/trainer"
)

// runData is the UI's own copy of one run: views plot and print from it and
// never from the lab's memory.
type runData struct {
	info    trainer.RunInfo
	known   bool // a RunInfo arrived (until then the name is a placeholder)
	points  []trainer.Point
	evals   []trainer.EvalPoint
	events  []trainer.Event
	samples []trainer.Sample
	color   int  // palette index, fixed for the run's life
	hidden  bool // not overlaid on the chart
	gap     bool // the stream dropped points; a History fetch fills them in
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
	removed   map[trainer.RunID]bool
	nextColor int
}

func newStore() *store {
	return &store{runs: map[trainer.RunID]*runData{}, removed: map[trainer.RunID]bool{}}
}

// get returns run id, creating it when an update names a run the UI has not
// seen yet (its RunInfo follows its first event).
func (s *store) get(id trainer.RunID) *runData {
	if r, ok := s.runs[id]; ok {
		return r
	}
	if s.removed[id] {
		return nil
	}
	nan := math.NaN()
	r := &runData{color: s.nextColor, info: trainer.RunInfo{ID: id, Name: "run" + strconv.Itoa(int(id)),
		Loss: nan, ValLoss: nan, BestVal: nan, Recall: nan}}
	s.nextColor++
	s.runs[id] = r
	s.order = append(s.order, id)
	return r
}

// apply takes one update from the lab's stream into the store.
func (s *store) apply(u trainer.Update) {
	r := s.get(u.RunOf())
	if r == nil {
		return
	}
	switch v := u.(type) {
	case trainer.Point:
		s.addPoint(r, v)
	case trainer.EvalPoint:
		s.addEval(r, v)
	case trainer.Event:
		s.addEvent(r, v)
	case trainer.Sample:
		s.addSample(r, v)
	case trainer.RunInfo:
		s.setInfo(r, v)
	}
}

func (s *store) addPoint(r *runData, p trainer.Point) {
	if n := len(r.points); n > 0 {
		last := r.points[n-1].Step
		if p.Step <= last {
			return // already have it (from a History fetch)
		}
		if p.Step > last+1 {
			r.gap = true
		}
	} else if p.Step > 1 && r.info.Parent == 0 {
		// A fresh run starts at step 1; a fork (whose RunInfo, with its
		// parent, precedes its first step) starts after its parent's.
		r.gap = true
	}
	r.points = append(r.points, p)
	in := &r.info
	if p.Step >= in.Step {
		in.Step, in.Loss, in.Tokens, in.Wall, in.CurLR = p.Step, p.Loss, p.Tokens, p.Wall, p.LR
		if p.TokPerSec > 0 {
			in.TokPerSec = p.TokPerSec
		}
	}
}

func (s *store) addEval(r *runData, e trainer.EvalPoint) {
	for i := len(r.evals) - 1; i >= 0 && r.evals[i].Step >= e.Step; i-- {
		if sameEval(r.evals[i], e) {
			return
		}
	}
	r.evals = insertByStep(r.evals, e, func(x trainer.EvalPoint) int { return x.Step })
	in := &r.info
	if e.Step >= in.Step || !finite(in.ValLoss) {
		in.ValLoss = e.ValLoss
		if finite(e.Recall) {
			in.Recall = e.Recall
		}
	}
	if finite(e.ValLoss) && (!finite(in.BestVal) || e.ValLoss < in.BestVal) {
		in.BestVal = e.ValLoss
	}
}

func sameEval(a, b trainer.EvalPoint) bool {
	return a.Step == b.Step && math.Float64bits(a.ValLoss) == math.Float64bits(b.ValLoss) && a.Tokens == b.Tokens
}

func (s *store) addEvent(r *runData, e trainer.Event) {
	for i := len(r.events) - 1; i >= 0 && r.events[i].Step >= e.Step; i-- {
		x := r.events[i]
		if x.Step == e.Step && x.Kind == e.Kind && x.Detail == e.Detail && x.Child == e.Child {
			return
		}
	}
	r.events = insertByStep(r.events, e, func(x trainer.Event) int { return x.Step })
}

func (s *store) addSample(r *runData, smp trainer.Sample) {
	for i := len(r.samples) - 1; i >= 0 && r.samples[i].Step >= smp.Step; i-- {
		if x := r.samples[i]; x.Step == smp.Step && x.Text == smp.Text {
			return
		}
	}
	r.samples = insertByStep(r.samples, smp, func(x trainer.Sample) int { return x.Step })
	if len(r.samples) > maxSamples {
		r.samples = append(r.samples[:0:0], r.samples[len(r.samples)-maxSamples:]...)
	}
}

// setInfo takes a published snapshot; live numbers that points already
// moved past are kept (the snapshot may be older than the stream).
func (s *store) setInfo(r *runData, in trainer.RunInfo) {
	old := r.info
	if r.known && old.Step > in.Step {
		in.Step, in.Loss, in.Tokens, in.Wall, in.CurLR = old.Step, old.Loss, old.Tokens, old.Wall, old.CurLR
	}
	if in.TokPerSec == 0 {
		in.TokPerSec = old.TokPerSec
	}
	r.info, r.known = in, true
}

// insertByStep appends x, or inserts it after the last element with a step
// not above its own, keeping the slice sorted by step.
func insertByStep[T any](xs []T, x T, step func(T) int) []T {
	n := len(xs)
	if n == 0 || step(xs[n-1]) <= step(x) {
		return append(xs, x)
	}
	i := sort.Search(n, func(i int) bool { return step(xs[i]) > step(x) })
	xs = append(xs, x)
	copy(xs[i+1:], xs[i:])
	xs[i] = x
	return xs
}

// mergeHistory fills run id from a History fetched from the lab: its points
// replace ours up to its last step; ours after that are kept.
func (s *store) mergeHistory(id trainer.RunID, h trainer.History) {
	r := s.get(id)
	if r == nil {
		return
	}
	if len(h.Points) > 0 {
		last := h.Points[len(h.Points)-1].Step
		pts := append([]trainer.Point(nil), h.Points...)
		for _, p := range r.points {
			if p.Step > last {
				pts = append(pts, p)
			}
		}
		r.points = pts
		if n := len(pts); n > 0 && pts[n-1].Step >= r.info.Step {
			p := pts[n-1]
			r.info.Step, r.info.Loss, r.info.Tokens, r.info.Wall, r.info.CurLR = p.Step, p.Loss, p.Tokens, p.Wall, p.LR
		}
	}
	for _, e := range h.Events {
		s.addEvent(r, e)
	}
	for _, e := range h.Evals {
		s.addEval(r, e)
	}
	for _, smp := range h.Samples {
		s.addSample(r, smp)
	}
	r.gap = false
}

// remove forgets run id for good (late updates for it are ignored).
func (s *store) remove(id trainer.RunID) {
	delete(s.runs, id)
	s.removed[id] = true
	for i, x := range s.order {
		if x == id {
			s.order = append(s.order[:i:i], s.order[i+1:]...)
			break
		}
	}
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
	for i, x := range s.order {
		if x == id {
			return i
		}
	}
	return -1
}
