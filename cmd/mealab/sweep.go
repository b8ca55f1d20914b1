package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/sweep"
	"github.com/mealab/mealab/trainer"
)

const sweepUsage = `Usage:
  mealab sweep PRESET [--set key=value ...] --session S [--parallel K]
        run the preset's grid here: one lock-step lab, at most K runs at a time
  mealab sweep PRESET [--set ...] --slurm --session S --dir /shared/sessions
        [--partition P] [--time T] [--cpus-per-task C] [--mem M] [--array-limit K]
        [--sbatch-arg --account=X ...] [--dry-run] [--wait]
        write a batch script next to the session (one array task per run, each
        running mealab train --session S --only RUN) and submit it with sbatch
  mealab sweep status S [--dir D] [--wait]
        per run: queued, running, done or failed, with the Slurm state
  mealab sweep resubmit S [--dir D] --failed [--dry-run] [--wait]
        submit the failed (and never submitted) runs again; they resume from
        their last checkpoints

Flags:
`

// sweepFlags are every flag of the sweep commands; each subcommand rejects
// those that cannot apply to it.
type sweepFlags struct {
	rf       runFlags
	parallel int
	slurm    bool
	sl       sweep.Slurm
	sbatch   listFlag
	dryRun   bool
	wait     bool
	failed   bool
	poll     time.Duration
	binary   string
}

func cmdSweep(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	var f sweepFlags
	f.rf.register(fs)
	fs.IntVar(&f.parallel, "parallel", 0, "local: most runs training at once (default: all)")
	fs.BoolVar(&f.slurm, "slurm", false, "submit the grid to Slurm as an array job")
	fs.StringVar(&f.sl.Partition, "partition", "", "Slurm partition")
	fs.StringVar(&f.sl.Time, "time", "", "Slurm time limit per task, e.g. 1:00:00")
	fs.IntVar(&f.sl.CPUsPerTask, "cpus-per-task", 1, "CPUs per task (the run's threads)")
	fs.StringVar(&f.sl.Mem, "mem", "", "memory per task, e.g. 2G")
	fs.IntVar(&f.sl.ArrayLimit, "array-limit", 0, "most tasks running at once (sbatch --array=...%K)")
	fs.Var(&f.sbatch, "sbatch-arg", "extra sbatch `OPTION` for the script, e.g. --account=X (repeatable)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "write the batch script but do not submit it")
	fs.BoolVar(&f.wait, "wait", false, "block until every task has ended, printing status changes; exit 1 if any failed")
	fs.BoolVar(&f.failed, "failed", false, "resubmit: the failed runs")
	fs.DurationVar(&f.poll, "poll", 5*time.Second, "--wait: time between status checks")
	fs.StringVar(&f.binary, "binary", "", "--slurm: the mealab `PATH` the tasks run (default: this binary), as the nodes see it")
	var pos []string
	for len(args) > 0 {
		if err := parseFlags(fs, args, sweepUsage, stdout); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	f.sl.SbatchArgs = f.sbatch
	if len(pos) == 0 {
		return usagef("usage: mealab sweep PRESET --session S [--slurm ...], mealab sweep status S, mealab sweep resubmit S --failed (mealab sweep --help)")
	}
	only := func(sub string, allowed ...string) error {
		ok := map[string]bool{"dir": true}
		for _, a := range allowed {
			ok[a] = true
		}
		for name := range set {
			if !ok[name] {
				return usagef("mealab sweep %s does not take --%s", sub, name)
			}
		}
		return nil
	}
	if f.poll <= 0 {
		return usagef("--poll %s: give a positive duration such as 5s", f.poll)
	}
	switch pos[0] {
	case "status":
		if len(pos) != 2 {
			return usagef("usage: mealab sweep status S [--dir D] [--wait]")
		}
		if err := only("status", "wait", "poll"); err != nil {
			return err
		}
		return sweepStatus(pos[1], &f, stdout)
	case "resubmit":
		if len(pos) != 2 {
			return usagef("usage: mealab sweep resubmit S --failed [--dir D]")
		}
		if err := only("resubmit", "failed", "dry-run", "wait", "poll", "binary"); err != nil {
			return err
		}
		if !f.failed {
			return usagef("mealab sweep resubmit S --failed: say which runs (only --failed exists)")
		}
		return sweepResubmit(pos[1], &f, stdout)
	}
	if len(pos) != 1 {
		return usagef("unexpected argument %q: mealab sweep PRESET takes one preset", pos[1])
	}
	if set["preset"] {
		return usagef("give the preset as the argument (mealab sweep %s), not --preset", pos[0])
	}
	f.rf.preset = pos[0]
	if err := f.rf.check(fs); err != nil {
		return err
	}
	if f.rf.session == "" {
		return usagef("a sweep records into a session: add --session NAME")
	}
	if f.slurm {
		if err := only("PRESET --slurm", "set", "data", "steps", "seeds", "max-runs", "device", "session", "slurm", "partition", "time", "cpus-per-task", "mem",
			"array-limit", "sbatch-arg", "dry-run", "wait", "poll", "binary"); err != nil {
			return err
		}
		return sweepSubmit(&f, stdout)
	}
	if err := only("PRESET (local; add --slurm for the Slurm flags)", "set", "data", "steps", "seeds", "max-runs", "device", "session", "parallel", "threads"); err != nil {
		return err
	}
	return sweepLocal(&f, stdout, stderr)
}

// sweepSession opens the store and creates the session for a new sweep,
// or, locally, reopens one whose plan matches.
func newSweepSession(f *sweepFlags) (*sessions.Session, *sweep.Plan, bool, error) {
	if err := sessions.ValidateName(f.rf.session); err != nil {
		return nil, nil, false, usagef("--session: %v", err)
	}
	p, specs, err := f.rf.specs()
	if err != nil {
		return nil, nil, false, err
	}
	over := append([]presets.Setting(nil), f.rf.sets...)
	if f.rf.data != "" {
		over = append(over, presets.Setting{Key: "data", Value: f.rf.data})
	}
	if f.rf.given["steps"] {
		over = append(over, presets.Setting{Key: "steps", Value: fmt.Sprint(f.rf.steps)})
	}
	if f.rf.seeds > 0 {
		over = append(over, presets.Setting{Key: "seeds", Value: fmt.Sprint(f.rf.seeds)})
	}
	if f.rf.device != "" {
		over = append(over, presets.Setting{Key: "device", Value: f.rf.device})
	}
	pl, err := sweep.NewPlan(p, over, specs)
	if err != nil {
		return nil, nil, false, usageError{err.Error()}
	}
	store, err := openStore(f.rf.dir)
	if err != nil {
		return nil, nil, false, err
	}
	sess, err := store.Load(f.rf.session)
	if err == nil {
		old, perr := sweep.LoadPlan(sess)
		if perr != nil || f.slurm || old.Preset != pl.Preset || strings.Join(old.Overrides, " ") != strings.Join(pl.Overrides, " ") {
			how := "pick a new --session name"
			if perr == nil {
				how = fmt.Sprintf("it is a sweep of %s %s: see mealab sweep status %s, or pick a new --session name", old.Preset, strings.Join(old.Overrides, " "), f.rf.session)
			}
			return nil, nil, false, usagef("session %s exists; %s", f.rf.session, how)
		}
		return sess, old, true, nil
	}
	if !errors.Is(err, sessions.ErrNotFound) {
		return nil, nil, false, err
	}
	sess, err = store.Create(f.rf.session)
	if err != nil {
		return nil, nil, false, err
	}
	if err := sess.SaveMeta(record.SessionMeta{Preset: p.Name, Note: "sweep"}); err != nil {
		return nil, nil, false, err
	}
	if err := pl.Save(sess); err != nil {
		return nil, nil, false, err
	}
	return sess, pl, false, nil
}

func openStore(dir string) (*sessions.Store, error) {
	if dir == "" {
		dir = sessions.DefaultDir()
	}
	return sessions.Open(dir)
}

func loadSweep(name, dir string) (*sessions.Session, *sweep.Plan, error) {
	store, err := openStore(dir)
	if err != nil {
		return nil, nil, err
	}
	sess, err := store.Load(name)
	if err != nil {
		return nil, nil, err
	}
	pl, err := sweep.LoadPlan(sess)
	if errors.Is(err, sweep.ErrNoPlan) {
		return nil, nil, fmt.Errorf("session %s is not a sweep; mealab sessions show %s shows its runs", name, name)
	}
	return sess, pl, err
}

func sweepLocal(f *sweepFlags, stdout, stderr io.Writer) error {
	if f.parallel < 0 {
		return usagef("--parallel %d: give 0 (all) or more", f.parallel)
	}
	sess, pl, existed, err := newSweepSession(f)
	if err != nil {
		return err
	}
	compute := setupCompute(f.rf.threads)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	rec := record.New(sess)
	defer rec.Close()
	lab := trainer.NewLab(trainer.Options{Compute: compute, Sink: rec.Record, OnCheckpoint: rec.Checkpoint, CheckpointEvery: defaultCheckpointEvery})
	defer lab.Close()
	verb := "sweep"
	if existed {
		verb = "continuing sweep"
	}
	par := f.parallel
	if par == 0 {
		par = len(pl.Runs)
	}
	fmt.Fprintf(stdout, "mealab %s: preset %s, %d runs, %d at a time, session %s in %s, %s\n", verb, strings.Join(append([]string{pl.Preset}, pl.Overrides...), " "), len(pl.Runs), par, sess.Name(), filepath.Dir(sess.Dir()), computeLabel())
	onUpdate := func(u trainer.Update) {
		if info, ok := u.(trainer.RunInfo); ok && info.State.Finished() {
			fmt.Fprintf(stdout, "  %-16s %-8s step %d/%d  loss %s  val %s\n", info.Name, info.State, info.Step, info.Steps, fmtLoss(info.Loss), fmtLoss(info.ValLoss))
		}
	}
	base := sweep.NewTaskRecord()
	warnings, interrupted, err := sweep.Local(ctx, sess, lab, rec, pl.Runs, f.parallel, onUpdate)
	for _, w := range warnings {
		fmt.Fprintf(stderr, "mealab: warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	// Stop stepping, then save: checkpoints at exactly the steps the logs end with.
	lab.Close()
	saveErr := rec.SaveAll(lab)
	infos := lab.Runs()
	unfinished, rerr := sweep.RecordEnd(sess, base, infos, interrupted, saveErr)
	if interrupted {
		fmt.Fprintln(stdout, "\ninterrupted: the table so far")
	}
	fmt.Fprintln(stdout)
	printTable(stdout, sortedInfos(infos))
	printStableLR(stdout, sortedInfos(infos))
	printGroups(stdout, sortedInfos(infos), "")
	if saveErr != nil {
		return saveErr
	}
	if rerr != nil {
		return rerr
	}
	if len(unfinished) > 0 {
		return fmt.Errorf("interrupted: %d runs unfinished; run the same command again to continue them", len(unfinished))
	}
	return nil
}

// sortedInfos orders runs by id (grid order).
func sortedInfos(in []trainer.RunInfo) []trainer.RunInfo {
	out := append([]trainer.RunInfo(nil), in...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].ID < out[j-1].ID; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// binaryInfo is the absolute path, version and checksum of the mealab the
// tasks run: bin, or else this one.
func binaryInfo(bin string) (path, ver, sum string, err error) {
	exe := bin
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return "", "", "", fmt.Errorf("find the mealab binary: %w", err)
		}
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return "", "", "", fmt.Errorf("--binary %s: %w", bin, err)
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return "", "", "", fmt.Errorf("find the mealab binary: %w", err)
	}
	if bin == "" && strings.HasPrefix(exe, os.TempDir()) && strings.Contains(exe, "go-build") {
		return "", "", "", errors.New("this mealab was started with `go run`, whose binary is deleted afterwards; build one where the cluster's nodes can read it (go build -o /shared/bin/mealab ./cmd/mealab) and run that")
	}
	ver = "mealab " + version
	if bin != "" {
		ver = "the mealab at " + exe // not this process: its version is unknown here
	} else if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, mod string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					mod = "+modified"
				}
			}
		}
		if rev != "" {
			ver += " (" + rev[:min(12, len(rev))] + mod + ", " + bi.GoVersion + ")"
		} else {
			ver += " (" + bi.GoVersion + ")"
		}
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return "", "", "", fmt.Errorf("read the mealab binary %s: %w", exe, err)
	}
	h := sha256.Sum256(b)
	return exe, ver, hex.EncodeToString(h[:]), nil
}

// writeJob writes the batch script for indices and submits it (unless
// dryRun), recording the job in the plan.
func writeJob(sess *sessions.Session, pl *sweep.Plan, indices []int, binary string, dryRun bool, stdout io.Writer) error {
	bin, ver, sum, err := binaryInfo(binary)
	if err != nil {
		return err
	}
	logs, err := sess.AuxDir("sweep/logs")
	if err != nil {
		return err
	}
	in := sweep.ScriptInput{Plan: pl, Slurm: *pl.Slurm, Session: sess.Name(), StoreDir: filepath.Dir(sess.Dir()), LogDir: logs,
		Binary: bin, Version: ver, SHA256: sum, Indices: indices, Written: time.Now()}
	name := fmt.Sprintf("sweep/job-%d.sbatch", len(pl.Jobs)+1)
	path, err := sess.WriteAux(name, []byte(sweep.Script(in)), 0o755)
	if err != nil {
		return err
	}
	if dryRun {
		fmt.Fprintf(stdout, "wrote %s (not submitted: --dry-run); submit it with mealab sweep resubmit %s --dir %s --failed, which records the job for sweep status\n", path, sess.Name(), filepath.Dir(sess.Dir()))
		return nil
	}
	id, err := sweep.Exec.Submit(path)
	if err != nil {
		return err
	}
	pl.Jobs = append(pl.Jobs, sweep.Job{ID: id, Indices: indices, Script: path, Submitted: time.Now().UTC()})
	if err := pl.Save(sess); err != nil {
		return fmt.Errorf("job %s was submitted but the session could not record it: %w; cancel it with scancel %s", id, err, id)
	}
	fmt.Fprintf(stdout, "submitted job %s: %d tasks (--array=%s), script %s\n", id, len(indices), sweep.ArraySpec(indices, pl.Slurm.ArrayLimit), path)
	fmt.Fprintln(stdout, id)
	return nil
}

func sweepSubmit(f *sweepFlags, stdout io.Writer) error {
	if err := f.sl.Validate(); err != nil {
		return usageError{err.Error()}
	}
	if f.dryRun && f.wait {
		return usagef("--dry-run submits nothing to wait for; drop one of them")
	}
	if _, _, _, err := binaryInfo(f.binary); err != nil {
		return err
	}
	sess, pl, _, err := newSweepSession(f)
	if err != nil {
		return err
	}
	sl := f.sl
	pl.Slurm = &sl
	if err := pl.Save(sess); err != nil {
		return err
	}
	var idx []int
	for _, r := range pl.Runs {
		idx = append(idx, r.Index)
	}
	if err := writeJob(sess, pl, idx, f.binary, f.dryRun, stdout); err != nil {
		return err
	}
	if f.wait {
		return waitSweep(sess, pl, f.poll, stdout)
	}
	return nil
}

func sweepResubmit(name string, f *sweepFlags, stdout io.Writer) error {
	sess, pl, err := loadSweep(name, f.rf.dir)
	if err != nil {
		return err
	}
	if pl.Slurm == nil {
		return fmt.Errorf("session %s was swept locally; continue it with mealab sweep %s --session %s", name, pl.Preset, name)
	}
	sts, _, err := sweep.Status(sess, pl, sweep.Exec)
	if err != nil {
		return fmt.Errorf("cannot tell which runs failed: %w", err)
	}
	var idx []int
	for _, s := range sts {
		if s.State == sweep.Failed || s.State == sweep.NotSubmitted || s.State == sweep.NotStarted {
			idx = append(idx, s.Run.Index)
		}
	}
	if len(idx) == 0 {
		fmt.Fprintf(stdout, "no failed runs in %s\n", name)
		return nil
	}
	if err := writeJob(sess, pl, idx, f.binary, f.dryRun, stdout); err != nil {
		return err
	}
	if f.wait && !f.dryRun {
		return waitSweep(sess, pl, f.poll, stdout)
	}
	return nil
}

func sweepStatus(name string, f *sweepFlags, stdout io.Writer) error {
	sess, pl, err := loadSweep(name, f.rf.dir)
	if err != nil {
		return err
	}
	if f.wait {
		return waitSweep(sess, pl, f.poll, stdout)
	}
	sts, acct, qerr := sweep.Status(sess, pl, sweep.Exec)
	printSweepStatus(stdout, sess, pl, sts, acct)
	if qerr != nil {
		fmt.Fprintf(stdout, "warning: the queue could not be read (%v); states come from the task records only\n", qerr)
	}
	return nil
}

func printSweepStatus(w io.Writer, sess *sessions.Session, pl *sweep.Plan, sts []sweep.RunStatus, acct bool) {
	var jobs []string
	for _, j := range pl.Jobs {
		jobs = append(jobs, fmt.Sprintf("%s (%s)", j.ID, sweep.ArraySpec(j.Indices, 0)))
	}
	src := "task records (no Slurm accounting)"
	if acct {
		src = "sacct and task records"
	}
	if pl.Slurm == nil {
		src = "task records (local sweep)"
	}
	count := map[string]int{}
	for _, s := range sts {
		count[s.State]++
	}
	fmt.Fprintf(w, "sweep %s: preset %s, %d runs: %d queued, %d running, %d done, %d failed", sess.Name(), strings.Join(append([]string{pl.Preset}, pl.Overrides...), " "), len(pl.Runs), count[sweep.Queued], count[sweep.Running], count[sweep.Done], count[sweep.Failed])
	for _, s := range []string{sweep.NotSubmitted, sweep.NotStarted} {
		if n := count[s]; n > 0 {
			fmt.Fprintf(w, ", %d %s", n, s)
		}
	}
	fmt.Fprintf(w, "\n  jobs: %s; ended tasks from %s\n", orNone(strings.Join(jobs, ", ")), src)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "index\trun\tstate\tstep\ttrain loss\tval loss\tslurm\tdetail\t")
	for _, s := range sts {
		step := "-"
		if s.Step > 0 {
			step = fmt.Sprintf("%d/%d", s.Step, s.Run.Spec.Sched.Total)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.Run.Index, s.Run.Name, s.State, step, fmtLoss(s.Loss), fmtLoss(s.Val), orNone(s.Slurm), s.Detail)
	}
	tw.Flush()
	for _, s := range sts {
		for _, x := range s.Warnings {
			fmt.Fprintf(w, "warning: %s: %s\n", s.Run.Name, x)
		}
	}
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// waitSweep prints status changes until no task is queued or running, then
// the table; it fails if any run failed.
func waitSweep(sess *sessions.Session, pl *sweep.Plan, poll time.Duration, w io.Writer) error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	last := map[int]string{}
	for {
		sts, acct, err := sweep.Status(sess, pl, sweep.Exec)
		if err != nil {
			return fmt.Errorf("waiting for the sweep: %w", err)
		}
		active := 0
		for _, s := range sts {
			key := s.State + " " + s.Slurm
			if last[s.Run.Index] != key {
				fmt.Fprintf(w, "%s  %-16s %-8s %s %s\n", time.Now().Format("15:04:05"), s.Run.Name, s.State, s.Slurm, s.Detail)
				last[s.Run.Index] = key
			}
			if s.State == sweep.Queued || s.State == sweep.Running {
				active++
			}
		}
		if active == 0 {
			fmt.Fprintln(w)
			printSweepStatus(w, sess, pl, sts, acct)
			if n := len(sweep.FailedIndices(sts)); n > 0 {
				return fmt.Errorf("%d of %d runs failed; mealab sweep resubmit %s --failed continues them from their checkpoints", n, len(sts), sess.Name())
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("stopped waiting (the jobs go on); mealab sweep status shows them")
		case <-time.After(poll):
		}
	}
}
