package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// Follower reads a session that other processes are writing (a sweep's
// array tasks, a lab elsewhere) and turns what they append into the same
// updates a trainer.Lab sends: new runs appear, curves grow, states change.
// It never writes. It has the data methods of a lab (Since, Runs,
// History), so the lab's screen can show it: what it reads goes into a
// trainer.Journal that screens pull from. The methods that would change a
// run fail with ErrReadOnly.
type Follower struct {
	sess     *sessions.Session
	interval time.Duration
	j        *trainer.Journal
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once

	mu    sync.Mutex
	runs  map[string]*followed // by directory
	order []string
	warns []string
}

type followed struct {
	dir                      string
	info                     trainer.RunInfo
	hist                     trainer.History
	metrics, events, samples *sessions.Tail
	lastStep, lastEval       int
	seenEvent                map[string]bool
	metaStamp                string
	inJournal                bool
	// metaState is run.json's state. A finished state is shown only once
	// the run's end event has been read: run.json is replaced at once while
	// the last lines reach the logs a moment later (the recorder buffers
	// them), and a table that said "done at step 50 of 60" would be wrong.
	metaState trainer.State
	sawEnd    bool
}

// effectiveState is the state to show (see metaState).
func (fr *followed) effectiveState() trainer.State {
	if fr.metaState.Finished() && !fr.sawEnd {
		return trainer.Running
	}
	return fr.metaState
}

// ErrReadOnly is returned by the Follower's methods that would change a run.
var ErrReadOnly = errors.New("this lab follows a session that other processes write: it is read-only (open the session without --follow to train it)")

// Follow reads the session once (every run and line so far) and returns a
// Follower. Start makes it poll every interval; screens pull with Since.
func Follow(sess *sessions.Session, interval time.Duration) (*Follower, error) {
	if interval <= 0 {
		interval = time.Second
	}
	f := &Follower{sess: sess, interval: interval, j: trainer.NewJournal(0), quit: make(chan struct{}), done: make(chan struct{}),
		runs: map[string]*followed{}}
	if _, err := f.Poll(); err != nil {
		return nil, err
	}
	return f, nil
}

// Start polls in the background until Close; what it finds goes into the
// journal that Since serves.
func (f *Follower) Start() {
	go func() {
		defer close(f.done)
		t := time.NewTicker(f.interval)
		defer t.Stop()
		for {
			select {
			case <-f.quit:
				return
			case <-t.C:
			}
			_, _ = f.Poll()
		}
	}()
}

// Since returns what changed after cursor c, as trainer.Lab.Since does;
// Closed is set once the Follower is closed.
func (f *Follower) Since(c trainer.Cursor) trainer.Changes {
	ch := f.j.Since(c)
	select {
	case <-f.quit:
		ch.Closed = true
	default:
	}
	return ch
}

// journal takes one update into the journal; f.mu is held.
func (f *Follower) journal(fr *followed, u trainer.Update) {
	if in, ok := u.(trainer.RunInfo); ok && !fr.inJournal {
		f.j.Add(in, trainer.History{})
		fr.inJournal = true
		return
	}
	f.j.Put(u)
}

// Close stops polling.
func (f *Follower) Close() {
	f.once.Do(func() { close(f.quit) })
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
	}
}

// Poll reads what was added since the last call and returns it as updates.
// Lines still being written wait for the next poll; a run directory being
// created appears once it is complete.
func (f *Follower) Poll() ([]trainer.Update, error) {
	dirs, err := f.sess.Runs()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var ups []trainer.Update
	for _, d := range dirs {
		fr := f.runs[d]
		if fr == nil {
			sr, err := f.sess.OpenRun(d)
			if err != nil {
				continue // being created by an older mealab, or damaged: try again next time
			}
			fr = &followed{dir: d, metrics: sr.TailMetrics(), events: sr.TailEvents(), samples: sr.TailSamples(), seenEvent: map[string]bool{}}
			fr.info.Loss, fr.info.ValLoss, fr.info.BestVal, fr.info.Recall = math.NaN(), math.NaN(), math.NaN(), math.NaN()
			if ok, _ := f.readMeta(fr, sr); !ok {
				continue
			}
			f.runs[d] = fr
			f.order = append(f.order, d)
			fr.info.State = trainer.Running
			var mine []trainer.Update
			mine = append(mine, fr.info) // first, as a lab announces a run before its points
			mine = append(mine, f.readLines(fr)...)
			fr.info.State = fr.effectiveState()
			mine = append(mine, fr.info) // with the numbers of its last point
			for _, u := range mine {
				f.journal(fr, u)
			}
			ups = append(ups, mine...)
			continue
		}
		changed := false
		if sr, err := f.sess.OpenRun(d); err == nil {
			_, changed = f.readMeta(fr, sr)
		}
		mine := f.readLines(fr)
		if st := fr.effectiveState(); st != fr.info.State {
			fr.info.State, changed = st, true
		}
		if changed {
			mine = append(mine, fr.info)
		}
		for _, u := range mine {
			f.journal(fr, u)
		}
		ups = append(ups, mine...)
	}
	return ups, nil
}

// readMeta refreshes a run's name, config and state from run.json.
func (f *Follower) readMeta(fr *followed, sr *sessions.Run) (ok, changed bool) {
	var m RunMeta
	if err := sr.LoadMeta(&m); err != nil {
		return false, false
	}
	b, _ := json.Marshal(m)
	if string(b) == fr.metaStamp {
		return true, false
	}
	fr.metaStamp = string(b)
	spec := m.Config
	if spec.Name == "" {
		spec.Name = m.Name
	}
	c := spec.Model.Normalized()
	in := &fr.info
	in.ID, in.Name, in.Parent, in.Spec = m.ID, m.Name, m.Parent, spec
	in.Variant, in.Heads, in.KVHeads, in.CachedHeads = c.Variant(), c.Heads, c.KVHeads, c.CachedHeads()
	in.MHA = !c.HLC && !c.GroupNorm && len(c.LayerKV) == 0 && c.KVHeads == c.Heads
	in.LR, in.Steps, in.KVBytesPerToken = spec.Sched.Peak, spec.Sched.Total, c.KVBytesPerToken(4)
	if c.Validate() == nil {
		in.Params = model.NewLayout(c).Size
	}
	fr.metaState = parseState(m.State)
	return true, true
}

func parseState(s string) trainer.State {
	for st := trainer.Running; st <= trainer.Diverged; st++ {
		if st.String() == s {
			return st
		}
	}
	return trainer.Running
}

// readLines reads the new lines of a run's logs. A run resumed from a
// checkpoint repeats the steps after it (bit for bit); those repeats are
// not sent again.
func (f *Follower) readLines(fr *followed) []trainer.Update {
	var ups []trainer.Update
	id := fr.info.ID
	rep, err := fr.metrics.Next(func(raw json.RawMessage) error {
		var m metricLine
		if json.Unmarshal(raw, &m) != nil {
			return nil
		}
		switch m.Type {
		case "step":
			if m.Step <= fr.lastStep {
				return nil
			}
			fr.lastStep = m.Step
			p := trainer.Point{Run: id, Step: m.Step, Tokens: m.Tokens, Wall: float64(m.Wall), Loss: float64(m.Loss),
				LR: m.LR, GradNorm: float64(m.GradNorm), MaxLogit: float64(m.MaxLogit), TokPerSec: float64(m.TokPerSec)}
			fr.hist.Points = append(fr.hist.Points, p)
			in := &fr.info
			in.Step, in.Tokens, in.Wall, in.Loss, in.CurLR, in.TokPerSec = p.Step, p.Tokens, p.Wall, p.Loss, p.LR, p.TokPerSec
			ups = append(ups, p)
		case "eval":
			if m.Step <= fr.lastEval && len(fr.hist.Evals) > 0 {
				return nil
			}
			fr.lastEval = m.Step
			e := trainer.EvalPoint{Run: id, Step: m.Step, Tokens: m.Tokens, Wall: float64(m.Wall), ValLoss: float64(m.ValLoss), Recall: float64(m.Recall)}
			fr.hist.Evals = append(fr.hist.Evals, e)
			in := &fr.info
			in.ValLoss, in.Recall = e.ValLoss, e.Recall
			if math.IsNaN(in.BestVal) || e.ValLoss < in.BestVal {
				in.BestVal = e.ValLoss
			}
			ups = append(ups, e)
		}
		return nil
	})
	f.note(fr, "metrics", rep, err)
	rep, err = fr.events.Next(func(raw json.RawMessage) error {
		var e eventLine
		if json.Unmarshal(raw, &e) != nil {
			return nil
		}
		e.Event.ApproxErr, e.Event.LossAfter = float64(e.ApproxErr), float64(e.LossAfter)
		key := strconv.Itoa(e.Step) + e.Kind + e.Detail
		if fr.seenEvent[key] {
			return nil
		}
		fr.seenEvent[key] = true
		switch e.Kind {
		case "done", "stop", "diverged":
			fr.sawEnd = true
		case "resume", "start":
			fr.sawEnd = false
		}
		e.Event.Run = id
		fr.hist.Events = append(fr.hist.Events, e.Event)
		ups = append(ups, e.Event)
		return nil
	})
	f.note(fr, "events", rep, err)
	rep, err = fr.samples.Next(func(raw json.RawMessage) error {
		var s trainer.Sample
		if json.Unmarshal(raw, &s) != nil {
			return nil
		}
		if n := len(fr.hist.Samples); n > 0 && fr.hist.Samples[n-1].Step >= s.Step {
			return nil
		}
		s.Run = id
		fr.hist.Samples = append(fr.hist.Samples, s)
		ups = append(ups, s)
		return nil
	})
	f.note(fr, "samples", rep, err)
	return ups
}

func (f *Follower) note(fr *followed, what string, rep sessions.ReadReport, err error) {
	if err != nil {
		f.warns = append(f.warns, fmt.Sprintf("run %s %s: %v", fr.info.Name, what, err))
	}
	for _, w := range rep.Warnings {
		f.warns = append(f.warns, fmt.Sprintf("run %s %s: %s", fr.info.Name, what, w))
	}
}

// Warnings returns (and forgets) what the reads noticed.
func (f *Follower) Warnings() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.warns
	f.warns = nil
	return w
}

// Runs returns every run seen so far, in order of id.
func (f *Follower) Runs() []trainer.RunInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []trainer.RunInfo
	for _, d := range f.order {
		out = append(out, f.runs[d].info)
	}
	slices.SortStableFunc(out, func(a, b trainer.RunInfo) int { return int(a.ID - b.ID) })
	return out
}

// History returns what the run has reported so far.
func (f *Follower) History(id trainer.RunID) (trainer.History, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range f.order {
		if fr := f.runs[d]; fr.info.ID == id {
			h := fr.hist
			return trainer.History{Points: slices.Clone(h.Points), Evals: slices.Clone(h.Evals), Events: slices.Clone(h.Events), Samples: slices.Clone(h.Samples)}, true
		}
	}
	return trainer.History{}, false
}

// Add and the other mutating methods of a lab fail: a follower is read-only.
func (f *Follower) Add(trainer.RunSpec) (trainer.RunID, error) { return 0, ErrReadOnly }

// Pause fails with ErrReadOnly.
func (f *Follower) Pause(trainer.RunID) error { return ErrReadOnly }

// Resume fails with ErrReadOnly.
func (f *Follower) Resume(trainer.RunID) error { return ErrReadOnly }

// Stop fails with ErrReadOnly.
func (f *Follower) Stop(trainer.RunID) error { return ErrReadOnly }

// Remove fails with ErrReadOnly.
func (f *Follower) Remove(trainer.RunID) error { return ErrReadOnly }

// SetLR fails with ErrReadOnly.
func (f *Follower) SetLR(trainer.RunID, float64) error { return ErrReadOnly }

// Apply fails with ErrReadOnly.
func (f *Follower) Apply(trainer.RunID, model.Op, bool) (trainer.RunID, error) { return 0, ErrReadOnly }

// Restart fails with ErrReadOnly.
func (f *Follower) Restart(trainer.RunID, int) (trainer.RunID, error) { return 0, ErrReadOnly }

// Preview fails with ErrReadOnly: a followed run cannot be operated on.
func (f *Follower) Preview(trainer.RunID, model.Op) (model.Report, error) {
	return model.Report{}, ErrReadOnly
}

// Mixing is not available: the follower has no weights.
func (f *Follower) Mixing(trainer.RunID, int) (trainer.Mixing, error) {
	return trainer.Mixing{}, errors.New("the mixing matrices need the run's weights, which a follower does not load")
}

// AttentionMap is not available: the follower has no weights.
func (f *Follower) AttentionMap(trainer.RunID, int, int) ([]float64, int, []string, error) {
	return nil, 0, nil, errors.New("attention maps need the run's weights, which a follower does not load")
}
