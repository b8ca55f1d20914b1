package main

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTrainReportsStabilitySignals: the log line has the grad norm and the
// largest logit, the final table counts spikes, --json has every metric.
func TestTrainReportsStabilitySignals(t *testing.T) {
	out, errs, code := runCLI("train", "--preset", "quick", "--steps", "4", "--every", "2", "--set", "eval_every=2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"  gnorm ", "  logit ", "spikes", "spikes: loss/grad-norm spike episodes"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, errs, code = runCLI("train", "--preset", "quick", "--steps", "4", "--every", "2", "--set", "eval_every=2", "--json")
	if code != 0 {
		t.Fatalf("--json: exit %d: %s", code, errs)
	}
	seen := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		seen[m["type"].(string)] = m
	}
	for typ, keys := range map[string][]string{
		"step": {"loss", "val_loss", "lr", "grad_norm", "max_logit", "tok_per_sec"},
		"eval": {"val_loss", "recall"},
	} {
		for _, k := range keys {
			if _, ok := seen[typ][k]; !ok {
				t.Errorf("--json %s line lacks %q: %v", typ, k, seen[typ])
			}
		}
	}
	if s, ok := seen["step"]["grad_norm"].(float64); !ok || s <= 0 {
		t.Errorf("grad_norm %v; want a positive number", seen["step"]["grad_norm"])
	}
	if s, ok := seen["step"]["max_logit"].(float64); !ok || s <= 0 {
		t.Errorf("max_logit %v; want a positive number", seen["step"]["max_logit"])
	}
	runs, _ := seen["summary"]["runs"].([]any)
	if len(runs) == 0 {
		t.Fatalf("no summary runs: %v", seen["summary"])
	}
	for _, k := range []string{"loss_spikes", "grad_spikes"} {
		if _, ok := runs[0].(map[string]any)[k]; !ok {
			t.Errorf("summary row lacks %q: %v", k, runs[0])
		}
	}
}

// TestExportGridPNG: sessions export --png FILE --grid draws one panel per
// metric (2 columns of 6 x 3.6 inch panels); --grid alone is a usage error.
func TestExportGridPNG(t *testing.T) {
	dir := t.TempDir()
	if _, errs, code := runCLI("train", "--preset", "quick", "--steps", "6", "--quiet", "--session", "g", "--dir", dir, "--set", "eval_every=3"); code != 0 {
		t.Fatalf("train: %s", errs)
	}
	p := filepath.Join(dir, "grid.png")
	out, errs, code := runCLI("sessions", "export", "g", "--png", p, "--grid", "--dir", dir)
	if code != 0 || !strings.Contains(out, "wrote "+p) {
		t.Fatalf("export --grid: exit %d: %s %s", code, out, errs)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// quick has no recall: 6 panels, 2 x 3.
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy()*10 < b.Dx()*8 {
		t.Errorf("grid image is %v; want 2 columns by 3 rows of panels", b)
	}
	if _, errs, code := runCLI("sessions", "export", "g", "--grid", "--dir", dir); code != 2 || !strings.Contains(errs, "--png") {
		t.Errorf("--grid without --png: exit %d, %q; want 2 and a hint", code, errs)
	}
}
