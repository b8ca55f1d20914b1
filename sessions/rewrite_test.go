package sessions

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRewriteLogs(t *testing.T) {
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sess, err := st.Create("s")
	if err != nil {
		t.Fatal(err)
	}
	r, err := sess.CreateRun("r", map[string]any{"name": "r"})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []int{1, 2, 3, 2, 3} {
		if err := r.AppendMetric(map[string]int{"step": s}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.RewriteLogs(func(string, []json.RawMessage) []json.RawMessage { return nil }); err == nil {
		t.Fatal("rewrote logs that are open for appending")
	}
	_ = r.Close()
	r, err = sess.OpenRun("r")
	if err != nil {
		t.Fatal(err)
	}
	err = r.RewriteLogs(func(format string, lines []json.RawMessage) []json.RawMessage {
		if format != FormatMetrics || len(lines) != 5 {
			t.Errorf("edit got %s with %d lines", format, len(lines))
		}
		return lines[:2]
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(r.Dir(), "metrics.jsonl"))
	if got := strings.Split(strings.TrimSpace(string(b)), "\n"); len(got) != 3 || !strings.Contains(got[0], FormatMetrics) || got[2] != `{"step":2}` {
		t.Fatalf("rewritten file:\n%s", b)
	}
	if err := r.AppendMetric(map[string]int{"step": 3}); err != nil {
		t.Fatal(err)
	}
	_ = r.Close()
	var steps []int
	if _, err := r.ReadMetrics(func(raw json.RawMessage) error {
		var m struct{ Step int }
		_ = json.Unmarshal(raw, &m)
		steps = append(steps, m.Step)
		return nil
	}); err != nil || len(steps) != 3 || steps[2] != 3 {
		t.Fatalf("after appending: %v %v", steps, err)
	}
}
