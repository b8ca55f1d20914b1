package main

import (
	"os"
	"path/filepath"
	"strings"
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
	base := []string{"train", "--preset", "quick", "--seeds", "2", "--session", "g", "--steps", "60", "--checkpoint-every", "7",
		"--set", "width=32", "--set", "layers=1", "--set", "eval_every=20", "--quiet", "--threads", "1"}
	a, b := killedAgainstUninterrupted(t, base, "g", 600*time.Millisecond)
	if len(a) != 4 {
		t.Fatalf("session holds %d runs, want 4 replicas", len(a))
	}
	for name, la := range a {
		if !strings.Contains(name, "@seed=") {
			t.Errorf("run %s is not named as a replica", name)
		}
		equalCurves(t, name, la, b[name], 60)
	}
	dirA := t.TempDir()
	if out, err := mealabCmd(t, append(base, "--dir", dirA)...).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	store, _ := sessions.Open(dirA)
	sess, err := store.Load("g")
	if err != nil {
		t.Fatal(err)
	}
	runs, _ := record.Load(sess)
	for _, ld := range runs {
		if ld.Meta.Config.Group == "" || ld.Meta.Config.Replica == 0 {
			t.Errorf("run %s lost its group in the session", ld.Meta.Name)
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
