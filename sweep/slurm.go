package sweep

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Slurm holds the sbatch options of a sweep.
type Slurm struct {
	Partition   string   `json:"partition,omitempty"`
	Time        string   `json:"time,omitempty"`
	CPUsPerTask int      `json:"cpus_per_task"`
	Mem         string   `json:"mem,omitempty"`
	ArrayLimit  int      `json:"array_limit,omitempty"` // most tasks running at once; 0: Slurm's limit
	SbatchArgs  []string `json:"sbatch_args,omitempty"` // extra #SBATCH lines, e.g. --account=X
}

var (
	plainValue = regexp.MustCompile(`^[A-Za-z0-9_.:,+@=/-]+$`)
	sbatchArg  = regexp.MustCompile(`^--?[A-Za-z][A-Za-z0-9-]*(=[A-Za-z0-9_.:,+@=/%-]+)?$`)
)

// Validate checks the options before anything is written. Values end up on
// #SBATCH lines, so they are restricted to characters that need no quoting.
func (s Slurm) Validate() error {
	for _, f := range []struct{ flag, v string }{{"--partition", s.Partition}, {"--time", s.Time}, {"--mem", s.Mem}} {
		if f.v != "" && !plainValue.MatchString(f.v) {
			return fmt.Errorf("%s %q: use letters, digits and _.:,+-@=/ only", f.flag, f.v)
		}
	}
	if s.CPUsPerTask < 1 {
		return fmt.Errorf("--cpus-per-task %d: give at least 1", s.CPUsPerTask)
	}
	if s.ArrayLimit < 0 {
		return fmt.Errorf("--array-limit %d: give 0 (no limit) or more", s.ArrayLimit)
	}
	for _, a := range s.SbatchArgs {
		if !sbatchArg.MatchString(a) {
			return fmt.Errorf("--sbatch-arg %q: give one sbatch option as --name or --name=value (value without spaces or quotes)", a)
		}
		for _, own := range []string{"--array", "-a", "--output", "-o", "--error", "-e", "--job-name", "-J", "--parsable", "--wrap"} {
			if a == own || strings.HasPrefix(a, own+"=") {
				return fmt.Errorf("--sbatch-arg %q: mealab sets %s itself", a, own)
			}
		}
	}
	return nil
}

// ArraySpec writes indices as an sbatch --array value: "0-5%2", "1,3-4".
func ArraySpec(indices []int, limit int) string {
	idx := slices.Clone(indices)
	slices.Sort(idx)
	idx = slices.Compact(idx)
	var parts []string
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d-%d", idx[i], idx[j]))
		} else {
			parts = append(parts, strconv.Itoa(idx[i]))
		}
		i = j + 1
	}
	s := strings.Join(parts, ",")
	if limit > 0 {
		s += "%" + strconv.Itoa(limit)
	}
	return s
}

// ScriptInput is everything a batch script depends on; Script is a pure
// function of it, so scripts are reproducible and testable.
type ScriptInput struct {
	Plan     *Plan
	Slurm    Slurm
	Session  string // session name
	StoreDir string // absolute sessions directory, on the shared filesystem
	LogDir   string // absolute directory for the tasks' stdout and stderr
	Binary   string // absolute path of the mealab binary the tasks run
	Version  string // its version line
	SHA256   string // its checksum, checked by the script
	Indices  []int  // array indices this submission covers
	Written  time.Time
}

// shellQuote quotes s for bash.
func shellQuote(s string) string {
	if s != "" && plainValue.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Script writes the batch script: #SBATCH header, the preset text and the
// overrides as comments, a binary check, and one `mealab train --session S
// --only RUN` per array index.
func Script(in ScriptInput) string {
	var b strings.Builder
	pl := in.Plan
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("#!/bin/bash\n")
	w("# mealab sweep: preset %s, %d runs, session %s in %s.\n", pl.Preset, len(pl.Runs), in.Session, in.StoreDir)
	w("# Written by %s (%s) on %s.\n", in.Version, in.Binary, in.Written.UTC().Format(time.RFC3339))
	w("# Follow it:   %s sweep status %s --dir %s\n", in.Binary, in.Session, in.StoreDir)
	w("# Resubmit the failed runs (they resume from their checkpoints):\n")
	w("#             %s sweep resubmit %s --dir %s --failed\n", in.Binary, in.Session, in.StoreDir)
	w("#SBATCH --job-name=%s\n", JobName(in.Session))
	w("#SBATCH --array=%s\n", ArraySpec(in.Indices, in.Slurm.ArrayLimit))
	w("#SBATCH --output=%s/%%A_%%a.out\n", in.LogDir)
	w("#SBATCH --ntasks=1\n")
	w("#SBATCH --cpus-per-task=%d\n", in.Slurm.CPUsPerTask)
	if in.Slurm.Partition != "" {
		w("#SBATCH --partition=%s\n", in.Slurm.Partition)
	}
	if in.Slurm.Time != "" {
		w("#SBATCH --time=%s\n", in.Slurm.Time)
	}
	if in.Slurm.Mem != "" {
		w("#SBATCH --mem=%s\n", in.Slurm.Mem)
	}
	// Slurm's SIGTERM (time limit, preemption, scancel) makes mealab write a
	// checkpoint and exit; the grace time before SIGKILL is the cluster's KillWait.
	for _, a := range in.Slurm.SbatchArgs {
		w("#SBATCH %s\n", a)
	}
	w("#\n# The preset (%s):\n", pl.Preset)
	for _, l := range strings.Split(strings.TrimRight(pl.PresetText, "\n"), "\n") {
		w("#   %s\n", l)
	}
	if len(pl.Overrides) > 0 {
		w("# with the overrides:\n")
		for _, o := range pl.Overrides {
			w("#   --set %s\n", o)
		}
	}
	w("# The expanded runs are in %s/%s/sweep/plan.json; each task trains one.\n", in.StoreDir, in.Session)
	w("set -euo pipefail\n")
	w("MEALAB=%s\n", shellQuote(in.Binary))
	if in.SHA256 != "" {
		w("if [ \"$(sha256sum \"$MEALAB\" | cut -d' ' -f1)\" != %s ]; then\n", in.SHA256)
		w("  echo \"mealab sweep: $MEALAB changed since this script was written; resubmit with mealab sweep resubmit\" >&2\n")
		w("  exit 3\n")
		w("fi\n")
	}
	w("THREADS=${SLURM_CPUS_PER_TASK:-%d}\n", in.Slurm.CPUsPerTask)
	w("case \"${SLURM_ARRAY_TASK_ID:?run this script with sbatch}\" in\n")
	for _, i := range in.Indices {
		r := pl.Runs[i]
		w("  %d) exec \"$MEALAB\" train --dir %s --session %s --only %s --threads \"$THREADS\" --quiet ;;\n",
			r.Index, shellQuote(in.StoreDir), shellQuote(in.Session), shellQuote(r.Name))
	}
	w("  *) echo \"mealab sweep: no run for array index $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\n")
	w("esac\n")
	return b.String()
}

// JobName is the Slurm job name of a session's sweep.
func JobName(session string) string { return "mealab-" + session }

// Commands runs the Slurm client commands; tests replace it.
type Commands struct {
	// Run runs name with args and returns its stdout; on failure the error
	// includes stderr.
	Run func(name string, args ...string) ([]byte, error)
}

// Exec runs the real commands.
var Exec = Commands{Run: func(name string, args ...string) ([]byte, error) {
	if _, err := exec.LookPath(name); err != nil {
		return nil, fmt.Errorf("%s is not installed or not on PATH: --slurm needs a Slurm cluster's client commands (or run the sweep here without --slurm): %w", name, ErrNoSlurm)
	}
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.Bytes(), nil
}}

// ErrNoSlurm is wrapped when the Slurm commands are missing.
var ErrNoSlurm = errors.New("no Slurm")

// Submit runs sbatch on the script and returns the job id.
func (c Commands) Submit(script string) (string, error) {
	out, err := c.Run("sbatch", "--parsable", script)
	if err != nil {
		return "", err
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	if _, err := strconv.Atoi(id); err != nil {
		return "", fmt.Errorf("sbatch printed %q, not a job id", strings.TrimSpace(string(out)))
	}
	return id, nil
}

// QueueEntry is one line of squeue: one array task.
type QueueEntry struct {
	JobID      string // the task's own job id
	ArrayJobID string
	TaskID     int // -1 when not an array task or a pending range
	State      string
	Reason     string
}

// squeueFormat is the -o format ParseSqueue reads.
const squeueFormat = "%A|%F|%K|%T|%r"

// Queue lists the tasks of the session's job name in the queue.
func (c Commands) Queue(session string) ([]QueueEntry, error) {
	out, err := c.Run("squeue", "-h", "-r", "--name="+JobName(session), "-o", squeueFormat)
	if err != nil {
		return nil, err
	}
	return ParseSqueue(string(out))
}

// ParseSqueue reads squeue -h -r -o "%A|%F|%K|%T|%r" output. Lines that do
// not have five fields are an error naming the line; blank lines are skipped.
func ParseSqueue(out string) ([]QueueEntry, error) {
	var es []QueueEntry
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 5 {
			return nil, fmt.Errorf("squeue line %d: %q has %d fields, want 5 (%s)", n+1, line, len(f), squeueFormat)
		}
		e := QueueEntry{JobID: f[0], ArrayJobID: f[1], TaskID: -1, State: f[3], Reason: f[4]}
		if !isJobID(e.JobID) || !isJobID(e.ArrayJobID) {
			return nil, fmt.Errorf("squeue line %d: %q: job ids must be numbers", n+1, line)
		}
		if t, err := strconv.Atoi(f[2]); err == nil && t >= 0 {
			e.TaskID = t
		}
		if e.State == "" {
			return nil, fmt.Errorf("squeue line %d: %q has no state", n+1, line)
		}
		es = append(es, e)
	}
	return es, nil
}

func isJobID(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// AcctEntry is one line of sacct: one array task's final (or current) state.
type AcctEntry struct {
	ArrayJobID string
	TaskID     int
	State      string // first word: COMPLETED, FAILED, CANCELLED, TIMEOUT, ...
	ExitCode   string // "code:signal"
}

// Accounting asks sacct about the jobs. ok is false when the cluster has
// no accounting (sacct fails), which is not an error for a status.
func (c Commands) Accounting(jobIDs []string) (es []AcctEntry, ok bool) {
	if len(jobIDs) == 0 {
		return nil, false
	}
	out, err := c.Run("sacct", "-n", "-P", "-X", "-j", strings.Join(jobIDs, ","), "-o", "JobID,State,ExitCode")
	if err != nil {
		return nil, false
	}
	es, err = ParseSacct(string(out))
	return es, err == nil
}

// ParseSacct reads sacct -n -P -X -o JobID,State,ExitCode output. Array
// tasks appear as "123_4"; pending ranges ("123_[5-9%2]") and plain jobs
// are kept with TaskID -1.
func ParseSacct(out string) ([]AcctEntry, error) {
	var es []AcctEntry
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) != 3 {
			return nil, fmt.Errorf("sacct line %d: %q has %d fields, want 3 (JobID|State|ExitCode)", n+1, line, len(f))
		}
		job, task, isArray := strings.Cut(f[0], "_")
		if !isJobID(job) {
			return nil, fmt.Errorf("sacct line %d: %q: job id %q is not a number", n+1, line, job)
		}
		e := AcctEntry{ArrayJobID: job, TaskID: -1, ExitCode: f[2]}
		if isArray && !strings.HasPrefix(task, "[") {
			t, err := strconv.Atoi(task)
			if err != nil || t < 0 {
				return nil, fmt.Errorf("sacct line %d: %q: array task %q is not a number", n+1, line, task)
			}
			e.TaskID = t
		}
		st := strings.Fields(f[1])
		if len(st) == 0 {
			return nil, fmt.Errorf("sacct line %d: %q has no state", n+1, line)
		}
		e.State = st[0]
		es = append(es, e)
	}
	return es, nil
}
