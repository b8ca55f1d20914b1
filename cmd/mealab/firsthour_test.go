package main

// Tests for issue 11, "the first hour of a new user": each fails on the
// code before the fix it covers.

import (
	"bufio"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mealab/mealab/gpu"
	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
)

// tiny makes quick runs fast: small model, no samples.
var tiny = []string{"--preset", "quick", "--set", "sample_every=0", "--threads", "1"}

func trainArgs(extra ...string) []string {
	return append(append([]string{"train"}, tiny...), extra...)
}

func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errs, code := runCLI(args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

func wantUsage(t *testing.T, args []string, wants ...string) string {
	t.Helper()
	out, errs, code := runCLI(args...)
	if code != 2 {
		t.Errorf("%v: exit %d, want 2 (usage error)\nstdout %q\nstderr %q", args, code, out, errs)
	}
	for _, w := range wants {
		if !strings.Contains(errs, w) {
			t.Errorf("%v: stderr %q lacks %q", args, errs, w)
		}
	}
	return errs
}

func TestStepsMustBePositive(t *testing.T) {
	for _, v := range []string{"0", "-5"} {
		out, errs, code := runCLI("train", "--preset", "quick", "--steps", v, "--quiet")
		if code != 2 || !strings.Contains(errs, "--steps "+v) || out != "" {
			t.Errorf("--steps %s: exit %d, stdout %q, stderr %q; want exit 2 before any output", v, code, out, errs)
		}
		wantUsage(t, []string{"train", "--preset", "quick", "--set", "steps=" + v})
		wantUsage(t, []string{"--preset", "quick", "--steps", v}) // the lab refuses it before wanting a terminal
	}
	for _, args := range [][]string{
		{"train", "--preset", "quick", "--every", "0"},
		{"train", "--preset", "quick", "--threads", "-2"},
		{"train", "--preset", "quick", "--checkpoint-every", "5"}, // without --session it cannot apply
		{"train", "--preset", "quick", "--dir", "/tmp"},           // likewise
		{"train", "--preset", "quick", "--quiet", "--json"},       // --quiet would be ignored
	} {
		wantUsage(t, args)
	}
	// Configs the trainer would refuse are refused before anything is printed.
	for _, set := range []string{"vocab=5", "batch=100000000"} {
		out, errs, code := runCLI("train", "--preset", "quick", "--set", set, "--quiet")
		if code != 2 || out != "" || !strings.Contains(errs, "run mha") {
			t.Errorf("--set %s: exit %d, stdout %q, stderr %q; want exit 2 before any output", set, code, out, errs)
		}
	}
}

func TestFlagsBeforeSubcommand(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, trainArgs("--steps", "2", "--quiet", "--session", "demo", "--dir", dir)...)
	out := mustRun(t, "sessions", "--dir", dir, "show", "demo")
	if !strings.Contains(out, "session demo (preset quick)") || !strings.Contains(out, "mha") {
		t.Errorf("sessions --dir D show demo did not show the session:\n%s", out)
	}
	wantUsage(t, []string{"sessions", "--dir", dir, "--yes", "show", "demo"}, "--yes does not apply")
	wantUsage(t, []string{"sessions", "--dir", dir, "list", "extra"})
	wantUsage(t, []string{"sessions", "--dir", dir, "export", "demo", "mha", "--csv", dir}, "unexpected argument")
	out = mustRun(t, "sessions", "--dir", dir, "--yes", "rm", "demo")
	if !strings.Contains(out, "removed demo") {
		t.Errorf("sessions --dir D --yes rm demo: %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "demo")); !os.IsNotExist(err) {
		t.Errorf("the session is still there after rm: %v", err)
	}
	// Flags before the command of the top level are refused, not run as the lab.
	wantUsage(t, []string{"--preset", "quick", "train"}, "command first")
	wantUsage(t, []string{"--dir", dir, "sessions", "show", "demo"}, "command first")
	// Commands without flags refuse extra words instead of ignoring them.
	wantUsage(t, []string{"doctor", "--verbose"})
	wantUsage(t, []string{"bench", "extra"})
	wantUsage(t, []string{"version", "x"})
	out = mustRun(t, "help", "train")
	if !strings.Contains(out, "Usage: mealab train") {
		t.Errorf("help train: %q", out)
	}
	for _, c := range commands {
		if c == "help" {
			continue
		}
		if out := mustRun(t, "help", c); !strings.Contains(strings.ToLower(out), "usage") {
			t.Errorf("help %s: %q", c, out)
		}
	}
}

func TestExitCodesOneRule(t *testing.T) {
	dir := t.TempDir()
	bad := "../../etc"
	for _, args := range [][]string{
		{"sessions", "show", bad, "--dir", dir},
		{"sessions", "rm", bad, "--dir", dir, "--yes"},
		{"sessions", "export", bad, "--csv", dir, "--dir", dir},
		{"sessions", "show", "nosuch", "--dir", dir},
		{"sample", bad, "mha", "--dir", dir},
		{"eval", "nosuch", "mha", "--dir", dir},
		{"train", "--session", bad, "--dir", dir},
	} {
		wantUsage(t, args)
	}
	if gpu.Built {
		return
	}
	for flagUsed, args := range map[string][]string{
		"--device cuda":     {"train", "--preset", "quick", "--device", "cuda"},
		"--set device=cuda": {"train", "--preset", "quick", "--set", "device=cuda"},
	} {
		out, errs, code := runCLI(args...)
		if code != 2 || out != "" || !strings.Contains(errs, flagUsed) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2, nothing printed, a message naming %s", args, code, out, errs, flagUsed)
		}
		if flagUsed == "--device cuda" && strings.Contains(errs, "--set device") {
			t.Errorf("%v: the message names --set device although the user typed --device: %q", args, errs)
		}
	}
}

// jsonLines decodes train --json output.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %q", sc.Text())
		}
		lines = append(lines, m)
	}
	return lines
}

func TestValOnLineIsMeasuredAtThatStep(t *testing.T) {
	out := mustRun(t, trainArgs("--steps", "12", "--every", "6", "--set", "eval_every=6", "--json")...)
	evals := map[string]float64{} // run/step -> val
	var steps []map[string]any
	for _, m := range jsonLines(t, out) {
		switch m["type"] {
		case "eval":
			evals[m["run"].(string)+"/"+strconv.Itoa(int(m["step"].(float64)))] = m["val_loss"].(float64)
		case "step":
			steps = append(steps, m)
		}
	}
	n := 0
	for _, m := range steps {
		step := int(m["step"].(float64))
		if step%6 != 0 {
			continue
		}
		n++
		key := m["run"].(string) + "/" + strconv.Itoa(step)
		if m["val_step"] != m["step"] || m["val_loss"] != evals[key] {
			t.Errorf("%s: line says val %v measured at step %v, the eval at that step is %v", key, m["val_loss"], m["val_step"], evals[key])
		}
	}
	if n != 4 {
		t.Errorf("%d step lines at steps 6 and 12, want 4", n)
	}
	// Text: the last line of a run shows the final table's val.
	out = mustRun(t, trainArgs("--steps", "12", "--every", "4", "--set", "eval_every=6")...)
	table := regexp.MustCompile(`(?m)^\s+mha\s+MHA\s+\S+\s+\S+\s+12\s+\S+\s+(\S+)`).FindStringSubmatch(out)
	if table == nil {
		t.Fatalf("no table row for mha:\n%s", out)
	}
	if !strings.Contains(out, "mha            step 12/12") || !regexp.MustCompile(`mha +step 12/12 +loss \S+ +val `+regexp.QuoteMeta(table[1])+` `).MatchString(out) {
		t.Errorf("the line for step 12 does not show the table's val %s:\n%s", table[1], out)
	}
	if !regexp.MustCompile(`mha +step  8/12 +loss \S+ +val@6 `).MatchString(out) {
		t.Errorf("the line for step 8 should say its val was measured at step 6 (val@6):\n%s", out)
	}
}

// stepLines reads a run's metrics.jsonl raw: the step of every "step" line.
func stepLines(t *testing.T, dir, session string) map[string][]int {
	t.Helper()
	out := map[string][]int{}
	runs, _ := filepath.Glob(filepath.Join(dir, session, "runs", "*", "metrics.jsonl"))
	if len(runs) == 0 {
		runs, _ = filepath.Glob(filepath.Join(dir, session, "*", "*", "metrics.jsonl"))
	}
	for _, path := range runs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(filepath.Dir(path))
		for _, line := range strings.Split(string(b), "\n") {
			var m struct {
				Type string `json:"type"`
				Step int    `json:"step"`
			}
			if json.Unmarshal([]byte(line), &m) == nil && m.Type == "step" {
				out[name] = append(out[name], m.Step)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no metrics.jsonl under %s", dir)
	}
	return out
}

func loadRuns(t *testing.T, dir, name string) []record.Loaded {
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
	return runs
}

// interrupt starts train, waits for a few logged steps, sends Ctrl-C and
// returns the output.
func interrupt(t *testing.T, args ...string) string {
	t.Helper()
	cmd := mealabCmd(t, args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for strings.Count(out.String(), " step ") < 6 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after Ctrl-C: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "interrupted: the table so far") {
		t.Fatalf("the run was not interrupted:\n%s", out.String())
	}
	return out.String()
}

// tableSteps reads the step column of the final table.
func tableSteps(out string) map[string]int {
	steps := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s+(mha|mea)\s+(MHA|MEA)\s+\S+\s+\S+\s+(\d+)\s`).FindAllStringSubmatch(out, -1) {
		steps[m[1]], _ = strconv.Atoi(m[3])
	}
	return steps
}

func TestCtrlCTableIsWhatTheSessionHolds(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes; skipped with -short")
	}
	dir := t.TempDir()
	args := trainArgs("--steps", "100000", "--every", "1", "--session", "c", "--dir", dir)
	for round := 0; round < 2; round++ { // the second run resumes the first
		out := interrupt(t, args...)
		table := tableSteps(out)
		if len(table) != 2 {
			t.Fatalf("round %d: no table:\n%s", round, out)
		}
		if table["mha"] != table["mea"] {
			t.Errorf("round %d: mha at step %d, mea at %d: runs step in lock-step and Ctrl-C ends the round in progress, so they stop at the same step\n%s", round, table["mha"], table["mea"], out)
		}
		for _, ld := range loadRuns(t, dir, "c") {
			ck, end := -1, -1
			if ld.State != nil {
				ck = ld.State.Step
			}
			if n := len(ld.History.Points); n > 0 {
				end = ld.History.Points[n-1].Step
			}
			if ck != table[ld.Meta.Name] || end != table[ld.Meta.Name] {
				t.Errorf("round %d: run %s: table says step %d; the session's checkpoint is at %d and its curve ends at %d", round, ld.Meta.Name, table[ld.Meta.Name], ck, end)
			}
		}
		show := mustRun(t, "sessions", "show", "c", "--dir", dir)
		for name, step := range table {
			if !regexp.MustCompile(`(?m)^` + name + `\s+\S+\s+` + strconv.Itoa(step) + `\s`).MatchString(show) {
				t.Errorf("round %d: sessions show does not say %s is at step %d:\n%s", round, name, step, show)
			}
		}
		for name, steps := range stepLines(t, dir, "c") {
			for i, s := range steps {
				if s != i+1 {
					t.Fatalf("round %d: %s/metrics.jsonl line %d holds step %d: want every step exactly once, in order (steps %v)", round, name, i, s, steps)
				}
			}
		}
	}
}

func TestReopenExtendsSession(t *testing.T) {
	dir := t.TempDir()
	first := trainArgs("--steps", "20", "--quiet", "--session", "e", "--dir", dir)
	mustRun(t, first...)
	// Refused: what cannot apply to the session's runs.
	wantUsage(t, []string{"train", "--session", "e", "--dir", dir, "--preset", "ablation"}, "--preset ablation cannot apply")
	wantUsage(t, []string{"train", "--session", "e", "--dir", dir, "--set", "lr=1e-2"}, "would change run")
	if out := wantUsage(t, []string{"train", "--session", "e", "--dir", dir, "--steps", "10"}, "only be extended"); strings.Contains(out, "reopening") {
		t.Error("--steps below the budget printed the header first")
	}
	if out, _, _ := runCLI("train", "--session", "e", "--dir", dir, "--steps", "10"); out != "" {
		t.Errorf("--steps below the budget printed %q before the error", out)
	}
	wantUsage(t, []string{"--session", "e", "--dir", dir, "--preset", "ablation"}, "cannot apply") // the lab: before it wants a terminal
	// The same command line again resumes (here: nothing left to do).
	out := mustRun(t, first...)
	if s := tableSteps(out); s["mha"] != 20 || s["mea"] != 20 {
		t.Errorf("the same command again: table steps %v, want 20", s)
	}
	out = mustRun(t, "train", "--session", "e", "--dir", dir, "--steps", "30", "--every", "5")
	if !strings.Contains(out, "run mha extended from 20 to 30 steps") || !strings.Contains(out, "step 30/30") {
		t.Errorf("reopening with --steps 30 did not extend:\n%s", out)
	}
	if s := tableSteps(out); s["mha"] != 30 || s["mea"] != 30 {
		t.Errorf("table steps %v after extending, want 30", s)
	}
	for _, ld := range loadRuns(t, dir, "e") {
		sp := ld.State.Spec
		if ld.State.Step != 30 || sp.Sched.Total != 30 || len(ld.History.Points) != 30 {
			t.Fatalf("run %s: checkpoint step %d, budget %d, %d points; want 30", ld.Meta.Name, ld.State.Step, sp.Sched.Total, len(ld.History.Points))
		}
		// The LR schedule is the cosine stretched to 30 steps from step 21 on.
		long, short := sp.Sched, sp.Sched
		short.Total = 20
		for _, p := range ld.History.Points {
			want := short.LR(p.Step - 1)
			if p.Step > 20 {
				want = long.LR(p.Step - 1)
			}
			if p.LR != want {
				t.Errorf("run %s step %d: lr %g, want %g", ld.Meta.Name, p.Step, p.LR, want)
			}
		}
	}
	for name, steps := range stepLines(t, dir, "e") {
		if len(steps) != 30 {
			t.Errorf("%s: %d step lines, want 30 (each once)", name, len(steps))
		}
	}
}

func TestSampleAndEval(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, trainArgs("--steps", "12", "--set", "eval_every=6", "--quiet", "--session", "u", "--dir", dir)...)
	recorded := map[string]float64{}
	for _, ld := range loadRuns(t, dir, "u") {
		for _, e := range ld.History.Evals {
			if e.Step == 12 {
				recorded[ld.Meta.Name] = e.ValLoss
			}
		}
	}
	for _, run := range []string{"mha", "mea"} {
		out := mustRun(t, "eval", "u", run, "--dir", dir, "--json", "--threads", "1")
		var got struct {
			Loss, Perplexity float64
			Bits             float64 `json:"bits_per_character"`
			Step             int
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		want, ok := recorded[run]
		if !ok || math.Float64bits(got.Loss) != math.Float64bits(want) || got.Step != 12 {
			t.Errorf("eval %s: loss %.17g at step %d, recorded validation loss at step 12 %.17g: want bit for bit equal", run, got.Loss, got.Step, want)
		}
		if math.Abs(got.Bits-got.Loss/math.Ln2) > 1e-12 || math.Abs(got.Perplexity-math.Exp(got.Loss)) > 1e-9 {
			t.Errorf("eval %s: bits %g, perplexity %g for loss %g", run, got.Bits, got.Perplexity, got.Loss)
		}
	}
	good := filepath.Join(dir, "good.txt")
	_ = os.WriteFile(good, []byte(strings.Repeat("ada has a red cup. what does ada have? a red cup.\n", 20)), 0o644)
	out := mustRun(t, "eval", "u", "mha", "--data", good, "--dir", dir)
	if !regexp.MustCompile(`loss \d+\.\d+ nats/character +\d+\.\d+ bits per character +perplexity \d`).MatchString(out) {
		t.Errorf("eval --data: %s", out)
	}
	bad := filepath.Join(dir, "bad.txt")
	_ = os.WriteFile(bad, []byte("Ada has a red cup! ada has a red cup."), 0o644)
	wantUsage(t, []string{"eval", "u", "mha", "--data", bad, "--dir", dir}, `'A'`, `'!'`, "cannot encode")

	sample := func(args ...string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(mustRun(t, append([]string{"sample", "u", "mea", "--dir", dir, "--json"}, args...)...)), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	a := sample("--prompt", "ada has ", "--tokens", "20", "--seed", "3")
	b := sample("--prompt", "ada has ", "--tokens", "20", "--seed", "3")
	c := model.Config{Layers: 2, Width: 64, Heads: 4, Vocab: 32, Context: 64}.Normalized()
	if a["text"] != b["text"] || a["tokens"].(float64) != 28 || a["cache_bytes"] != a["formula_bytes"] ||
		a["cache_bytes"].(float64) != float64(c.KVBytesPerToken(4)*28) || !(a["tok_per_sec"].(float64) > 0) {
		t.Errorf("sample: %v / %v", a, b)
	}
	wantUsage(t, []string{"sample", "u", "mea", "--dir", dir, "--tokens", "1000"}, "context is 64")
	wantUsage(t, []string{"sample", "u", "mea", "--dir", dir, "--prompt", "ADA"}, "cannot encode")
	wantUsage(t, []string{"sample", "u", "nope", "--dir", dir}, "no run")
	out = mustRun(t, "sample", "u", "mha", "--dir", dir, "--tokens", "10")
	if !regexp.MustCompile(`decode: 20 tokens \(prompt 10 \+ generated 10\) in [\d.]+ ms, [\d,]+ tok/s`).MatchString(out) ||
		!regexp.MustCompile(`KV cache: measured 20.0 KiB \(20480 B allocated for 20 positions\) = formula 2 x 2 layers x 4 heads x d=16 x 4 B x 20 positions = 20480 B`).MatchString(out) {
		t.Errorf("sample text output:\n%s", out)
	}
}

// Go's flag package takes a back-quoted word in a usage string as the
// argument's name: "-preset mealab presets" is what that looked like.
func TestHelpArgumentNames(t *testing.T) {
	line := regexp.MustCompile(`^  -(\S+)(?: (.+))?$`)
	for _, cmd := range [][]string{{"train"}, {"--help"}, {"sessions"}, {"sample"}, {"eval"}} {
		out := mustRun(t, append(cmd, "--help")...)
		for _, l := range strings.Split(out, "\n") {
			m := line.FindStringSubmatch(l)
			if m == nil || m[2] == "" {
				continue
			}
			if !regexp.MustCompile(`^([A-Z]+|key=value|int|string|float|uint|value|duration)$`).MatchString(m[2]) {
				t.Errorf("%v --help: flag -%s shows argument %q; want an upper-case name", cmd, m[1], m[2])
			}
		}
	}
}

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A user who clones the repository has no ../shared.
func TestDocumentedCommandsNeedNoShared(t *testing.T) {
	texts := map[string]string{"README.md": readme(t)}
	for _, cmd := range [][]string{{"help"}, {"train", "--help"}, {"--help"}, {"sessions", "--help"}, {"sample", "--help"}, {"eval", "--help"}} {
		texts[strings.Join(cmd, " ")] = mustRun(t, cmd...)
	}
	_, texts["shakespeare without --data"], _ = runCLI("train", "--preset", "shakespeare")
	for name, s := range texts {
		if strings.Contains(s, "../shared") {
			t.Errorf("%s mentions ../shared, which a fresh clone does not have", name)
		}
	}
	if !strings.Contains(texts["shakespeare without --data"], "curl") {
		t.Errorf("the --data hint should say how to get a text file: %q", texts["shakespeare without --data"])
	}
}

func TestReadmeFirstHour(t *testing.T) {
	r := readme(t)
	for _, want := range []string{
		"go install ./cmd/mealab", // one binary on PATH
		"seconds",                 // the first go run compiles first
		"sessions export demo --checkpoint mea model.safetensors", // sessions --help's order
		"sessions rm demo --yes",
		"mealab sample demo mea",
		"mealab eval demo mea",
		"train --session demo --steps",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("README lacks %q", want)
		}
	}
	if strings.Contains(r, "export demo mea model.safetensors --checkpoint") {
		t.Error("README still spells export with the arguments in the other order")
	}
	if !strings.Contains(sessionsUsage, "export NAME --checkpoint RUN FILE") || !strings.Contains(sessionsUsage, "--yes") {
		t.Error("sessions --help should spell export NAME --checkpoint RUN FILE and document --yes")
	}
}

// A run trained on a text file encodes prompts and eval files with that
// file's characters.
func TestSampleAndEvalOnText(t *testing.T) {
	data := "../../../shared/data/tinyshakespeare.txt"
	if _, err := os.Stat(data); err != nil {
		t.Skip("no ../shared/data/tinyshakespeare.txt")
	}
	dir := t.TempDir()
	mustRun(t, "train", "--preset", "quick", "--data", data, "--steps", "2", "--set", "sample_every=0", "--quiet", "--threads", "1", "--session", "s", "--dir", dir)
	out := mustRun(t, "sample", "s", "mha", "--dir", dir, "--prompt", "ROMEO:", "--tokens", "8")
	if !strings.HasPrefix(out, "ROMEO:") || !strings.Contains(out, "14 tokens (prompt 6 + generated 8)") {
		t.Errorf("sample on text:\n%s", out)
	}
	f := filepath.Join(dir, "t.txt")
	_ = os.WriteFile(f, []byte("First Citizen: we are accounted poor citizens, the patricians good.\n"), 0o644)
	out = mustRun(t, "eval", "s", "mha", "--dir", dir, "--data", f)
	if !strings.Contains(out, "bits per character") || !strings.Contains(out, "67 characters scored") {
		t.Errorf("eval on text:\n%s", out)
	}
	_ = os.WriteFile(f, []byte("price: 5€ — ok"), 0o644)
	wantUsage(t, []string{"eval", "s", "mha", "--dir", dir, "--data", f}, "'€'", "'—'", "tinyshakespeare.txt")
}
