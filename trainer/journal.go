package trainer

import (
	"slices"
	"sync"
)

// DefaultHistoryLimit is how many training points (and evaluations) a
// Journal keeps per run before it thins the older ones. The newest quarter
// stays at full resolution, so a chart zoomed to the last 5000 steps is
// exact.
const DefaultHistoryLimit = 20000

// maxJournalSamples is how many generated samples a Journal keeps per run
// (the newest); sessions keep them all on disk.
const maxJournalSamples = 32

// A Journal is the state viewers pull: per run its latest RunInfo and a
// bounded history (points, evaluations, events, samples). A Lab writes into
// its own Journal on its goroutine; any number of viewers read from it
// with Since at their own pace, each holding its own Cursor, so a slow or
// stalled viewer costs the lab nothing and no viewer sees another's pace.
//
// Memory per run is bounded: beyond the limit, points and evaluations
// older than the newest quarter are thinned to the first one in each
// stretch of `stride` steps (stride doubling as needed), so the first point,
// the newest points and every event are always kept. Thinning starts a new
// epoch of the run; a viewer on an older epoch gets the whole history again
// with Reset set.
//
// All methods are safe for concurrent use. Tests and other programs (a
// scripted lab, a follower of a remote lab) may fill a Journal themselves
// with Add, Put, Remove and SetInfo.
type Journal struct {
	limit int

	mu      sync.RWMutex
	version uint64
	order   []RunID
	runs    map[RunID]*journalRun
	changed chan struct{} // closed and replaced at every change
}

type journalRun struct {
	info    RunInfo
	points  []Point
	evals   []EvalPoint
	events  []Event
	samples []Sample
	// samplesBase is how many samples were dropped from the front, so
	// cursors count samples from the run's first.
	samplesBase int
	pointStride int // bucket width in steps of the thinned part (1: none yet)
	evalStride  int
	epoch       uint64 // bumped when the history is thinned or replaced
	version     uint64 // the journal's version at this run's last change
}

// NewJournal makes an empty journal keeping about limit points per run
// (DefaultHistoryLimit when limit <= 0; at least 16).
func NewJournal(limit int) *Journal {
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	return &Journal{limit: max(limit, 16), runs: map[RunID]*journalRun{}, changed: make(chan struct{})}
}

// bump marks a change; j.mu is held for writing.
func (j *Journal) bump(r *journalRun) {
	j.version++
	if r != nil {
		r.version = j.version
	}
	close(j.changed)
	j.changed = make(chan struct{})
}

// Version is a number that grows with every change.
func (j *Journal) Version() uint64 {
	j.mu.RLock()
	defer j.mu.RUnlock()
	return j.version
}

// Changed returns a channel that is closed as soon as the journal's
// version is above v (at once if it already is). A viewer that draws only
// when something changed waits on it; a test waits on it instead of
// sleeping.
func (j *Journal) Changed(v uint64) <-chan struct{} {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if j.version > v {
		c := make(chan struct{})
		close(c)
		return c
	}
	return j.changed
}

// Add registers a run with its state and the history it already has (a
// restored run), after the runs already there. Adding a run id that is
// present replaces it.
func (j *Journal) Add(info RunInfo, h History) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.runs[info.ID]
	if !ok {
		r = &journalRun{}
		j.runs[info.ID] = r
		j.order = append(j.order, info.ID)
	}
	epoch := r.epoch + 1
	*r = journalRun{info: info, pointStride: 1, evalStride: 1, epoch: epoch,
		points: slices.Clone(h.Points), evals: slices.Clone(h.Evals), events: slices.Clone(h.Events)}
	for _, s := range h.Samples {
		r.addSample(s)
	}
	j.thin(r)
	j.bump(r)
}

// Remove forgets run id.
func (j *Journal) Remove(id RunID) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.runs[id]; !ok {
		return
	}
	delete(j.runs, id)
	j.order = slices.DeleteFunc(j.order, func(x RunID) bool { return x == id })
	j.bump(nil)
}

// SetInfo replaces a run's state (ignored for a run not added).
func (j *Journal) SetInfo(info RunInfo) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if r := j.runs[info.ID]; r != nil {
		r.info = info
		j.bump(r)
	}
}

// Put appends one update to its run's history (a RunInfo replaces the
// state). Updates for runs not added are ignored.
func (j *Journal) Put(u Update) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r := j.runs[u.RunOf()]
	if r == nil {
		return
	}
	switch v := u.(type) {
	case Point:
		r.points = append(r.points, v)
		if len(r.points) > j.limit {
			j.thin(r)
		}
	case EvalPoint:
		r.evals = append(r.evals, v)
		if len(r.evals) > j.limit {
			j.thin(r)
		}
	case Event:
		r.events = append(r.events, v)
	case Sample:
		r.addSample(v)
	case RunInfo:
		r.info = v
	}
	j.bump(r)
}

func (r *journalRun) addSample(s Sample) {
	r.samples = append(r.samples, s)
	if n := len(r.samples) - maxJournalSamples; n > 0 {
		r.samples = slices.Delete(r.samples, 0, n)
		r.samplesBase += n
	}
}

// thin bounds r's points and evaluations, starting a new epoch when it
// dropped anything.
func (j *Journal) thin(r *journalRun) {
	var a, b bool
	r.points, r.pointStride, a = thinned(r.points, j.limit, r.pointStride, func(p Point) int { return p.Step })
	r.evals, r.evalStride, b = thinned(r.evals, j.limit, r.evalStride, func(e EvalPoint) int { return e.Step })
	if a || b {
		r.epoch++
	}
}

// thinned keeps xs (sorted by step) under limit: the newest limit/4 stay;
// of the older ones only the first in each bucket of stride steps
// (counted from the first item's step) stays, stride doubling while they
// do not fit in half the limit (so at most 3/4 of the limit remains, and
// the next thinning is a quarter of the limit away). The first item is always kept. Buckets of a
// doubled stride are unions of the old ones, so resolution stays even
// across the thinned part.
func thinned[T any](xs []T, limit, stride int, step func(T) int) ([]T, int, bool) {
	if len(xs) <= limit {
		return xs, stride, false
	}
	tail := limit / 4
	head := xs[:len(xs)-tail]
	first := step(head[0])
	var kept []T
	for {
		kept = kept[:0]
		last := -1
		for _, x := range head {
			if b := (step(x) - first) / stride; b != last {
				kept = append(kept, x)
				last = b
			}
		}
		if len(kept) <= limit/2 {
			break
		}
		stride *= 2
	}
	out := make([]T, 0, len(kept)+tail+limit/4)
	out = append(append(out, kept...), xs[len(xs)-tail:]...)
	return out, stride, true
}

// Runs returns every run's state, in the order they were added.
func (j *Journal) Runs() []RunInfo {
	j.mu.RLock()
	defer j.mu.RUnlock()
	out := make([]RunInfo, 0, len(j.order))
	for _, id := range j.order {
		out = append(out, j.runs[id].info)
	}
	return out
}

// History returns a copy of what run id holds (bounded as described on
// Journal).
func (j *Journal) History(id RunID) (History, bool) {
	j.mu.RLock()
	defer j.mu.RUnlock()
	r, ok := j.runs[id]
	if !ok {
		return History{}, false
	}
	return History{Points: slices.Clone(r.points), Evals: slices.Clone(r.evals),
		Events: slices.Clone(r.events), Samples: slices.Clone(r.samples)}, true
}

// AllFinished reports whether no run can step any more (none running or
// paused).
func (j *Journal) AllFinished() bool {
	j.mu.RLock()
	defer j.mu.RUnlock()
	for _, id := range j.order {
		if !j.runs[id].info.State.Finished() {
			return false
		}
	}
	return true
}

// A Cursor is how far a viewer has read a journal. The zero Cursor has
// read nothing. Each viewer keeps its own and passes it to Since, which
// returns the next one; the lab keeps no state per viewer.
type Cursor struct {
	// Version is the journal's version when this cursor was made.
	Version uint64
	// Runs is, per run the viewer holds, how much of it it holds.
	Runs map[RunID]RunCursor
}

// RunCursor is how much of one run a viewer holds: the counts of points,
// evaluations and events of the run's current epoch, and of samples since
// the run began.
type RunCursor struct {
	Epoch   uint64
	Points  int
	Evals   int
	Events  int
	Samples int
}

// Changes is what Since returns: what happened after a cursor.
type Changes struct {
	// Next is the cursor to pass to the next Since.
	Next Cursor
	// Same is set when nothing changed; Runs is then empty and the viewer
	// keeps what it has.
	Same bool
	// Runs is every run, in the lab's order, each with what is new to
	// this viewer. A run the viewer holds that is not listed was removed.
	Runs []RunChanges
	// Closed is set when the lab has stopped: nothing will change again.
	Closed bool
}

// RunChanges is one run's news for a viewer.
type RunChanges struct {
	// Info is the run's state now: its step, loss, learning rate and
	// state as the lab has them at this moment.
	Info RunInfo
	// Reset is set when the viewer's copy of this run is not a prefix of
	// the lab's any more (the run is new to the viewer, or its history was
	// thinned or replaced): the viewer drops what it holds and takes
	// Points, Evals, Events and Samples as the run's whole history.
	// Otherwise they are what follows what the viewer holds, in order.
	Reset   bool
	Points  []Point
	Evals   []EvalPoint
	Events  []Event
	Samples []Sample
}

// Since returns what changed after cursor c. It copies only what is new to
// the viewer, so a viewer pulling at its frame rate costs little; it never
// waits for a training step.
func (j *Journal) Since(c Cursor) Changes {
	j.mu.RLock()
	defer j.mu.RUnlock()
	if c.Runs != nil && c.Version == j.version {
		return Changes{Next: c, Same: true}
	}
	next := Cursor{Version: j.version, Runs: make(map[RunID]RunCursor, len(j.order))}
	out := Changes{Next: next, Runs: make([]RunChanges, 0, len(j.order))}
	for _, id := range j.order {
		r := j.runs[id]
		rc := RunChanges{Info: r.info}
		cur, held := c.Runs[id]
		if !held || cur.Epoch != r.epoch {
			rc.Reset = true
			cur = RunCursor{Epoch: r.epoch}
		}
		if rc.Reset || r.version > c.Version {
			rc.Points = slices.Clone(r.points[min(cur.Points, len(r.points)):])
			rc.Evals = slices.Clone(r.evals[min(cur.Evals, len(r.evals)):])
			rc.Events = slices.Clone(r.events[min(cur.Events, len(r.events)):])
			from := max(cur.Samples-r.samplesBase, 0)
			rc.Samples = slices.Clone(r.samples[min(from, len(r.samples)):])
		}
		next.Runs[id] = RunCursor{Epoch: r.epoch, Points: len(r.points), Evals: len(r.evals),
			Events: len(r.events), Samples: r.samplesBase + len(r.samples)}
		out.Runs = append(out.Runs, rc)
	}
	return out
}

// Updates flattens one run's news into the order the lab reported it in,
// as far as steps tell: by step, and at the same step the training point
// first, then evaluations, samples and events. A viewer that logs lines
// (rather than drawing the state) reads them this way.
func (rc RunChanges) Updates() []Update {
	out := make([]Update, 0, len(rc.Points)+len(rc.Evals)+len(rc.Events)+len(rc.Samples))
	p, e, s, v := 0, 0, 0, 0
	for p < len(rc.Points) || e < len(rc.Evals) || s < len(rc.Samples) || v < len(rc.Events) {
		step := int(^uint(0) >> 1)
		if p < len(rc.Points) {
			step = min(step, rc.Points[p].Step)
		}
		if e < len(rc.Evals) {
			step = min(step, rc.Evals[e].Step)
		}
		if s < len(rc.Samples) {
			step = min(step, rc.Samples[s].Step)
		}
		if v < len(rc.Events) {
			step = min(step, rc.Events[v].Step)
		}
		for ; p < len(rc.Points) && rc.Points[p].Step == step; p++ {
			out = append(out, rc.Points[p])
		}
		for ; e < len(rc.Evals) && rc.Evals[e].Step == step; e++ {
			out = append(out, rc.Evals[e])
		}
		for ; s < len(rc.Samples) && rc.Samples[s].Step == step; s++ {
			out = append(out, rc.Samples[s])
		}
		for ; v < len(rc.Events) && rc.Events[v].Step == step; v++ {
			out = append(out, rc.Events[v])
		}
	}
	return out
}

// A Tail reads a lab (or any journal) as a stream of updates, each once and
// in order, for a viewer that prints lines rather than drawing state (the
// headless `mealab train` log). It pulls; the lab never waits for it. After
// the journal thinned a run it skips what it already passed.
type Tail struct {
	cur   Cursor
	upTo  map[RunID]int   // the last step passed on, per run
	state map[RunID]State // the state last passed on, per run
}

// Pull returns the updates that arrived since the last Pull, run by run
// in the lab's order: a run's RunInfo first when the run is new to the
// tail, its points, evaluations, samples and events, and its RunInfo
// again when its state changed. It also says whether the lab has closed.
func (t *Tail) Pull(src interface{ Since(Cursor) Changes }) ([]Update, bool) {
	if t.upTo == nil {
		t.upTo, t.state = map[RunID]int{}, map[RunID]State{}
	}
	ch := src.Since(t.cur)
	t.cur = ch.Next
	var out []Update
	for _, rc := range ch.Runs {
		id := rc.Info.ID
		last, seen := t.upTo[id]
		st, known := t.state[id]
		if !known {
			out = append(out, rc.Info)
		}
		for _, u := range rc.Updates() {
			s := updateStep(u)
			if rc.Reset && seen && s <= last {
				continue
			}
			out = append(out, u)
			t.upTo[id] = max(t.upTo[id], s)
		}
		if known && st != rc.Info.State {
			out = append(out, rc.Info)
		}
		t.state[id] = rc.Info.State
	}
	return out, ch.Closed
}

// Skip passes over everything the lab holds now (a reopened session's
// history), so the next Pull returns only what happens after.
func (t *Tail) Skip(src interface{ Since(Cursor) Changes }) { t.Pull(src) }

// Version is the version of the lab at the last Pull, for Lab.Changed.
func (t *Tail) Version() uint64 { return t.cur.Version }

func updateStep(u Update) int {
	switch v := u.(type) {
	case Point:
		return v.Step
	case EvalPoint:
		return v.Step
	case Event:
		return v.Step
	case Sample:
		return v.Step
	case RunInfo:
		return v.Step
	}
	return 0
}
