package record

import (
	"fmt"

	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// DirName is the session directory name of the run with this id and name:
// "r3-mea_lr1e-3" for run 3 "mea@1e-3".
func DirName(id trainer.RunID, name string) string { return dirName(id, name) }

// LoadRun reads one run of a session, as Load does for all of them. A run
// that does not exist gives an error wrapping sessions.ErrNotFound.
func LoadRun(sess *sessions.Session, dir string) (Loaded, error) {
	sr, err := sess.OpenRun(dir)
	if err != nil {
		return Loaded{}, err
	}
	ld := Loaded{}
	if err := sr.LoadMeta(&ld.Meta); err != nil {
		return ld, fmt.Errorf("run %s: %w", dir, err)
	}
	loadBody(sr, &ld)
	return ld, nil
}

// ResumeRun continues one run of the session in the lab from its last
// checkpoint (curves and events restored), as Resume does for every run.
// It reports false when the run has no readable checkpoint (the caller
// starts it afresh; its old lines are dropped from its files first). It never touches the session's other runs, so processes
// that each own one run of a session can resume side by side.
func ResumeRun(sess *sessions.Session, l *trainer.Lab, rec *Recorder, ld Loaded) (bool, error) {
	// The files keep only what the run will not report again.
	if err := dropRepeated(sess, ld); err != nil {
		return false, fmt.Errorf("run %s: %w", ld.Meta.Name, err)
	}
	if ld.State == nil {
		return false, nil
	}
	if rec != nil {
		rec.adopt(ld)
	}
	if _, err := l.Restore(*ld.State, ld.History, false); err != nil {
		return false, fmt.Errorf("run %s could not be reopened: %w", ld.Meta.Name, err)
	}
	return true, nil
}
