package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// keysOf is the set of keys of the first JSON line of each type.
func keysOf(lines []map[string]any) map[string]string {
	out := map[string]string{}
	for _, m := range lines {
		typ, _ := m["type"].(string)
		if _, ok := out[typ]; ok {
			continue
		}
		var k []string
		for key := range m {
			k = append(k, key)
		}
		sort.Strings(k)
		out[typ] = strings.Join(k, ",")
	}
	return out
}

// TestTrainOnlyJSON: `train --only RUN --json` prints train --json's lines
// (the same types with the same keys; the start line also names the runs
// of --only) for that run alone.
func TestTrainOnlyJSON(t *testing.T) {
	args := []string{"--steps", "12", "--every", "4", "--set", "eval_every=6", "--json"}
	only := jsonLines(t, mustRun(t, append(trainArgs("--only", "mea"), args...)...))
	all := jsonLines(t, mustRun(t, trainArgs(args...)...))
	if len(only) == 0 || only[0]["type"] != "start" || only[len(only)-1]["type"] != "summary" {
		t.Fatalf("want a start line first and a summary last: %v", only)
	}
	if o, _ := only[0]["only"].([]any); len(o) != 1 || o[0] != "mea" || only[0]["preset"] != "quick" {
		t.Errorf("start line: %v", only[0])
	}
	if runs, _ := only[0]["runs"].([]any); len(runs) != 1 || runs[0].(map[string]any)["name"] != "mea" {
		t.Errorf("start line runs: %v", only[0]["runs"])
	}
	var steps []int
	for _, m := range only {
		if r, ok := m["run"]; ok && r != "mea" {
			t.Errorf("a line about run %v: %v", r, m)
		}
		if m["type"] == "step" {
			steps = append(steps, int(m["step"].(float64)))
			if m["val_step"] != nil && int(m["val_step"].(float64)) > steps[len(steps)-1] {
				t.Errorf("step line with a val from the future: %v", m)
			}
		}
	}
	if got := sprintInts(steps); got != "[1,4,8,12]" {
		t.Errorf("step lines at %s, want [1,4,8,12] (--every 4)", got)
	}
	sum := only[len(only)-1]
	if runs, _ := sum["runs"].([]any); len(runs) != 1 || runs[0].(map[string]any)["run"] != "mea" || runs[0].(map[string]any)["step"].(float64) != 12 {
		t.Errorf("summary: %v", sum)
	}
	ko, ka := keysOf(only), keysOf(all)
	for _, typ := range []string{"step", "eval", "summary"} {
		if ko[typ] == "" || ko[typ] != ka[typ] {
			t.Errorf("%s lines: --only has keys %q, train --json %q", typ, ko[typ], ka[typ])
		}
	}
	if ko["start"] != strings.Replace(ka["start"], "compute,", "compute,only,", 1) {
		t.Errorf("start line: --only has keys %q, train --json %q (plus only)", ko["start"], ka["start"])
	}
}

func sprintInts(v []int) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// stopAt runs mealab args in a process and sends it SIGTERM once a line of
// its output satisfies stop; it returns the lines, and fails unless the
// process exits non-zero saying it checkpointed.
func stopAt(t *testing.T, args []string, stop func(line string) bool) []string {
	t.Helper()
	cmd := mealabCmd(t, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	var lines []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	signalled := false
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if !signalled && stop(sc.Text()) {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			signalled = true
		}
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(stderr.String(), "checkpointed") {
		t.Fatalf("%v: SIGTERM: want a non-zero exit saying it checkpointed; exit %v\n%s\n%s", args, err, strings.Join(lines, "\n"), stderr.String())
	}
	return lines
}

var stepLine = regexp.MustCompile(`^mea +step +(\d+)/2000 `)

// TestTrainOnlyResumes: a sweep task stopped by SIGTERM and started again
// says it resumed from the step of its checkpoint, and its step lines
// start at the next step (none of the run's past again): in text, and with
// --json a resume line, ending with a summary of the finished run.
func TestTrainOnlyResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	dir := t.TempDir()
	if _, errs, code := runCLI("sweep", "sweep-demo", "--set", "lr=3e-3", "--set", "steps=2000", "--slurm", "--dry-run", "--session", "j", "--dir", dir, "--binary", os.Args[0]); code != 0 {
		t.Fatal(errs)
	}
	args := []string{"train", "--dir", dir, "--session", "j", "--only", "mea", "--threads", "1", "--checkpoint-every", "10", "--every", "10"}
	jargs := append(append([]string{}, args...), "--json")

	// A fresh task, stopped at step 20 or a little later.
	var first []map[string]any
	past20 := func(l string) bool {
		var m struct {
			Type string
			Step int
		}
		return json.Unmarshal([]byte(l), &m) == nil && m.Type == "step" && m.Step >= 20
	}
	for _, l := range stopAt(t, jargs, past20) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		if m["type"] == "resume" {
			t.Fatalf("a fresh run printed a resume line: %v", m)
		}
		first = append(first, m)
	}
	if first[0]["type"] != "start" || first[0]["reopened"] != false {
		t.Errorf("a fresh task's start line: %v", first[0])
	}
	last := first[len(first)-1]
	if last["type"] != "summary" || last["interrupted"] != true {
		t.Fatalf("the stopped task's last line: %v", last)
	}
	stopped := int(last["runs"].([]any)[0].(map[string]any)["step"].(float64))

	// Text: started again and stopped again.
	text := stopAt(t, args, func(l string) bool {
		m := stepLine.FindStringSubmatch(l)
		n := 0
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		return n >= stopped+20
	})
	var textSteps []int
	for _, l := range text {
		if m := stepLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			textSteps = append(textSteps, n)
		}
	}
	if want := fmt.Sprintf("mea            resumes from its checkpoint at step %d/2000", stopped); !slices.Contains(text, want) {
		t.Errorf("no line %q in:\n%s", want, strings.Join(text, "\n"))
	}
	if len(textSteps) == 0 || textSteps[0] != stopped+1 {
		t.Fatalf("text step lines at %v, want the first at %d (the step after the checkpoint):\n%s", textSteps, stopped+1, strings.Join(text, "\n"))
	}
	// The first line shows the last validation before the checkpoint, with its step.
	if !slices.ContainsFunc(text, regexp.MustCompile(fmt.Sprintf(`^mea +step +%d/2000 +loss \S+ +val@\d+ `, stopped+1)).MatchString) {
		t.Errorf("the first step line after the resume lacks the last val (val@K):\n%s", strings.Join(text, "\n"))
	}
	stopped = regexpInt(t, `(?m)^\s+mea\s+MEA\s+\S+\s+\S+\s+(\d+)\s`, strings.Join(text, "\n"))

	// JSON: started again, to the end.
	start := time.Now()
	out, errs, code := runCLI(jargs...)
	if code != 0 {
		t.Fatalf("again: exit %d\n%s", code, errs)
	}
	t.Logf("stopped at step %d; resumed and finished in %v", stopped, time.Since(start).Round(time.Millisecond))
	lines := jsonLines(t, out)
	if len(lines) < 3 || lines[0]["type"] != "start" || lines[0]["reopened"] != true {
		t.Fatalf("first lines: %v", lines[:min(3, len(lines))])
	}
	if r := lines[1]; r["type"] != "resume" || r["run"] != "mea" || int(r["step"].(float64)) != stopped || r["steps"].(float64) != 2000 {
		t.Fatalf("want {type: resume, run: mea, step: %d, steps: 2000} after the start line, got %v", stopped, r)
	}
	firstStep := 0
	for _, m := range lines {
		if m["type"] == "step" || m["type"] == "eval" {
			s := int(m["step"].(float64))
			if s <= stopped {
				t.Fatalf("a line from before the resume (step %d <= %d): %v", s, stopped, m)
			}
			if firstStep == 0 && m["type"] == "step" {
				firstStep = s
				if vs, ok := m["val_step"].(float64); !ok || int(vs) > stopped || m["val_loss"] == nil {
					t.Errorf("the first step line after the resume: val %v at %v, want the last one before step %d", m["val_loss"], m["val_step"], stopped)
				}
			}
		}
	}
	if firstStep != stopped+1 {
		t.Errorf("the first step line is step %d, want %d (the step after the checkpoint)", firstStep, stopped+1)
	}
	sum := lines[len(lines)-1]
	row := sum["runs"].([]any)[0].(map[string]any)
	if sum["type"] != "summary" || sum["interrupted"] != false || row["step"].(float64) != 2000 || row["state"] != "done" {
		t.Errorf("summary: %v", sum)
	}
}

func regexpInt(t *testing.T, re, s string) int {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no match for %s in:\n%s", re, s)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestTrainReopenJSONResumes: reopening a session with --json (extending
// it) prints a resume line per run and step lines from the next step on,
// as train --only does.
func TestTrainReopenJSONResumes(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, trainArgs("--steps", "8", "--session", "r", "--dir", dir, "--quiet")...)
	lines := jsonLines(t, mustRun(t, "train", "--session", "r", "--dir", dir, "--steps", "16", "--json", "--every", "4", "--threads", "1"))
	resumed := map[string]int{}
	first := map[string]int{}
	for _, m := range lines {
		run, _ := m["run"].(string)
		switch m["type"] {
		case "resume":
			if _, ok := first[run]; ok {
				t.Errorf("resume line for %s after its step lines", run)
			}
			resumed[run] = int(m["step"].(float64))
		case "step":
			if _, ok := first[run]; !ok {
				first[run] = int(m["step"].(float64))
			}
		}
	}
	for _, run := range []string{"mha", "mea"} {
		if resumed[run] != 8 || first[run] != 9 {
			t.Errorf("%s: resumed at %d, first step line %d; want 8 and 9", run, resumed[run], first[run])
		}
	}
}

// TestTrainOnlyBaselineRefused: --baseline compares a whole grid's seed
// groups; with --only it would be ignored, so it is a usage error.
func TestTrainOnlyBaselineRefused(t *testing.T) {
	wantUsage(t, []string{"train", "--preset", "quick", "--only", "mea", "--baseline", "mha"}, "--baseline", "--only")
}
