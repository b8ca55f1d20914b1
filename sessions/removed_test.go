package sessions

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestRemoveRunSticks(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Create("demo")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		r, err := s.CreateRun(n, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AppendMetric(map[string]int{"step": 1}); err != nil {
			t.Fatal(err)
		}
		r.Close()
	}
	if err := s.RemoveRun("b", map[string]int{"step": 7}); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveRun("b", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing it twice: %v, want ErrNotFound", err)
	}
	// Reopened from disk, the run stays removed, its files kept aside.
	s2, err := st.Load("demo")
	if err != nil {
		t.Fatal(err)
	}
	if runs, _ := s2.Runs(); !slices.Equal(runs, []string{"a"}) {
		t.Errorf("runs after removal: %v, want [a]", runs)
	}
	if _, err := s2.OpenRun("b"); !errors.Is(err, ErrNotFound) {
		t.Errorf("opening the removed run: %v", err)
	}
	rm, err := s2.RemovedRuns()
	if err != nil || len(rm) != 1 || rm[0].Name != "b" || string(rm[0].Record) != `{"step":7}` || rm[0].Removed.IsZero() {
		t.Fatalf("removed runs: %+v, %v", rm, err)
	}
	if _, err := os.Stat(filepath.Join(rm[0].Dir, metricsFile)); err != nil {
		t.Errorf("the removed run's files are not kept: %v", err)
	}
	infos, _ := st.List()
	if len(infos) != 1 || infos[0].Runs != 1 {
		t.Errorf("listing counts %+v, want 1 run", infos)
	}
	// The name is free again.
	if _, err := s2.CreateRun("b", nil); err != nil {
		t.Errorf("a new run under the removed name: %v", err)
	}
}

// TestRemoveRunCrashWindow: a crash after the record was written but before
// the move leaves the run in runs/; it still counts as removed, and
// creating a run of that name finishes the move.
func TestRemoveRunCrashWindow(t *testing.T) {
	st, _ := Open(t.TempDir())
	s, _ := st.Create("demo")
	r, _ := s.CreateRun("x", nil)
	r.Close()
	doc, _ := json.Marshal(removedDoc{Format: RemovedFormat, Version: RemovedVersion, Run: "x"})
	if err := WriteFileAtomic(filepath.Join(r.Dir(), removedFile), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	if runs, _ := s.Runs(); len(runs) != 0 {
		t.Errorf("a half-removed run is listed: %v", runs)
	}
	if rm, _ := s.RemovedRuns(); len(rm) != 1 || rm[0].Name != "x" {
		t.Errorf("removed runs: %+v", rm)
	}
	if _, err := s.CreateRun("x", nil); err != nil {
		t.Fatal(err)
	}
	if runs, _ := s.Runs(); !slices.Equal(runs, []string{"x"}) {
		t.Errorf("runs %v, want the new x", runs)
	}
	if rm, _ := s.RemovedRuns(); len(rm) != 1 || !strings.Contains(rm[0].Dir, removedDir) {
		t.Errorf("the half-done removal was not finished: %+v", rm)
	}
	// A removal record from a newer mealab is reported, not misread.
	newer, _ := json.Marshal(removedDoc{Format: RemovedFormat, Version: RemovedVersion + 1})
	p := filepath.Join(t.TempDir(), removedFile)
	_ = os.WriteFile(p, newer, 0o644)
	var nv *NewerVersionError
	if _, err := readRemovedDoc(p); !errors.As(err, &nv) {
		t.Errorf("newer removal record: %v", err)
	}
}
