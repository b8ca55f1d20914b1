package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
)

// A seeded group resumes bit-exactly from its session, like a single run:
// every replica's curve after a SIGKILL and a reopen equals the
// uninterrupted one; the export has group and replica columns, a
// groups.csv and a banded PNG.
func TestSeededGroupResumesAndExports(t *testing.T) {
	if testing.Short() {
		t.Skip("kills real processes; skipped with -short")
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	base := []string{"train", "--preset", "quick", "--seeds", "2", "--session", "g", "--steps", "60", "--checkpoint-every", "7",
		"--set", "width=32", "--set", "layers=1", "--set", "eval_every=20", "--quiet", "--threads", "1"}
	if out, err := mealabCmd(t, append(base, "--dir", dirA)...).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cmd := mealabCmd(t, append(base, "--dir", dirB)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if out, err := mealabCmd(t, append(base, "--dir", dirB)...).CombinedOutput(); err != nil {
		t.Fatalf("reopen: %v\n%s", err, out)
	}
	load := func(dir string) map[string][]float64 {
		store, _ := sessions.Open(dir)
		sess, err := store.Load("g")
		if err != nil {
			t.Fatal(err)
		}
		runs, _ := record.Load(sess)
		out := map[string][]float64{}
		for _, ld := range runs {
			if ld.Meta.Config.Group == "" || ld.Meta.Config.Replica == 0 {
				t.Errorf("run %s lost its group in the session", ld.Meta.Name)
			}
			for _, p := range ld.History.Points {
				out[ld.Meta.Name] = append(out[ld.Meta.Name], p.Loss)
			}
		}
		return out
	}
	a, b := load(dirA), load(dirB)
	if len(a) != 4 {
		t.Fatalf("session holds %d runs, want 4 replicas", len(a))
	}
	for name, la := range a {
		lb := b[name]
		if len(la) != 60 || len(lb) != 60 {
			t.Fatalf("%s: %d and %d points", name, len(la), len(lb))
		}
		for i := range la {
			if la[i] != lb[i] {
				t.Fatalf("%s step %d: uninterrupted %v, killed+resumed %v", name, i+1, la[i], lb[i])
			}
		}
	}
	if a["mha@seed=1"][59] == a["mha@seed=2"][59] {
		t.Error("two replicas of a group trained identically: seeds are not applied")
	}
	out := t.TempDir()
	png := filepath.Join(out, "g.png")
	o, e, code := runCLI("sessions", "export", "g", "--dir", dirA, "--csv", out, "--png", png)
	if code != 0 {
		t.Fatalf("export: exit %d %s", code, e)
	}
	groups, err := os.ReadFile(filepath.Join(out, "groups.csv"))
	if err != nil {
		t.Fatalf("%v (%s)", err, o)
	}
	if !strings.HasPrefix(string(groups), "group,variant,lr,seeds,") || !strings.Contains(string(groups), "\nmea,MEA,") || !strings.Contains(string(groups), "paired t") {
		t.Errorf("groups.csv:\n%s", groups)
	}
	run, err := os.ReadFile(filepath.Join(out, "mea@seed=2.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(run), "\n")
	if !strings.HasSuffix(lines[0], ",group,replica") || !strings.HasSuffix(lines[1], ",mea,2") {
		t.Errorf("run csv: %q / %q", lines[0], lines[1])
	}
	if st, err := os.Stat(png); err != nil || st.Size() < 1000 {
		t.Errorf("png: %v", err)
	}
}
