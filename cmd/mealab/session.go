package main

import (
	"errors"
	"fmt"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// sessionCtx is an open session that a lab records into.
type sessionCtx struct {
	store   *sessions.Store
	sess    *sessions.Session
	rec     *record.Recorder
	existed bool   // reopened rather than created
	preset  string // the preset the session was started with
	every   int
}

// defaultCheckpointEvery balances lost work after a crash against disk
// traffic: a checkpoint of a laptop-sized model takes milliseconds.
const defaultCheckpointEvery = 50

// openSession opens (or creates) session name in dir (default location when
// empty). A nil result with nil error means no session was asked for.
func openSession(name, dir, preset string, every int) (*sessionCtx, error) {
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
	sc := &sessionCtx{store: store, every: every}
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
	case errors.Is(err, sessions.ErrNotFound):
		if sess, err = store.Create(name); err != nil {
			return nil, err
		}
		if err := sess.SaveMeta(record.SessionMeta{Preset: preset}); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("open session %s: %w", name, err)
	}
	sc.sess = sess
	sc.rec = record.New(sess)
	return sc, nil
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
// checkpoints; a new one starts specs. It returns warnings for the person.
func (s *sessionCtx) start(lab *trainer.Lab, specs []trainer.RunSpec, paused bool) ([]string, error) {
	if s != nil && s.existed {
		return record.Resume(s.sess, lab, s.rec, paused)
	}
	// Together, so that they step in lock-step from their first step.
	_, err := lab.AddAll(specs)
	return nil, err
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
	if s == nil {
		return nil
	}
	return s.rec.Close()
}

// Name is the session's name.
func (s *sessionCtx) Name() string { return s.sess.Name() }
