package sweep

import (
	"context"
	"fmt"
	"time"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// Local trains runs on this machine in one lock-step lab, at most parallel
// of them at a time (0: all), recording into sess through rec (whose Sink
// and OnCheckpoint the lab must already use). As a run ends the next one
// starts. Runs with a checkpoint in the session continue from it, so an
// interrupted local sweep continues where it stopped. onUpdate, if set, sees
// every update. It returns when every run has ended or ctx is done
// (interrupted is then true), with warnings for the person.
func Local(ctx context.Context, sess *sessions.Session, lab *trainer.Lab, rec *record.Recorder, runs []Run, parallel int,
	onUpdate func(trainer.Update)) (warnings []string, interrupted bool, err error) {
	if parallel <= 0 {
		parallel = len(runs)
	}
	base := NewTaskRecord()
	next := 0
	var releases []func()
	defer func() {
		for _, r := range releases {
			r()
		}
	}()
	fill := func() error {
		for next < len(runs) && unfinished(lab) < parallel {
			r := runs[next]
			next++
			release, w, err := StartRuns(sess, lab, rec, []Run{r})
			releases = append(releases, release)
			warnings = append(warnings, w...)
			if err != nil {
				return err
			}
			t := base
			t.Steps = r.Spec.Sched.Total
			if err := SaveTask(sess, r.Dir, t); err != nil {
				warnings = append(warnings, fmt.Sprintf("run %s: task record: %v", r.Name, err))
			}
		}
		return nil
	}
	if err := fill(); err != nil {
		return warnings, false, err
	}
	// Pull what the lab reports five times a second (training never waits
	// for it); a finished run frees its slot at the next pull.
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var tail trainer.Tail
	for next < len(runs) || !lab.AllFinished() {
		select {
		case <-ctx.Done():
			return warnings, true, nil
		case <-tick.C:
		}
		ups, closed := tail.Pull(lab)
		if onUpdate != nil {
			for _, u := range ups {
				onUpdate(u)
			}
		}
		if closed {
			return warnings, true, nil
		}
		if err := fill(); err != nil {
			return warnings, false, err
		}
	}
	if onUpdate != nil {
		ups, _ := tail.Pull(lab)
		for _, u := range ups {
			onUpdate(u)
		}
	}
	return warnings, false, nil
}

func unfinished(lab *trainer.Lab) int {
	n := 0
	for _, r := range lab.Runs() {
		if !r.State.Finished() {
			n++
		}
	}
	return n
}

// RecordEnd writes each run's final task record: done, diverged, or
// interrupted (checkpointed, to be continued) or failed. It returns the
// runs that did not finish.
func RecordEnd(sess *sessions.Session, base TaskRecord, infos []trainer.RunInfo, interrupted bool, saveErr error) (unfinished []string, err error) {
	for _, info := range infos {
		rec := base
		rec.Step, rec.Steps = info.Step, info.Steps
		switch info.State {
		case trainer.Done:
			rec.State = TaskDone
		case trainer.Diverged:
			rec.State, rec.Detail = TaskDiverged, fmt.Sprintf("at step %d", info.DivergedAt)
		default:
			rec.State = TaskInterrupted
			rec.Detail = fmt.Sprintf("stopped at step %d of %d", info.Step, info.Steps)
			if !interrupted {
				rec.State = TaskFailed
				rec.Detail = fmt.Sprintf("%s at step %d of %d", info.State, info.Step, info.Steps)
			}
			if saveErr != nil {
				rec.State, rec.Detail = TaskFailed, "saving: "+saveErr.Error()
			}
			unfinished = append(unfinished, fmt.Sprintf("%s at step %d/%d", info.Name, info.Step, info.Steps))
		}
		if sess != nil {
			if e := SaveTask(sess, record.DirName(info.ID, info.Name), rec); e != nil && err == nil {
				err = e
			}
		}
	}
	return unfinished, err
}
