package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// sessionCtx is an open session that a lab records into.
type sessionCtx struct {
	store   *sessions.Store
	name    string
	sess    *sessions.Session // nil until create for a new session
	rec     *record.Recorder
	existed bool   // reopened rather than created
	preset  string // the preset the session was started with
	every   int
}

// defaultCheckpointEvery balances lost work after a crash against disk
// traffic: a checkpoint of a laptop-sized model takes milliseconds.
const defaultCheckpointEvery = 50

// findSession opens the sessions directory (default location when dir is
// empty) and session name in it when it exists; a new session is made by
// create, once the flags have been checked. A nil result with nil error
// means no session was asked for.
func findSession(name, dir string, every int) (*sessionCtx, error) {
	if name == "" {
		return nil, nil
	}
	if err := sessions.ValidateName(name); err != nil {
		return nil, usageError{fmt.Sprintf("--session: %v", err)}
	}
	if dir == "" {
		dir = sessions.DefaultDir()
	}
	store, err := sessions.Open(dir)
	if err != nil {
		return nil, err
	}
	sc := &sessionCtx{store: store, name: name, every: every}
	if sc.every <= 0 {
		sc.every = defaultCheckpointEvery
	}
	sess, err := store.Load(name)
	switch {
	case err == nil:
		sc.existed = true
		var meta record.SessionMeta
		if sess.Meta(&meta) == nil {
			sc.preset = meta.Preset
		}
		sc.sess = sess
		sc.rec = record.New(sess)
	case errors.Is(err, sessions.ErrNotFound):
	default:
		return nil, fmt.Errorf("open session %s: %w", name, err)
	}
	return sc, nil
}

// create makes the new session, started with preset.
func (s *sessionCtx) create(preset string) error {
	if s == nil || s.existed {
		return nil
	}
	sess, err := s.store.Create(s.name)
	if err != nil {
		return err
	}
	if err := sess.SaveMeta(record.SessionMeta{Preset: preset}); err != nil {
		return err
	}
	s.sess, s.rec, s.preset = sess, record.New(sess), preset
	return nil
}

// reopenConflicts refuses flags that cannot apply to a reopened session:
// its runs keep the configs they were started with (and that surgery or LR
// edits gave them). Flags that describe exactly those runs again (the
// command line that started the session, run once more to resume it) are
// accepted; --steps is handled by start (it extends); the flags about this
// process (threads, output, checkpoint interval) always apply.
func (s *sessionCtx) reopenConflicts(rf *runFlags) error {
	if s == nil || !s.existed {
		return nil
	}
	var flags []string
	for _, f := range []string{"preset", "set", "data", "device", "seeds"} {
		if rf.given[f] {
			flags = append(flags, "--"+f)
		}
	}
	if rf.given["steps"] {
		// Checked here, before anything is printed; start extends.
		if err := record.CheckExtend(s.sess, rf.steps); errors.Is(err, record.ErrShorten) {
			return usagef("--steps %d: %v", rf.steps, err)
		} else if err != nil {
			return err
		}
	}
	if len(flags) == 0 {
		return nil
	}
	what := strings.Join(flags, ", ")
	why := fmt.Sprintf("session %s exists and its runs keep their configs; start a new session with another --session NAME, or reopen this one without %s", s.name, what)
	if rf.given["preset"] && rf.preset != s.preset {
		return usagef("--preset %s cannot apply: %s (it was started with preset %s)", rf.preset, why, s.preset)
	}
	saved := rf.preset
	rf.preset = s.preset
	_, specs, err := rf.specs()
	rf.preset = saved
	if err != nil {
		return err
	}
	runs, err := record.Load(s.sess)
	if err != nil {
		return err
	}
	have := map[string]trainer.RunSpec{}
	for _, ld := range runs {
		have[ld.Meta.Name] = ld.Meta.Config
	}
	for _, sp := range specs {
		old, ok := have[sp.Name]
		if !ok {
			return usagef("%s cannot apply: they describe a run %s that session %s does not have; %s", what, sp.Name, s.name, why)
		}
		if !sameRun(old, sp) {
			return usagef("%s cannot apply: they would change run %s; %s", what, sp.Name, why)
		}
	}
	return nil
}

// sameRun reports whether two specs describe the same run, the step budget
// aside (--steps extends a reopened session).
func sameRun(a, b trainer.RunSpec) bool {
	a, b = a.Normalized(), b.Normalized()
	a.Sched.Total, b.Sched.Total = 0, 0
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// options makes the lab record into the session.
func (s *sessionCtx) options(o *trainer.Options) {
	if s == nil {
		return
	}
	o.Sink = s.rec.Record
	o.OnCheckpoint = s.rec.Checkpoint
	o.CheckpointEvery = s.every
}

// start fills the lab: a reopened session resumes its runs from their
// checkpoints (with steps > 0, extended to that many steps); a new one
// starts specs. It returns warnings for the person.
func (s *sessionCtx) start(lab *trainer.Lab, specs []trainer.RunSpec, paused bool, steps int, note func(string)) ([]string, error) {
	// Every run takes its first step in the same round.
	if err := lab.Hold(); err != nil {
		return nil, err
	}
	defer lab.Release()
	if s != nil && s.existed {
		warnings, err := record.ResumeWith(s.sess, lab, s.rec, record.ResumeOptions{Paused: paused, Steps: steps, Note: note})
		if errors.Is(err, record.ErrShorten) {
			return nil, usageError{fmt.Sprintf("--steps %d: %v", steps, err)}
		}
		return warnings, err
	}
	for _, sp := range specs {
		if _, err := lab.Add(sp); err != nil {
			return nil, fmt.Errorf("run %s: %w", sp.Name, err)
		}
	}
	return nil, nil
}

// Save checkpoints every run now and flushes the logs.
func (s *sessionCtx) Save(lab *trainer.Lab) error {
	if s == nil {
		return errors.New("no session: start mealab with --session NAME to save")
	}
	return s.rec.SaveAll(lab)
}

// Close flushes and closes the session's files.
func (s *sessionCtx) Close() error {
	if s == nil || s.rec == nil {
		return nil
	}
	return s.rec.Close()
}

// Name is the session's name.
func (s *sessionCtx) Name() string { return s.name }

// presetName is the preset the session was started with ("" without one).
func (s *sessionCtx) presetName() string {
	if s == nil {
		return ""
	}
	return s.preset
}

// nameOrEmpty is the session's name, "" without a session.
func (s *sessionCtx) nameOrEmpty() string {
	if s == nil {
		return ""
	}
	return s.name
}
