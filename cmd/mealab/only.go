package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/sweep"
	"github.com/mealab/mealab/trainer"
)

// listFlag collects a repeatable, comma-separable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// onlyCtx is `train --only RUN`: a process that trains some runs of a grid
// (a sweep's array task). In a session it touches only those runs'
// directories and keeps a task record in each.
type onlyCtx struct {
	sc   *sessionCtx
	runs []sweep.Run
	task sweep.TaskRecord
}

// gridFlags are the flags that define a grid; a sweep session's grid is
// fixed by its plan, so they cannot apply there.
var gridFlags = []string{"preset", "set", "data", "steps", "device"}

// prepareOnly resolves --only against the session's sweep plan, or else
// against the preset's runs.
func prepareOnly(only []string, fs *flag.FlagSet, sc *sessionCtx, presetName string, specs []trainer.RunSpec) (*onlyCtx, error) {
	oc := &onlyCtx{sc: sc}
	var grid []sweep.Run
	if sc != nil && sc.existed {
		pl, err := sweep.LoadPlan(sc.sess)
		switch {
		case err == nil:
			var set []string
			fs.Visit(func(f *flag.Flag) {
				for _, g := range gridFlags {
					if f.Name == g {
						set = append(set, "--"+g)
					}
				}
			})
			if len(set) > 0 {
				return nil, usagef("%s: session %s is a sweep whose runs are fixed by its plan (preset %s); drop %s", strings.Join(set, ", "), sc.Name(), pl.Preset, strings.Join(set, " "))
			}
			grid = pl.Runs
		case errors.Is(err, sweep.ErrNoPlan):
			if sc.preset != "" && sc.preset != presetName {
				return nil, usagef("session %s was started with preset %s, not %s; add --preset %s", sc.Name(), sc.preset, presetName, sc.preset)
			}
		default:
			return nil, err
		}
	}
	if grid == nil {
		grid = sweep.GridRuns(specs)
	}
	runs, err := sweep.Select(grid, only)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	oc.runs = runs
	oc.task = sweep.NewTaskRecord()
	return oc, nil
}

func (oc *onlyCtx) names() string {
	var n []string
	for _, r := range oc.runs {
		n = append(n, r.Name)
	}
	return strings.Join(n, ", ")
}

// start puts the runs into the lab (resuming those with checkpoints) and
// records that this process owns them.
func (oc *onlyCtx) start(lab *trainer.Lab) ([]string, error) {
	if oc.sc == nil {
		for _, r := range oc.runs {
			if _, err := lab.AddAs(r.ID, r.Spec); err != nil {
				return nil, fmt.Errorf("run %s: %w", r.Name, err)
			}
		}
		return nil, nil
	}
	warnings, err := sweep.StartRuns(oc.sc.sess, lab, oc.sc.rec, oc.runs)
	if err != nil {
		return warnings, err
	}
	// The run directories exist once the recorder saw the runs.
	for _, info := range lab.Runs() {
		rec := oc.task
		rec.Step, rec.Steps = info.Step, info.Steps
		if err := sweep.SaveTask(oc.sc.sess, runDir(info), rec); err != nil {
			warnings = append(warnings, fmt.Sprintf("run %s: task record: %v", info.Name, err))
		}
	}
	return warnings, nil
}

// finish records how each run ended. An interrupted run (SIGTERM from
// Slurm, Ctrl-C) was checkpointed; the error makes the process exit
// non-zero so the scheduler and `mealab sweep status` count it as failed and
// `mealab sweep resubmit --failed` continues it.
func (oc *onlyCtx) finish(infos []trainer.RunInfo, interrupted bool, saveErr error) error {
	var sess *sessions.Session
	if oc.sc != nil {
		sess = oc.sc.sess
	}
	unfinished, err := sweep.RecordEnd(sess, oc.task, infos, interrupted, saveErr)
	if saveErr != nil {
		return saveErr
	}
	if err != nil {
		return err
	}
	if len(unfinished) > 0 {
		how := "it was checkpointed; run the same command again to continue"
		if oc.sc == nil {
			how = "add --session NAME to keep the progress"
		}
		return fmt.Errorf("interrupted: %s unfinished (%s)", strings.Join(unfinished, ", "), how)
	}
	return nil
}

func runDir(info trainer.RunInfo) string { return record.DirName(info.ID, info.Name) }
