package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

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
	sc     *sessionCtx
	preset string // the preset of the grid (the sweep's, the session's or --preset)
	runs   []sweep.Run
	task   sweep.TaskRecord
	// resumed counts the runs that continue from a checkpoint (set by start).
	resumed int
}

// gridFlags are the flags that define a grid; a sweep session's grid is
// fixed by its plan, so they cannot apply there.
var gridFlags = []string{"preset", "set", "data", "steps", "seeds", "device", "max-runs"}

// prepareOnly resolves --only against the session's sweep plan, or else
// against the preset's runs (the session's preset when it exists).
func prepareOnly(only []string, rf *runFlags, sc *sessionCtx) (*onlyCtx, error) {
	oc := &onlyCtx{sc: sc}
	var grid []sweep.Run
	if sc != nil && sc.existed {
		var set []string
		for _, g := range gridFlags {
			if rf.given[g] && (g != "preset" || rf.preset != sc.preset) {
				set = append(set, "--"+g)
			}
		}
		pl, err := sweep.LoadPlan(sc.sess)
		switch {
		case err == nil:
			if len(set) > 0 {
				return nil, usagef("%s: session %s is a sweep whose runs are fixed by its plan (preset %s); drop %s", strings.Join(set, ", "), sc.Name(), pl.Preset, strings.Join(set, " "))
			}
			grid = pl.Runs
			oc.preset = pl.Preset
		case errors.Is(err, sweep.ErrNoPlan):
			if len(set) > 0 {
				return nil, usagef("%s: session %s exists and its runs keep their configs (preset %s); drop %s", strings.Join(set, ", "), sc.Name(), sc.preset, strings.Join(set, " "))
			}
			rf.preset = sc.preset
		default:
			return nil, err
		}
	}
	if grid == nil {
		p, specs, err := rf.specs()
		if err != nil {
			return nil, err
		}
		if sc != nil && !sc.existed {
			if err := sc.create(p.Name); errors.Is(err, sessions.ErrExists) {
				// Another task created it a moment ago.
				again, lerr := findSession(sc.name, rf.dir, sc.every)
				if lerr != nil {
					return nil, lerr
				}
				*sc = *again
			} else if err != nil {
				return nil, err
			}
		}
		grid = sweep.GridRuns(specs)
		oc.preset = p.Name
	}
	runs, err := sweep.Select(grid, only)
	if err != nil {
		return nil, usageError{err.Error()}
	}
	oc.runs = runs
	oc.task = sweep.NewTaskRecord()
	return oc, nil
}

// trainOnly is `mealab train --only RUN`: the runs train in one lab like
// any others, under their grid ids; in a session each is resumed from its
// checkpoint when it has one. SIGTERM checkpoints and exits non-zero.
func trainOnly(only []string, rf *runFlags, sc *sessionCtx, quiet, jsonOut bool, every int, stdout, stderr io.Writer) error {
	oc, err := prepareOnly(only, rf, sc)
	if err != nil {
		return err
	}
	printNotes(stderr, rf.notes)
	compute := setupCompute(rf.threads)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	defer sc.Close()
	opts := trainer.Options{Compute: compute}
	sc.options(&opts)
	lab, queue := newLoggedLab(opts)
	defer lab.Close()
	enc := json.NewEncoder(stdout)
	if !jsonOut {
		fmt.Fprintf(stdout, "mealab train: only %s, %s\n", oc.names(), computeLabel())
		if sc != nil {
			fmt.Fprintf(stdout, "  recording into session %s (checkpoint every %d steps)\n", sc.Name(), sc.every)
		}
	}
	warnings, err := oc.start(lab)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "mealab: warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	infos := map[trainer.RunID]trainer.RunInfo{}
	maxSteps := 0
	var specs []trainer.RunSpec
	for _, r := range lab.Runs() {
		infos[r.ID] = r
		maxSteps = max(maxSteps, r.Steps)
		specs = append(specs, r.Spec)
	}
	if jsonOut {
		// train's start line, with the runs this process trains; reopened
		// when some continue from a checkpoint, which "resume" lines name.
		_ = enc.Encode(map[string]any{"type": "start", "preset": oc.preset, "session": sc.nameOrEmpty(), "reopened": oc.resumed > 0,
			"only": oc.nameList(), "runs": specs, "compute": computeLabel()})
	}
	if every <= 0 {
		every = max(1, maxSteps/30)
	}
	tty := !jsonOut && isTerminal(stderr)
	start := time.Now()
	tl := newTrainLog(enc, stdout, stderr, jsonOut, quiet, tty, every, infos)
	tl.watchResumes(lab)
	interrupted := false
	for !lab.AllFinished() && !interrupted {
		select {
		case <-ctx.Done():
			interrupted = true
		case <-lab.Done():
			// The lab stopped by itself: what is unfinished was cut short.
			interrupted = !lab.AllFinished()
		case <-queue.ready:
			for _, u := range queue.take() {
				tl.handle(u)
			}
		case <-time.After(200 * time.Millisecond):
		}
		if tty && !interrupted {
			progress(stderr, lab, start)
		}
	}
	// Stop stepping, then save: checkpoints at exactly the steps the logs end with.
	lab.Close()
	var saveErr error
	if sc != nil {
		if saveErr = sc.Save(lab); saveErr != nil {
			fmt.Fprintf(stderr, "mealab: saving session %s: %v\n", sc.Name(), saveErr)
		}
	}
	for _, u := range queue.take() {
		tl.handle(u)
	}
	tl.flush()
	clearLine(stderr, tty)
	final := lab.Runs()
	if jsonOut {
		_ = enc.Encode(map[string]any{"type": "summary", "interrupted": interrupted, "runs": summaryRows(final), "stable_lr": stableLRs(final), "groups": groupRows(final, "")})
	} else {
		if interrupted {
			fmt.Fprintln(stdout, "\ninterrupted: the table so far")
		}
		fmt.Fprintln(stdout)
		printTable(stdout, final)
	}
	return oc.finish(final, interrupted, saveErr)
}

func (oc *onlyCtx) names() string { return strings.Join(oc.nameList(), ", ") }

func (oc *onlyCtx) nameList() []string {
	n := []string{}
	for _, r := range oc.runs {
		n = append(n, r.Name)
	}
	return n
}

// start puts the runs into the lab (resuming those with checkpoints) and
// records that this process owns them.
func (oc *onlyCtx) start(lab *trainer.Lab) ([]string, error) {
	// Every run takes its first step in the same round.
	if err := lab.Hold(); err != nil {
		return nil, err
	}
	defer lab.Release()
	if oc.sc == nil {
		for _, r := range oc.runs {
			if _, err := lab.AddAs(r.ID, r.Spec); err != nil {
				return nil, fmt.Errorf("run %s: %w", r.Name, err)
			}
		}
		return nil, nil
	}
	// The locks are dropped when the process ends.
	_, warnings, err := sweep.StartRuns(oc.sc.sess, lab, oc.sc.rec, oc.runs)
	if err != nil {
		return warnings, err
	}
	// The run directories exist once the recorder saw the runs.
	for _, info := range lab.Runs() {
		if info.Step > 0 { // still held: a step > 0 is a checkpoint's
			oc.resumed++
		}
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
