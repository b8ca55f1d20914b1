// Package record keeps a trainer.Lab in a sessions.Session: every metric,
// event and sample as JSON lines, checkpoints of every run as safetensors,
// and the way back: Resume rebuilds the lab's runs, curves and events from
// disk and continues each run from its last checkpoint. It writes nothing
// itself; all files go through package sessions.
package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// DefaultKeep is how many checkpoints per run are kept.
const DefaultKeep = 3

// SessionMeta is what session.json holds besides the sessions package's own
// fields.
type SessionMeta struct {
	Preset string `json:"preset"`
	Note   string `json:"note,omitempty"`
}

// RunMeta is what run.json holds.
type RunMeta struct {
	ID     trainer.RunID   `json:"id"`
	Name   string          `json:"name"`
	Parent trainer.RunID   `json:"parent,omitempty"`
	Config trainer.RunSpec `json:"config"`
	State  string          `json:"state"`
}

// Recorder writes a lab's updates into a session. Record and Checkpoint are
// called on the lab's goroutine (as Options.Sink and Options.OnCheckpoint);
// the rest from anywhere.
type Recorder struct {
	Session *sessions.Session
	Keep    int

	mu   sync.Mutex
	runs map[trainer.RunID]*sessions.Run
	meta map[trainer.RunID]RunMeta
	err  error // first write error, reported by Err
}

// New records into sess.
func New(sess *sessions.Session) *Recorder {
	return &Recorder{Session: sess, Keep: DefaultKeep, runs: map[trainer.RunID]*sessions.Run{}, meta: map[trainer.RunID]RunMeta{}}
}

// Err returns the first error writing the session (a full disk, say), so a
// caller can tell the person; training is never stopped by it.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Recorder) fail(err error) {
	if err != nil && r.err == nil {
		r.err = err
	}
}

// dirName turns a run's display name ("mea>svd2", "mha@1e-3") into a
// session run directory name.
func dirName(id trainer.RunID, name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "r%d-", id)
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
			b.WriteRune(c)
		case c == '>':
			b.WriteString("_to_")
		case c == '@':
			b.WriteString("_lr")
		case c == '+':
			b.WriteString("plus")
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// run returns the session run of id, creating it from info when new.
func (r *Recorder) run(info trainer.RunInfo) *sessions.Run {
	if sr, ok := r.runs[info.ID]; ok {
		return sr
	}
	m := RunMeta{ID: info.ID, Name: info.Name, Parent: info.Parent, Config: info.Spec, State: info.State.String()}
	sr, err := r.Session.CreateRun(dirName(info.ID, info.Name), m)
	if errors.Is(err, sessions.ErrExists) {
		sr, err = r.Session.OpenRun(dirName(info.ID, info.Name))
		if err == nil {
			err = sr.SaveMeta(m)
		}
	}
	if err != nil {
		r.fail(fmt.Errorf("record run %s: %w", info.Name, err))
		return nil
	}
	_ = sr.SetBuffered(true)
	r.runs[info.ID] = sr
	r.meta[info.ID] = m
	return sr
}

// Wire-format records: NaN and Inf survive as strings through JSONFloat.
type metricLine struct {
	Type      string             `json:"type"` // "step" or "eval"
	Step      int                `json:"step"`
	Tokens    int64              `json:"tokens"`
	Wall      sessions.JSONFloat `json:"wall"`
	Loss      sessions.JSONFloat `json:"loss,omitempty"`
	LR        float64            `json:"lr,omitempty"`
	GradNorm  sessions.JSONFloat `json:"grad_norm,omitempty"`
	MaxLogit  sessions.JSONFloat `json:"max_logit,omitempty"`
	TokPerSec sessions.JSONFloat `json:"tok_per_sec,omitempty"`
	ValLoss   sessions.JSONFloat `json:"val_loss,omitempty"`
	Recall    sessions.JSONFloat `json:"recall,omitempty"`
}

type eventLine struct {
	trainer.Event
	ApproxErr sessions.JSONFloat `json:"approx_err,omitempty"`
	LossAfter sessions.JSONFloat `json:"loss_after,omitempty"`
}

// Record is the lab's Sink.
func (r *Recorder) Record(u trainer.Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if info, ok := u.(trainer.RunInfo); ok {
		sr := r.run(info)
		if sr == nil {
			return
		}
		m := RunMeta{ID: info.ID, Name: info.Name, Parent: info.Parent, Config: info.Spec, State: info.State.String()}
		if old := r.meta[info.ID]; !sameMeta(old, m) {
			r.fail(sr.SaveMeta(m))
			r.meta[info.ID] = m
		}
		return
	}
	sr := r.runs[u.RunOf()]
	if sr == nil {
		return // a run is created by its first RunInfo, which Add sends before any point
	}
	switch v := u.(type) {
	case trainer.Point:
		r.fail(sr.AppendMetric(metricLine{Type: "step", Step: v.Step, Tokens: v.Tokens, Wall: sessions.JSONFloat(v.Wall),
			Loss: sessions.JSONFloat(v.Loss), LR: v.LR, GradNorm: sessions.JSONFloat(v.GradNorm), MaxLogit: sessions.JSONFloat(v.MaxLogit),
			TokPerSec: sessions.JSONFloat(v.TokPerSec)}))
	case trainer.EvalPoint:
		r.fail(sr.AppendMetric(metricLine{Type: "eval", Step: v.Step, Tokens: v.Tokens, Wall: sessions.JSONFloat(v.Wall),
			ValLoss: sessions.JSONFloat(v.ValLoss), Recall: sessions.JSONFloat(v.Recall)}))
	case trainer.Event:
		if v.Kind == "removed" {
			r.remove(sr, v)
			return
		}
		r.fail(sr.AppendEvent(eventLine{Event: v, ApproxErr: sessions.JSONFloat(v.ApproxErr), LossAfter: sessions.JSONFloat(v.LossAfter)}))
	case trainer.Sample:
		r.fail(sr.AppendSample(v))
	}
}

// removalRecord is what a session keeps about a removed run.
type removalRecord struct {
	ID     trainer.RunID `json:"id"`
	Name   string        `json:"name"`
	Step   int           `json:"step"`
	Detail string        `json:"detail"`
}

// remove takes a removed run out of the session for good (the lab sends
// nothing of it after this event), so reopening the session does not bring
// it back. r.mu is held.
func (r *Recorder) remove(sr *sessions.Run, e trainer.Event) {
	r.fail(sr.Close())
	m := r.meta[e.Run]
	r.fail(r.Session.RemoveRun(sr.Name(), removalRecord{ID: e.Run, Name: m.Name, Step: e.Step, Detail: e.Detail}))
	delete(r.runs, e.Run)
	delete(r.meta, e.Run)
}

func sameMeta(a, b RunMeta) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// stateMeta is the non-tensor part of a checkpoint, in its metadata.
type stateMeta struct {
	ID        trainer.RunID      `json:"id"`
	Parent    trainer.RunID      `json:"parent,omitempty"`
	Step      int                `json:"step"`
	Tokens    int64              `json:"tokens"`
	Wall      float64            `json:"wall"`
	State     trainer.State      `json:"state"`
	Reason    string             `json:"reason,omitempty"`
	DivAt     int                `json:"diverged_at,omitempty"`
	FirstLoss sessions.JSONFloat `json:"first_loss"`
	LastLoss  sessions.JSONFloat `json:"last_loss"`
	LastVal   sessions.JSONFloat `json:"last_val"`
	BestVal   sessions.JSONFloat `json:"best_val"`
	Recall    sessions.JSONFloat `json:"recall"`
	OptSteps  int64              `json:"optimizer_steps"`
	Stream    []byte             `json:"data_stream"`
}

// Checkpoint is the lab's OnCheckpoint: it writes the run's state as a
// safetensors file with Llama-style tensor names, the AdamW moments as
// "optimizer.exp_avg.<name>" and "optimizer.exp_avg_sq.<name>" (PyTorch's
// words), and the spec and counters in the metadata.
func (r *Recorder) Checkpoint(st trainer.RunState) {
	r.mu.Lock()
	sr := r.runs[st.ID]
	r.mu.Unlock()
	if sr == nil {
		return
	}
	// The logs go out first: a checkpoint must never be ahead of the
	// metrics on disk, or a run resumed from it would leave a gap in its
	// curve (found by the SIGKILL test).
	err := sr.Flush()
	var tensors []sessions.Tensor
	var meta map[string]string
	if err == nil {
		tensors, meta, err = Encode(st)
	}
	if err == nil {
		_, err = sr.SaveCheckpoint(int64(st.Step), tensors, meta, r.Keep)
	}
	if err != nil {
		r.mu.Lock()
		r.fail(fmt.Errorf("checkpoint %s at step %d: %w", st.Spec.Name, st.Step, err))
		r.mu.Unlock()
	}
}

// Encode turns a run state into checkpoint tensors and metadata.
func Encode(st trainer.RunState) ([]sessions.Tensor, map[string]string, error) {
	l := trainer.LayoutOf(st.Spec)
	if l.Size != len(st.Params) {
		return nil, nil, fmt.Errorf("state has %d parameters, its config %d", len(st.Params), l.Size)
	}
	var ts []sessions.Tensor
	for _, t := range l.Tensors {
		ts = append(ts, sessions.F32Tensor(t.Name, t.Shape, st.Params[t.Off:t.Off+t.Len]))
	}
	for _, t := range l.Tensors {
		ts = append(ts, sessions.F32Tensor("optimizer.exp_avg."+t.Name, t.Shape, st.M[t.Off:t.Off+t.Len]))
		ts = append(ts, sessions.F32Tensor("optimizer.exp_avg_sq."+t.Name, t.Shape, st.V[t.Off:t.Off+t.Len]))
	}
	spec, err := json.Marshal(st.Spec)
	if err != nil {
		return nil, nil, err
	}
	cfg, _ := json.Marshal(st.Spec.Model)
	sm, err := json.Marshal(stateMeta{ID: st.ID, Parent: st.Parent, Step: st.Step, Tokens: st.Tokens, Wall: st.Wall, State: st.State,
		Reason: st.Reason, DivAt: st.DivAt, FirstLoss: sessions.JSONFloat(st.FirstLoss), LastLoss: sessions.JSONFloat(st.LastLoss),
		LastVal: sessions.JSONFloat(st.LastVal), BestVal: sessions.JSONFloat(st.BestVal), Recall: sessions.JSONFloat(st.Recall),
		OptSteps: st.OptSteps, Stream: st.Stream})
	if err != nil {
		return nil, nil, err
	}
	return ts, map[string]string{"model_config": string(cfg), "run_spec": string(spec), "run_state": string(sm)}, nil
}

// Decode is the inverse of Encode.
func Decode(tensors []sessions.Tensor, meta map[string]string) (trainer.RunState, error) {
	var st trainer.RunState
	if err := json.Unmarshal([]byte(meta["run_spec"]), &st.Spec); err != nil {
		return st, fmt.Errorf("checkpoint metadata run_spec: %w", err)
	}
	var sm stateMeta
	if err := json.Unmarshal([]byte(meta["run_state"]), &sm); err != nil {
		return st, fmt.Errorf("checkpoint metadata run_state: %w", err)
	}
	if err := st.Spec.Validate(); err != nil {
		return st, fmt.Errorf("checkpoint's run spec: %w", err)
	}
	st.ID, st.Parent, st.Step, st.Tokens, st.Wall = sm.ID, sm.Parent, sm.Step, sm.Tokens, sm.Wall
	st.State, st.Reason, st.DivAt, st.OptSteps, st.Stream = sm.State, sm.Reason, sm.DivAt, sm.OptSteps, sm.Stream
	st.FirstLoss, st.LastLoss, st.LastVal, st.BestVal, st.Recall = float64(sm.FirstLoss), float64(sm.LastLoss), float64(sm.LastVal), float64(sm.BestVal), float64(sm.Recall)
	l := trainer.LayoutOf(st.Spec)
	byName := map[string]sessions.Tensor{}
	for _, t := range tensors {
		byName[t.Name] = t
	}
	st.Params, st.M, st.V = make([]float32, l.Size), make([]float32, l.Size), make([]float32, l.Size)
	for _, t := range l.Tensors {
		for dst, name := range map[*[]float32]string{&st.Params: t.Name, &st.M: "optimizer.exp_avg." + t.Name, &st.V: "optimizer.exp_avg_sq." + t.Name} {
			ten, ok := byName[name]
			if !ok {
				return st, fmt.Errorf("checkpoint lacks tensor %s", name)
			}
			if !slices.Equal(ten.Shape, t.Shape) {
				return st, fmt.Errorf("tensor %s has shape %v, its config says %v", name, ten.Shape, t.Shape)
			}
			v, err := ten.Float32s()
			if err != nil {
				return st, fmt.Errorf("tensor %s: %w", name, err)
			}
			copy((*dst)[t.Off:t.Off+t.Len], v)
		}
	}
	return st, nil
}

// SaveAll checkpoints every run of the lab now and flushes. All runs are
// copied at one instant; called after the lab is closed (on quit or
// Ctrl-C), the checkpoints are at exactly the steps the logs end with and
// the lab's table shows, so a resumed run repeats no step.
func (r *Recorder) SaveAll(l *trainer.Lab) error {
	states, err := l.SnapshotAll()
	for _, st := range states {
		r.Checkpoint(st)
	}
	r.Flush()
	return errors.Join(err, r.Err())
}

// Flush pushes buffered lines to the OS.
func (r *Recorder) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sr := range r.runs {
		r.fail(sr.Flush())
	}
}

// Close flushes and closes every run's files.
func (r *Recorder) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, sr := range r.runs {
		r.fail(sr.Close())
	}
	return r.err
}

// Loaded is one run read back from a session.
type Loaded struct {
	Meta     RunMeta
	State    *trainer.RunState // nil when no checkpoint could be read
	History  trainer.History
	Warnings []string
}

// Load reads every run of a session: metadata, curves, events, samples and
// the latest readable checkpoint. A broken run does not stop the others: its
// problems are in Warnings.
func Load(sess *sessions.Session) ([]Loaded, error) {
	names, err := sess.Runs()
	if err != nil {
		return nil, err
	}
	var out []Loaded
	for _, n := range names {
		sr, err := sess.OpenRun(n)
		if err != nil {
			out = append(out, Loaded{Meta: RunMeta{Name: n}, Warnings: []string{err.Error()}})
			continue
		}
		ld := Loaded{}
		if err := sr.LoadMeta(&ld.Meta); err != nil {
			ld.Meta.Name = n
			ld.Warnings = append(ld.Warnings, fmt.Sprintf("run %s: %v", n, err))
			out = append(out, ld)
			continue
		}
		loadBody(sr, &ld)
		out = append(out, ld)
	}
	slices.SortFunc(out, func(a, b Loaded) int { return int(a.Meta.ID - b.Meta.ID) })
	return out, nil
}

// readHistory reads the JSON-lines files. A run resumed after a crash
// repeats the steps after its last checkpoint, so a point whose step is not
// after the previous one replaces the tail (the repeated segment is
// bit-identical anyway).
func readHistory(sr *sessions.Run, ld *Loaded) {
	id := ld.Meta.ID
	rep, err := sr.ReadMetrics(func(raw json.RawMessage) error {
		var m metricLine
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		switch m.Type {
		case "step":
			pts := ld.History.Points
			for len(pts) > 0 && pts[len(pts)-1].Step >= m.Step {
				pts = pts[:len(pts)-1]
			}
			ld.History.Points = append(pts, trainer.Point{Run: id, Step: m.Step, Tokens: m.Tokens, Wall: float64(m.Wall), Loss: float64(m.Loss),
				LR: m.LR, GradNorm: float64(m.GradNorm), MaxLogit: float64(m.MaxLogit), TokPerSec: float64(m.TokPerSec)})
		case "eval":
			ev := ld.History.Evals
			for len(ev) > 0 && ev[len(ev)-1].Step > m.Step {
				ev = ev[:len(ev)-1]
			}
			if len(ev) > 0 && ev[len(ev)-1].Step == m.Step {
				ev = ev[:len(ev)-1]
			}
			ld.History.Evals = append(ev, trainer.EvalPoint{Run: id, Step: m.Step, Tokens: m.Tokens, Wall: float64(m.Wall),
				ValLoss: float64(m.ValLoss), Recall: float64(m.Recall)})
		}
		return nil
	})
	warn(ld, "metrics", rep, err)
	seen := map[string]bool{}
	rep, err = sr.ReadEvents(func(raw json.RawMessage) error {
		var e eventLine
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		e.Event.ApproxErr, e.Event.LossAfter = float64(e.ApproxErr), float64(e.LossAfter)
		key := strconv.Itoa(e.Step) + e.Kind + e.Detail
		if !seen[key] {
			seen[key] = true
			e.Event.Run = id
			ld.History.Events = append(ld.History.Events, e.Event)
		}
		return nil
	})
	warn(ld, "events", rep, err)
	rep, err = sr.ReadSamples(func(raw json.RawMessage) error {
		var s trainer.Sample
		if err := json.Unmarshal(raw, &s); err != nil {
			return err
		}
		s.Run = id
		ld.History.Samples = append(ld.History.Samples, s)
		return nil
	})
	warn(ld, "samples", rep, err)
}

func warn(ld *Loaded, what string, rep sessions.ReadReport, err error) {
	if err != nil {
		ld.Warnings = append(ld.Warnings, fmt.Sprintf("run %s %s: %v", ld.Meta.Name, what, err))
	}
	for _, w := range rep.Warnings {
		ld.Warnings = append(ld.Warnings, fmt.Sprintf("run %s %s: %s", ld.Meta.Name, what, w))
	}
}

// trimAfter drops what was reported after step: the resumed run reports it
// again.
func trimAfter(h trainer.History, step int) trainer.History {
	h.Points = slices.DeleteFunc(h.Points, func(p trainer.Point) bool { return p.Step > step })
	h.Evals = slices.DeleteFunc(h.Evals, func(p trainer.EvalPoint) bool { return p.Step > step })
	h.Samples = slices.DeleteFunc(h.Samples, func(p trainer.Sample) bool { return p.Step > step })
	h.Events = slices.DeleteFunc(h.Events, func(p trainer.Event) bool { return p.Step > step })
	return h
}

// Resume loads a session into a lab: every run continues from its last
// checkpoint with its curves and events restored (paused when paused is
// set). A run without a readable checkpoint restarts from step 0 with a
// warning. It returns the warnings to show a person.
func Resume(sess *sessions.Session, l *trainer.Lab, rec *Recorder, paused bool) ([]string, error) {
	return ResumeWith(sess, l, rec, ResumeOptions{Paused: paused})
}

// ResumeOptions says how ResumeWith reopens a session.
type ResumeOptions struct {
	// Paused starts running runs paused.
	Paused bool
	// Steps, when positive, is every run's new step budget (see Extend).
	Steps int
	// Note, when set, receives what Extend changed, one line per run.
	Note func(string)
}

// ErrShorten is wrapped by ResumeWith when Steps is below a run's budget:
// a session can be extended, never cut short.
var ErrShorten = errors.New("a reopened session can only be extended")

// Extend sets a reopened run's step budget to steps and says what changed.
// The LR schedule is planned again over the new budget as if the run had
// been started with it: the warm-up is unchanged and the cosine decay is
// stretched to end at steps, so a finished run's LR rises from its floor
// to where the longer cosine is at that step and decays to the floor again
// at the new end (a warm restart; a checkpoint's step, weights, AdamW
// moments and data position are kept). A finished ("done") run runs again;
// a diverged or stopped run is left as it is. steps below the run's budget
// is an error wrapping ErrShorten; equal changes nothing.
func Extend(st *trainer.RunState, steps int) (string, error) {
	old := st.Spec.Sched
	switch {
	case steps == old.Total:
		return "", nil
	case steps < old.Total:
		return "", fmt.Errorf("%w: run %s already plans %d steps; give --steps %d or more", ErrShorten, st.Spec.Name, old.Total, old.Total)
	case st.State == trainer.Diverged || st.State == trainer.Stopped:
		return fmt.Sprintf("run %s is %s at step %d and is not extended", st.Spec.Name, st.State, st.Step), nil
	}
	st.Spec.Sched.Total = steps
	if st.State == trainer.Done {
		st.State, st.Reason = trainer.Running, ""
	}
	now := st.Spec.Sched
	return fmt.Sprintf("run %s extended from %d to %d steps: the cosine LR schedule is stretched to end at step %d, so at step %d the LR goes from %.2e to %.2e and decays to %.2e at step %d",
		st.Spec.Name, old.Total, steps, steps, st.Step+1, old.LR(st.Step), now.LR(st.Step), now.LR(steps), steps), nil
}

// CheckExtend reports, without touching a lab, whether ResumeWith can
// extend the session's runs to steps (an error wrapping ErrShorten if not).
func CheckExtend(sess *sessions.Session, steps int) error {
	runs, err := Load(sess)
	if err != nil {
		return err
	}
	for _, ld := range runs {
		if ld.Meta.Config.Model.Vocab == 0 {
			continue
		}
		st := trainer.RunState{Spec: ld.Meta.Config}
		if ld.State != nil {
			st = *ld.State
		}
		st.Spec.Name = ld.Meta.Name
		if _, err := Extend(&st, steps); err != nil {
			return err
		}
	}
	return nil
}

// ResumeWith is Resume with options.
func ResumeWith(sess *sessions.Session, l *trainer.Lab, rec *Recorder, o ResumeOptions) ([]string, error) {
	paused := o.Paused
	runs, err := Load(sess)
	if err != nil {
		return nil, err
	}
	var warnings []string
	if o.Steps > 0 {
		// Check every run before touching the lab.
		for i := range runs {
			ld := &runs[i]
			if ld.Meta.Config.Model.Vocab == 0 {
				continue
			}
			if ld.State == nil {
				spec := ld.Meta.Config
				if o.Steps < spec.Sched.Total {
					return nil, fmt.Errorf("%w: run %s already plans %d steps; give --steps %d or more", ErrShorten, ld.Meta.Name, spec.Sched.Total, spec.Sched.Total)
				}
				ld.Meta.Config.Sched.Total = o.Steps
				continue
			}
			note, err := Extend(ld.State, o.Steps)
			if err != nil {
				return nil, err
			}
			if note != "" && o.Note != nil {
				o.Note(note)
			}
		}
	}
	for _, ld := range runs {
		warnings = append(warnings, ld.Warnings...)
		if ld.Meta.Config.Model.Vocab == 0 {
			continue
		}
		if err := dropRepeated(sess, ld); err != nil {
			warnings = append(warnings, fmt.Sprintf("run %s: %v", ld.Meta.Name, err))
		}
		var id trainer.RunID
		var err error
		if ld.State != nil {
			if rec != nil {
				rec.adopt(ld)
			}
			_, err = l.Restore(*ld.State, ld.History, paused)
		} else {
			warnings = append(warnings, fmt.Sprintf("run %s had no readable checkpoint; it starts again from step 0", ld.Meta.Name))
			spec := ld.Meta.Config
			spec.Name = ld.Meta.Name
			id, err = l.Add(spec)
			if err == nil && paused {
				_ = l.Pause(id)
			}
		}
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("run %s could not be reopened: %v", ld.Meta.Name, err))
		}
	}
	return warnings, nil
}

// dropRepeated prepares a run's files for resuming: the run repeats what it
// reported after its checkpoint (all of it without one), so that is dropped
// and the files hold every step once.
func dropRepeated(sess *sessions.Session, ld Loaded) error {
	upTo := 0
	if ld.State != nil {
		upTo = ld.State.Step
	}
	sr, err := sess.OpenRun(dirName(ld.Meta.ID, ld.Meta.Name))
	if err != nil {
		return nil // nothing on disk to repeat
	}
	return sr.RewriteLogs(func(format string, lines []json.RawMessage) []json.RawMessage { return keepUpTo(format, lines, upTo) })
}

// keepUpTo keeps the log lines of steps up to step, each step once: a
// metric line for a step at or before an earlier one of its type replaces
// those earlier ones (as readHistory reads it), a repeated event is kept
// once.
func keepUpTo(format string, lines []json.RawMessage, step int) []json.RawMessage {
	type kept struct {
		raw  json.RawMessage
		kind string
		step int
	}
	var out []kept
	last := map[string]int{}
	seen := map[string]bool{}
	for _, raw := range lines {
		var m struct {
			Type   string `json:"type"`
			Step   int    `json:"step"`
			Kind   string `json:"kind"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(raw, &m) != nil || m.Step > step {
			continue
		}
		switch format {
		case sessions.FormatMetrics:
			if l, ok := last[m.Type]; ok && m.Step <= l {
				out = slices.DeleteFunc(out, func(k kept) bool { return k.kind == m.Type && k.step >= m.Step })
			}
			last[m.Type] = m.Step
		case sessions.FormatEvents:
			key := strconv.Itoa(m.Step) + "\x00" + m.Kind + "\x00" + m.Detail
			if seen[key] {
				continue
			}
			seen[key] = true
		}
		out = append(out, kept{raw: raw, kind: m.Type, step: m.Step})
	}
	res := make([]json.RawMessage, len(out))
	for i, k := range out {
		res[i] = k.raw
	}
	return res
}

// adopt binds an existing session run to the id it will have again.
func (r *Recorder) adopt(ld Loaded) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sr, err := r.Session.OpenRun(dirName(ld.Meta.ID, ld.Meta.Name))
	if err != nil {
		return
	}
	_ = sr.SetBuffered(true)
	r.runs[ld.Meta.ID] = sr
	r.meta[ld.Meta.ID] = ld.Meta
}

// loadBody reads a run's curves and its latest readable checkpoint into ld
// (whose Meta is loaded); the history is cut at the checkpoint's step, and
// problems become warnings.
func loadBody(sr *sessions.Run, ld *Loaded) {
	readHistory(sr, ld)
	step, ts, meta, warns, err := sr.LoadLatestCheckpoint()
	ld.Warnings = append(ld.Warnings, warns...)
	if err == nil {
		st, derr := Decode(ts, meta)
		if derr != nil {
			ld.Warnings = append(ld.Warnings, fmt.Sprintf("run %s: checkpoint at step %d: %v", ld.Meta.Name, step, derr))
		} else {
			ld.State = &st
			ld.History = trimAfter(ld.History, st.Step)
		}
	} else if !errors.Is(err, sessions.ErrNoCheckpoint) {
		ld.Warnings = append(ld.Warnings, fmt.Sprintf("run %s: %v", ld.Meta.Name, err))
	}
}
