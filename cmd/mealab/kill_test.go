package main

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
)

// TestMain lets the test binary act as mealab itself, so the kill test can
// start real training processes without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("MEALAB_TEST_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func mealabCmd(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MEALAB_TEST_AS_MAIN=1")
	return cmd
}

// TestKillAndResume starts a recording training process, kills it with
// SIGKILL at random moments several times, and after each kill checks that
// the session opens, every flushed line parses, no final file is half
// written, the newest checkpoint loads, and the curve continues without a
// gap beyond the last checkpoint. Then it lets the run finish and checks
// that the whole curve is one continuous series.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes; skipped with -short")
	}
	dir := t.TempDir()
	const steps = 240
	args := []string{"train", "--preset", "quick", "--session", "k", "--dir", dir, "--steps", "240",
		"--checkpoint-every", "5", "--quiet", "--set", "sample_every=40", "--threads", "1"}
	rng := rand.New(rand.NewPCG(7, 7))
	lastCkpt := map[string]int{}
	for kill := 0; kill < 5; kill++ {
		cmd := mealabCmd(t, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(400+rng.IntN(900)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()

		store, err := sessions.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		sess, err := store.Load("k")
		if err != nil {
			t.Fatalf("kill %d: session does not open: %v\n%s", kill, err, out.String())
		}
		runs, err := record.Load(sess)
		if err != nil {
			t.Fatalf("kill %d: %v", kill, err)
		}
		for _, ld := range runs {
			for _, w := range ld.Warnings {
				// Only a torn last line (the line being written at the kill) is acceptable.
				if !strings.Contains(w, "the last line, is incomplete") {
					t.Errorf("kill %d: run %s: %s", kill, ld.Meta.Name, w)
				}
			}
			if ld.State == nil {
				continue // killed before the first checkpoint
			}
			if ld.State.Step < lastCkpt[ld.Meta.Name] {
				t.Errorf("kill %d: run %s went back from checkpoint %d to %d", kill, ld.Meta.Name, lastCkpt[ld.Meta.Name], ld.State.Step)
			}
			lastCkpt[ld.Meta.Name] = ld.State.Step
			// The loaded curve runs 1..checkpoint step with no gap.
			for i, p := range ld.History.Points {
				if p.Step != i+1 {
					t.Fatalf("kill %d: run %s: point %d has step %d (gap)", kill, ld.Meta.Name, i, p.Step)
				}
			}
			if n := len(ld.History.Points); n != ld.State.Step {
				t.Errorf("kill %d: run %s: %d points up to checkpoint step %d", kill, ld.Meta.Name, n, ld.State.Step)
			}
		}
		// No final file is half-written: every checkpoint under its real name loads.
		_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(path, ".safetensors") && !strings.HasPrefix(d.Name(), ".") {
				if _, _, err := sessions.LoadCheckpoint(path); err != nil {
					t.Errorf("kill %d: %s: %v", kill, path, err)
				}
			}
			return nil
		})
		t.Logf("kill %d after %s: checkpoints at %v", kill, "random delay", lastCkpt)
	}
	// Let it finish.
	cmd := mealabCmd(t, args...)
	outb, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("final run: %v\n%s", err, outb)
	}
	store, _ := sessions.Open(dir)
	sess, _ := store.Load("k")
	runs, _ := record.Load(sess)
	if len(runs) != 2 {
		t.Fatalf("%d runs after the kills, want 2", len(runs))
	}
	for _, ld := range runs {
		if ld.State == nil || ld.State.Step != steps || len(ld.History.Points) != steps {
			t.Fatalf("run %s: finished at checkpoint %v with %d points, want %d", ld.Meta.Name, ld.State, len(ld.History.Points), steps)
		}
		for i, p := range ld.History.Points {
			if p.Step != i+1 {
				t.Fatalf("run %s: final curve has a gap at %d", ld.Meta.Name, i)
			}
		}
	}
	// The files themselves hold every step once: a resumed run drops what
	// it repeats (issue 11: metrics.jsonl held steps twice).
	for name, got := range stepLines(t, dir, "k") {
		for i, s := range got {
			if s != i+1 || len(got) != steps {
				t.Fatalf("%s/metrics.jsonl: %d step lines, line %d holds step %d; want steps 1..%d once each", name, len(got), i, s, steps)
			}
		}
	}
	t.Logf("final: both runs at step %d, continuous curves after 5 kills", steps)
}

// TestUninterruptedEqualsKilled compares the final losses of a killed and
// resumed session with one that never stopped (bit-identical: same machine,
// same thread count).
func TestUninterruptedEqualsKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes; skipped with -short")
	}
	base := []string{"train", "--preset", "quick", "--session", "x", "--steps", "120", "--checkpoint-every", "7", "--quiet", "--threads", "1"}
	a, b := killedAgainstUninterrupted(t, base, "x", 700*time.Millisecond)
	for name, la := range a {
		equalCurves(t, name, la, b[name], 120)
	}
}

// killedAgainstUninterrupted runs the train command base (which records
// into session) once uninterrupted and once SIGKILLed after wait and run
// again, and returns every run's per-step losses of both sessions.
func killedAgainstUninterrupted(t *testing.T, base []string, session string, wait time.Duration) (a, b map[string][]float64) {
	t.Helper()
	dirA, dirB := t.TempDir(), t.TempDir()
	if out, err := mealabCmd(t, append(base, "--dir", dirA)...).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cmd := mealabCmd(t, append(base, "--dir", dirB)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(wait)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if out, err := mealabCmd(t, append(base, "--dir", dirB)...).CombinedOutput(); err != nil {
		t.Fatalf("reopen: %v\n%s", err, out)
	}
	load := func(dir string) map[string][]float64 {
		store, _ := sessions.Open(dir)
		sess, err := store.Load(session)
		if err != nil {
			t.Fatal(err)
		}
		runs, _ := record.Load(sess)
		out := map[string][]float64{}
		for _, ld := range runs {
			for _, p := range ld.History.Points {
				out[ld.Meta.Name] = append(out[ld.Meta.Name], p.Loss)
			}
		}
		return out
	}
	return load(dirA), load(dirB)
}

// equalCurves fails unless la and lb both have n points, equal bit for bit.
func equalCurves(t *testing.T, name string, la, lb []float64, n int) {
	t.Helper()
	if len(la) != n || len(lb) != n {
		t.Fatalf("%s: %d and %d points, want %d", name, len(la), len(lb), n)
	}
	for i := range la {
		if la[i] != lb[i] {
			t.Fatalf("%s step %d: uninterrupted %v, killed+resumed %v", name, i+1, la[i], lb[i])
		}
	}
}

// TestCtrlCPrintsTable interrupts a headless run the way a person would.
func TestCtrlCPrintsTable(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real process; skipped with -short")
	}
	cmd := mealabCmd(t, "train", "--preset", "quick", "--steps", "100000", "--quiet")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after Ctrl-C: %v\n%s", err, out.String())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("no exit 20 s after Ctrl-C")
	}
	for _, want := range []string{"interrupted: the table so far", "train loss", "running"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
