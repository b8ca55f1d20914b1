package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func collect(t *testing.T, input string) ([]string, ReadReport, error) {
	t.Helper()
	var lines []string
	rep, err := ReadJSONL(strings.NewReader(input), FormatMetrics, func(raw json.RawMessage) error {
		lines = append(lines, string(raw))
		return nil
	})
	return lines, rep, err
}

const hdr = `{"format":"mealab.metrics","version":1}` + "\n"

func TestReadJSONL(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		lines    int
		skipped  int
		warnLike string
	}{
		{"empty file", "", 0, 0, ""},
		{"header only", hdr, 0, 0, ""},
		{"clean", hdr + `{"step":1}` + "\n" + `{"step":2}` + "\n", 2, 0, ""},
		{"torn last line", hdr + `{"step":1}` + "\n" + `{"step":2,"lo`, 1, 1, "last line, is incomplete"},
		{"complete last line without newline", hdr + `{"step":1}`, 1, 0, ""},
		{"garbage in middle", hdr + `{"step":1}` + "\n" + "\x00\x00garbage\n" + `{"step":3}` + "\n", 2, 1, "line 3 is not valid JSON"},
		{"blank lines", hdr + "\n\n" + `{"step":1}` + "\r\n\n", 1, 0, ""},
		{"no header", `{"step":1}` + "\n", 1, 0, "no mealab.metrics header"},
		{"torn header", `{"format":"mealab.met`, 0, 1, "incomplete"},
		{"older version", `{"format":"mealab.metrics","version":1}` + "\n" + `[1,2]` + "\n", 1, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lines, rep, err := collect(t, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Lines != tc.lines || len(lines) != tc.lines || rep.Skipped != tc.skipped {
				t.Errorf("report %+v with %d lines, want %d lines and %d skipped", rep, len(lines), tc.lines, tc.skipped)
			}
			if tc.warnLike != "" && !strings.Contains(strings.Join(rep.Warnings, "\n"), tc.warnLike) {
				t.Errorf("warnings %q lack %q", rep.Warnings, tc.warnLike)
			}
		})
	}
}

func TestReadJSONLNewerVersion(t *testing.T) {
	_, _, err := collect(t, `{"format":"mealab.metrics","version":7}`+"\n"+`{"step":1}`+"\n")
	var nv *NewerVersionError
	if !errors.As(err, &nv) || nv.Version != 7 {
		t.Fatalf("got %v, want a NewerVersionError", err)
	}
	if !strings.Contains(err.Error(), "written by a newer mealab (format v7); upgrade mealab to read it") {
		t.Errorf("message %q", err)
	}
}

func TestReadJSONLWrongFormat(t *testing.T) {
	_, _, err := collect(t, `{"format":"mealab.events","version":1}`+"\n")
	if err == nil || !strings.Contains(err.Error(), "not \"mealab.metrics\"") {
		t.Fatalf("got %v", err)
	}
}

func TestReadJSONLCallbackError(t *testing.T) {
	stop := errors.New("stop")
	_, err := ReadJSONL(strings.NewReader(hdr+"1\n2\n"), FormatMetrics, func(json.RawMessage) error { return stop })
	if !errors.Is(err, stop) || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("got %v", err)
	}
}

func TestReadJSONLLongLine(t *testing.T) {
	long := `"` + strings.Repeat("x", MaxLineBytes+10) + `"`
	lines, rep, err := collect(t, hdr+long+"\n"+`{"ok":1}`+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 1 || rep.Skipped != 1 {
		t.Errorf("lines %d, report %+v", len(lines), rep)
	}
}

func TestReadJSONLWarningsBounded(t *testing.T) {
	in := hdr + strings.Repeat("garbage\n", 1000)
	_, rep, err := collect(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Skipped != 1000 || len(rep.Warnings) > maxWarnings+1 {
		t.Errorf("skipped %d with %d warnings", rep.Skipped, len(rep.Warnings))
	}
}

func newTestRun(t *testing.T) *Run {
	t.Helper()
	st, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := st.Create("s")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.CreateRun("r", map[string]any{"config": map[string]int{"layers": 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

type metric struct {
	Step int     `json:"step"`
	Loss float64 `json:"loss"`
}

func readAllMetrics(t *testing.T, r *Run) ([]metric, ReadReport) {
	t.Helper()
	var out []metric
	rep, err := r.ReadMetrics(func(raw json.RawMessage) error {
		var m metric
		if err := json.Unmarshal(raw, &m); err != nil {
			return err
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, rep
}

func TestRunAppendAndRead(t *testing.T) {
	r := newTestRun(t)
	if got, _ := readAllMetrics(t, r); len(got) != 0 {
		t.Fatalf("new run has metrics %v", got)
	}
	for i := 1; i <= 3; i++ {
		if err := r.AppendMetric(metric{Step: i, Loss: 1 / float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.AppendEvent(map[string]string{"kind": "start"}); err != nil {
		t.Fatal(err)
	}
	if err := r.AppendSample(map[string]any{"step": 3, "text": "line one\nline two"}); err != nil {
		t.Fatal(err)
	}
	got, rep := readAllMetrics(t, r)
	if len(got) != 3 || got[2].Step != 3 || rep.Skipped != 0 {
		t.Fatalf("got %v, %+v", got, rep)
	}
	b, err := os.ReadFile(filepath.Join(r.Dir(), "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte(hdr)) {
		t.Errorf("metrics.jsonl starts %q", b[:min(len(b), 60)])
	}
	for _, f := range []struct{ file, format string }{{"events.jsonl", FormatEvents}, {"samples.jsonl", FormatSamples}} {
		b, err := os.ReadFile(filepath.Join(r.Dir(), f.file))
		if err != nil {
			t.Fatal(err)
		}
		if lines := bytes.Count(b, []byte("\n")); lines != 2 || !bytes.Contains(b, []byte(f.format)) {
			t.Errorf("%s: %q", f.file, b)
		}
	}
	var n int
	if _, err := r.ReadSamples(func(raw json.RawMessage) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("samples: %d, %v", n, err)
	}
	if _, err := r.ReadEvents(func(raw json.RawMessage) error { n++; return nil }); err != nil || n != 2 {
		t.Errorf("events: %d, %v", n, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.AppendMetric(metric{}); err == nil {
		t.Error("append after Close succeeded")
	}
	if got, _ := readAllMetrics(t, r); len(got) != 3 {
		t.Errorf("reading after Close: %v", got)
	}
}

func TestRunTornLineOnReopen(t *testing.T) {
	r := newTestRun(t)
	if err := r.AppendMetric(metric{Step: 1}); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// Simulate a kill in the middle of writing a line.
	p := filepath.Join(r.Dir(), "metrics.jsonl")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"step":2,"lo`); err != nil {
		t.Fatal(err)
	}
	f.Close()

	got, rep := readAllMetrics(t, r)
	if len(got) != 1 || rep.Skipped != 1 || len(rep.Warnings) != 1 {
		t.Fatalf("torn: got %v, %+v", got, rep)
	}

	r2, err := r.Session().OpenRun("r")
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if err := r2.AppendMetric(metric{Step: 3}); err != nil {
		t.Fatal(err)
	}
	got, rep = readAllMetrics(t, r2)
	if len(got) != 2 || got[1].Step != 3 || rep.Skipped != 1 {
		t.Fatalf("after reopen: got %v, %+v", got, rep)
	}
	if !strings.Contains(rep.Warnings[0], "line 3 is not valid JSON") {
		t.Errorf("warning %q", rep.Warnings[0])
	}
}

func TestRunRefusesNewerFile(t *testing.T) {
	r := newTestRun(t)
	p := filepath.Join(r.Dir(), "metrics.jsonl")
	if err := os.WriteFile(p, []byte(`{"format":"mealab.metrics","version":2}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := r.AppendMetric(metric{})
	if err == nil || !strings.Contains(err.Error(), "upgrade mealab") {
		t.Fatalf("append to newer file: %v", err)
	}
	_, err = r.ReadMetrics(func(json.RawMessage) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "metrics.jsonl was written by a newer mealab (format v2); upgrade mealab to read it") {
		t.Fatalf("read newer file: %v", err)
	}
}

func TestRunBuffered(t *testing.T) {
	old := flushInterval
	flushInterval = 50 * time.Millisecond
	defer func() { flushInterval = old }()

	r := newTestRun(t)
	if err := r.SetBuffered(true); err != nil {
		t.Fatal(err)
	}
	if err := r.AppendMetric(metric{Step: 1}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(r.Dir(), "metrics.jsonl")
	count := func() int {
		b, _ := os.ReadFile(p)
		return bytes.Count(b, []byte("\n"))
	}
	if n := count(); n != 1 {
		t.Fatalf("buffered line reached the file early: %d lines", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for count() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("buffered line never reached the file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Reads in the same process see buffered lines immediately.
	if err := r.AppendMetric(metric{Step: 2}); err != nil {
		t.Fatal(err)
	}
	if got, _ := readAllMetrics(t, r); len(got) != 2 {
		t.Errorf("read sees %d lines, want 2", len(got))
	}
	if err := r.AppendMetric(metric{Step: 3}); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 4 {
		t.Errorf("after Flush: %d lines, want 4", n)
	}
}

func TestRunConcurrentAppends(t *testing.T) {
	r := newTestRun(t)
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func(g int) {
			var err error
			for i := 0; i < 100 && err == nil; i++ {
				err = r.AppendMetric(map[string]any{"g": g, "i": i, "pad": strings.Repeat("x", 100*g)})
			}
			done <- err
		}(g)
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	var n int
	rep, err := r.ReadMetrics(func(json.RawMessage) error { n++; return nil })
	if err != nil || n != 800 || rep.Skipped != 0 {
		t.Fatalf("read %d lines, %+v, %v", n, rep, err)
	}
}
