package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mealab/mealab/sessions"
)

func runCLI(args ...string) (string, string, int) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestUsageErrorsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"train", "--preset", "nope"},
		{"train", "--set", "lr"},
		{"train", "--set", "heads=x"},
		{"train", "--preset", "shakespeare"},
		{"train", "extra"},
		{"bench", "--config", "Z"},
		{"sessions", "wat"},
	} {
		_, errs, code := runCLI(args...)
		if code != 2 || !strings.HasPrefix(errs, "mealab: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with a message", args, code, errs)
		}
	}
	_, errs, _ := runCLI("train", "--preset", "shakespeare")
	if !strings.Contains(errs, "--data FILE") {
		t.Errorf("shakespeare without data should say to add --data FILE: %q", errs)
	}
}

func TestHelpEverywhere(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"train", "--help"}, {"bench", "--help"}, {"sessions", "--help"}, {"presets", "--help"}} {
		out, errs, code := runCLI(args...)
		if code != 0 || !strings.Contains(out+errs, "Usage") {
			t.Errorf("%v: exit %d, output %q", args, code, out+errs)
		}
	}
}

func TestTrainQuickJSON(t *testing.T) {
	out, errs, code := runCLI("train", "--preset", "quick", "--steps", "12", "--json", "--set", "eval_every=6")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatalf("last line is not JSON: %v", err)
	}
	runs, _ := last["runs"].([]any)
	if last["type"] != "summary" || len(runs) != 2 {
		t.Fatalf("summary: %v", last)
	}
	steps := 0
	for _, l := range lines {
		if strings.Contains(l, `"type":"step"`) {
			steps++
		}
	}
	if steps == 0 {
		t.Error("no step lines")
	}
}

func TestTrainTextLineFormat(t *testing.T) {
	out, errs, code := runCLI("train", "--preset", "quick", "--steps", "6", "--every", "3")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"step 3/6  loss ", "tok/s  kv 1.0 KiB/token", "train loss", "best val", "done"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchTiny(t *testing.T) {
	out, errs, code := runCLI("bench", "--config", "tiny", "--steps", "1", "--json", "--decode", "8")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if n := strings.Count(out, `"tok_per_sec"`); n != 3 {
		t.Fatalf("want 3 JSON results (mha, mea, mea-h2), got %d:\n%s", n, out)
	}
}

func TestPresetsList(t *testing.T) {
	out, _, code := runCLI("presets")
	if code != 0 || !strings.Contains(out, "mea-vs-mha (default)") || !strings.Contains(out, "lr-sweep") {
		t.Fatalf("presets list: %s", out)
	}
	out, _, _ = runCLI("presets", "show", "kv-compress")
	if !strings.Contains(out, "at = 600 compress 2 fork") {
		t.Fatalf("presets show: %s", out)
	}
}

func TestExportCheckpointLlamaNames(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := runCLI("train", "--preset", "quick", "--steps", "3", "--quiet", "--session", "e", "--dir", dir,
		"--set", "mea.kv=2"); code != 0 {
		t.Fatalf("train: %s", errs)
	}
	out := dir + "/mea.safetensors"
	if _, errs, code := runCLI("sessions", "export", "e", "mea", out, "--checkpoint", "--dir", dir); code != 0 {
		t.Fatalf("export: %s", errs)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ts, meta, err := sessions.DecodeSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int{}
	for _, x := range ts {
		shapes[x.Name] = x.Shape
		if strings.HasPrefix(x.Name, "optimizer.") || strings.Contains(x.Name, "wqkv") || strings.Contains(x.Name, "w13") {
			t.Errorf("exported %s; want only split model weights", x.Name)
		}
	}
	// quick: width 64, 4 heads (d=16), MLP 176; MEA h'=2.
	for name, want := range map[string][]int{
		"layers.1.attention.wq.weight": {64, 64}, "layers.1.attention.wk.weight": {32, 64},
		"layers.1.attention.wv.weight": {32, 64}, "layers.0.feed_forward.w1.weight": {176, 64},
		"layers.0.feed_forward.w3.weight": {176, 64}, "layers.0.attention.wlc_k": {2, 4}, "output.weight": {32, 64},
	} {
		if got := shapes[name]; len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s: shape %v, want %v", name, got, want)
		}
	}
	if !strings.Contains(meta["model_config"], `"hlc":true`) {
		t.Errorf("metadata lacks the model config: %v", meta)
	}
}
