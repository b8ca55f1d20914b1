package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/sweep"
)

// losses reads every run's training losses from a session, by run name.
func losses(t *testing.T, dir, name string) map[string][]float64 {
	t.Helper()
	store, err := sessions.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := store.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	runs, err := record.Load(sess)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]float64{}
	for _, ld := range runs {
		for _, w := range ld.Warnings {
			t.Errorf("%s/%s: %s", name, ld.Meta.Name, w)
		}
		for i, p := range ld.History.Points {
			if p.Step != i+1 {
				t.Fatalf("%s/%s: point %d has step %d (gap)", name, ld.Meta.Name, i, p.Step)
			}
			out[ld.Meta.Name] = append(out[ld.Meta.Name], p.Loss)
		}
	}
	return out
}

// TestSweepTasksEqualLocalSweep trains a grid twice: as a local sweep, and
// as one `train --session S --only RUN` process per run, all at once on one
// session (as Slurm array tasks would), one stopped by SIGTERM and one
// killed by SIGKILL mid-run, both started again. Every run must end with the same losses at
// every step, bit for bit, and the task records must say done.
func TestSweepTasksEqualLocalSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	dir := t.TempDir()
	const steps = "80"
	if out, errs, code := runCLI("sweep", "quick", "--set", "steps="+steps, "--session", "local", "--dir", dir, "--threads", "1", "--parallel", "1"); code != 0 {
		t.Fatalf("local sweep: exit %d\n%s%s", code, out, errs)
	}
	// The sweep session, as --slurm writes it, without submitting.
	out, errs, code := runCLI("sweep", "quick", "--set", "steps="+steps, "--slurm", "--dry-run", "--session", "tasks", "--dir", dir, "--binary", os.Args[0])
	if code != 0 || !strings.Contains(out, "not submitted") {
		t.Fatalf("--dry-run: exit %d\n%s%s", code, out, errs)
	}
	script, err := os.ReadFile(dir + "/tasks/sweep/job-1.sbatch")
	if err != nil || !strings.Contains(string(script), "train --dir "+dir+" --session tasks --only mea") {
		t.Fatalf("script: %v\n%s", err, script)
	}
	args := func(run string) []string {
		return []string{"train", "--dir", dir, "--session", "tasks", "--only", run, "--threads", "1", "--quiet", "--checkpoint-every", "10"}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	fail := func(format string, a ...any) { mu.Lock(); t.Errorf(format, a...); mu.Unlock() }
	wg.Add(2)
	go func() {
		// Killed outright (SIGKILL, as Slurm does after the grace time),
		// then started again.
		defer wg.Done()
		cmd := mealabCmd(t, args("mha")...)
		if err := cmd.Start(); err != nil {
			fail("%v", err)
			return
		}
		time.Sleep(500 * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if b, err := mealabCmd(t, args("mha")...).CombinedOutput(); err != nil {
			fail("task mha: %v\n%s", err, b)
		}
	}()
	go func() {
		defer wg.Done()
		cmd := mealabCmd(t, args("mea")...)
		var b bytes.Buffer
		cmd.Stdout, cmd.Stderr = &b, &b
		if err := cmd.Start(); err != nil {
			fail("%v", err)
			return
		}
		time.Sleep(700 * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		if err == nil || !strings.Contains(b.String(), "checkpointed") {
			// It may have finished before the signal on a fast machine.
			if !strings.Contains(b.String(), "done") {
				fail("SIGTERM: want a non-zero exit saying it checkpointed, got %v\n%s", err, b.String())
			}
		}
		store, _ := sessions.Open(dir)
		sess, _ := store.Load("tasks")
		rec, ok, _ := sweep.LoadTask(sess, "r2-mea")
		if err != nil && (!ok || rec.State != sweep.TaskInterrupted) {
			fail("after SIGTERM the task record is %+v (ok %v), want interrupted", rec, ok)
		}
		if b, err := mealabCmd(t, args("mea")...).CombinedOutput(); err != nil {
			fail("task mea again: %v\n%s", err, b)
		}
	}()
	wg.Wait()
	a, b := losses(t, dir, "local"), losses(t, dir, "tasks")
	if len(a) != 2 || len(b) != 2 {
		t.Fatalf("runs: local %d, tasks %d", len(a), len(b))
	}
	for name, la := range a {
		lb := b[name]
		if len(la) != 80 || len(lb) != 80 {
			t.Fatalf("%s: %d and %d points, want 80", name, len(la), len(lb))
		}
		for i := range la {
			if la[i] != lb[i] {
				t.Fatalf("%s step %d: local sweep %v, task %v", name, i+1, la[i], lb[i])
			}
		}
	}
	store, _ := sessions.Open(dir)
	sess, _ := store.Load("tasks")
	pl, err := sweep.LoadPlan(sess)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sweep.Combine(sess, pl, nil, nil) {
		if st.State != sweep.NotSubmitted && st.State != sweep.Done || st.Task == nil || st.Task.State != sweep.TaskDone || st.Step != 80 {
			t.Errorf("status of %s: %+v", st.Run.Name, st)
		}
	}
	// The session lists both runs, and the status command reads it.
	out, errs, code = runCLI("sweep", "status", "tasks", "--dir", dir)
	if code != 0 || !strings.Contains(out, "80/80") {
		t.Errorf("status: exit %d\n%s%s", code, out, errs)
	}
}

func TestSweepUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"sweep"},
		{"sweep", "quick"},                  // no session
		{"sweep", "nope", "--session", "x"}, // no preset
		{"sweep", "quick", "--session", "x", "--partition", "p"}, // slurm flag without --slurm
		{"sweep", "quick", "--session", "x", "--slurm", "--cpus-per-task", "0"},
		{"sweep", "quick", "--session", "x", "--slurm", "--sbatch-arg", "--array=1-3"},
		{"sweep", "quick", "--session", "x", "--slurm", "--sbatch-arg", "--comment=a b"},
		{"sweep", "quick", "--session", "x", "--slurm", "--time", "1:00;rm"},
		{"sweep", "quick", "--session", "x", "--slurm", "--dry-run", "--wait"},
		{"sweep", "resubmit", "x"}, // no --failed
		{"sweep", "status", "x", "--partition", "p"},
		{"sweep", "quick", "--session", "x", "--preset", "quick"},
		{"train", "--preset", "quick", "--only", "nope"},
	} {
		_, errs, code := runCLI(append(args, "--dir", dir)...)
		if code != 2 || !strings.HasPrefix(errs, "mealab: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with a message", args, code, errs)
		}
	}
	// A sweep session's grid is fixed: --set cannot apply to its tasks.
	if _, errs, code := runCLI("sweep", "quick", "--slurm", "--dry-run", "--session", "fixed", "--dir", dir, "--binary", os.Args[0]); code != 0 {
		t.Fatal(errs)
	}
	_, errs, code := runCLI("train", "--session", "fixed", "--dir", dir, "--only", "mha", "--set", "lr=1")
	if code != 2 || !strings.Contains(errs, "fixed by its plan") {
		t.Errorf("train --only --set on a sweep: exit %d, %q", code, errs)
	}
	// And the same session name cannot be swept twice.
	_, errs, code = runCLI("sweep", "quick", "--slurm", "--dry-run", "--session", "fixed", "--dir", dir, "--binary", os.Args[0])
	if code != 2 || !strings.Contains(errs, "exists") {
		t.Errorf("second sweep into one session: exit %d, %q", code, errs)
	}
}

// TestTrainOnlyWithoutSession: --only picks runs of the preset and keeps
// their grid ids.
func TestTrainOnlyWithoutSession(t *testing.T) {
	out, errs, code := runCLI("train", "--preset", "quick", "--only", "mea", "--steps", "5", "--quiet")
	if code != 0 || !strings.Contains(out, "only mea") || strings.Contains(out, "  mha ") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSessionsShowFollow follows a session while two task processes write
// it: both runs appear, with evaluations, and end done.
func TestSessionsShowFollow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	dir := t.TempDir()
	if _, errs, code := runCLI("sweep", "quick", "--set", "steps=60", "--slurm", "--dry-run", "--session", "f", "--dir", dir, "--binary", os.Args[0]); code != 0 {
		t.Fatal(errs)
	}
	store, _ := sessions.Open(dir)
	sess, err := store.Load("f")
	if err != nil {
		t.Fatal(err)
	}
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- showFollow(ctx, sess, 50*time.Millisecond, &out) }()
	for _, run := range []string{"mha", "mea"} {
		cmd := mealabCmd(t, "train", "--dir", dir, "--session", "f", "--only", run, "--threads", "1", "--quiet")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(out.String(), "done at step 60/60") < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"0 runs so far", "mha              new run (MHA", "mea              new run (MEA", "step 50  val", "mea              done at step 60/60"} {
		if !strings.Contains(got, want) {
			t.Errorf("follow output lacks %q:\n%s", want, got)
		}
	}
	if _, errs, code := runCLI("sessions", "list", "--follow", "--dir", dir); code != 2 {
		t.Errorf("list --follow: exit %d %s", code, errs)
	}
	if _, errs, code := runCLI("--session", "f", "--dir", dir, "--follow", "--preset", "quick"); code != 2 || !strings.Contains(errs, "--preset") {
		t.Errorf("lab --follow --preset: exit %d %s", code, errs)
	}
}

// TestOneWriterPerRun: a second process asked to train a run that another
// is training (a resubmission while the first task still runs) refuses,
// naming the holder, and leaves the run alone.
func TestOneWriterPerRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	dir := t.TempDir()
	if _, errs, code := runCLI("sweep", "quick", "--set", "steps=100000", "--slurm", "--dry-run", "--session", "w", "--dir", dir, "--binary", os.Args[0]); code != 0 {
		t.Fatal(errs)
	}
	args := []string{"train", "--dir", dir, "--session", "w", "--only", "mha", "--threads", "1", "--quiet"}
	first := mealabCmd(t, args...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = first.Process.Kill(); _ = first.Wait() }()
	store, _ := sessions.Open(dir)
	sess, _ := store.Load("w")
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, ok, _ := sweep.LoadTask(sess, "r1-mha"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first task never started")
		}
	}
	out, err := mealabCmd(t, args...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "being written by pid") {
		t.Fatalf("second writer: %v\n%s", err, out)
	}
}

// TestSweepFlagsApply: --steps and --seeds reach a sweep's runs and its
// plan (--steps was once ignored).
func TestSweepFlagsApply(t *testing.T) {
	dir := t.TempDir()
	out, errs, code := runCLI("sweep", "quick", "--steps", "7", "--seeds", "2", "--session", "x", "--dir", dir, "--threads", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"steps=7 seeds=2, 4 runs", "mha@seed=2", "done     step 7/7"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
