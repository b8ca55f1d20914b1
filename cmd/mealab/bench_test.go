package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--batch", "8"},
		{"bench", "--peak1", "100"},
		{"bench", "--repeat", "0"},
		{"bench", "--scaling", "--serving"},
		{"bench", "--scaling", "--config", "A"},
		{"bench", "--variants", "nope"},
		{"bench", "--threads", "0"},
	} {
		_, errs, code := runCLI(args...)
		if code != 2 || !strings.HasPrefix(errs, "mealab: ") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with a message", args, code, errs)
		}
	}
}

// TestBenchMeasuresPeak checks that a bench run measures the machine's FMA
// peak itself and divides every row by it, and that --peak overrides it.
func TestBenchMeasuresPeak(t *testing.T) {
	out, errs, code := runCLI("bench", "--config", "tiny", "--steps", "1", "--repeat", "2", "--json", "--decode", "0", "--variants", "mha,mea")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var head struct{ Machine machineInfo }
	if err := json.Unmarshal([]byte(lines[0]), &head); err != nil {
		t.Fatal(err)
	}
	var rows []benchResult
	for _, l := range lines[1:] {
		var r benchResult
		if json.Unmarshal([]byte(l), &r) == nil && r.Variant != "" {
			rows = append(rows, r)
		}
	}
	if len(rows) != 2 {
		t.Fatalf("want 2 rows, got %d:\n%s", len(rows), out)
	}
	peak := head.Machine.PeakUsed["2"]
	if len(head.Machine.Peak) > 0 && peak <= 0 {
		t.Fatalf("no measured peak: %+v", head.Machine)
	}
	for _, r := range rows {
		if r.Rounds != 2 {
			t.Errorf("%s: %d rounds, want 2", r.Variant, r.Rounds)
		}
		if peak > 0 && (r.Peak != peak || r.MFU <= 0 || r.MFU > 1.5 || abs(r.MFU-r.GFLOPS/peak) > 1e-9) {
			t.Errorf("%s: MFU %v of peak %v, measured peak %v, %v GFLOP/s", r.Variant, r.MFU, r.Peak, peak, r.GFLOPS)
		}
	}
	if rows[1].VsFirst <= 0 {
		t.Errorf("second variant has no ratio to the first")
	}
	out, _, code = runCLI("bench", "--config", "tiny", "--steps", "1", "--json", "--decode", "0", "--variants", "mha", "--peak", "1000")
	if code != 0 || !strings.Contains(out, `"peak_gflops":1000`) || !strings.Contains(out, `"peak_override":true`) {
		t.Errorf("--peak 1000 not used:\n%s", out)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestBenchServing runs the serving rows at a tiny shape: every row has
// prefill and generation rates, MEA h'=h/2 holds half MHA's cache, and the
// bandwidth the fraction is taken of was measured in the same run.
func TestBenchServing(t *testing.T) {
	out, errs, code := runCLI("bench", "--serving", "--batch", "2", "--context", "24", "--gen", "4",
		"--variants", "mha,mea-h2", "--bw-bytes", "16777216", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var head struct{ Machine machineInfo }
	if err := json.Unmarshal([]byte(lines[0]), &head); err != nil || len(head.Machine.Bandwidth) == 0 {
		t.Fatalf("no bandwidth measured: %v %s", err, lines[0])
	}
	var rows []servingResult
	for _, l := range lines[1:] {
		var r servingResult
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 2 {
		t.Fatalf("want 2 rows:\n%s", out)
	}
	for _, r := range rows {
		if r.PrefillTokSec <= 0 || r.GenTokSec <= 0 || r.BWFraction <= 0 || r.Batch != 2 || r.Context != 24 {
			t.Errorf("row %+v", r)
		}
	}
	if rows[1].CacheBytes*2 != rows[0].CacheBytes || rows[1].VsFirst <= 0 {
		t.Errorf("MEA h'=h/2 cache %d, MHA %d, ratio %v", rows[1].CacheBytes, rows[0].CacheBytes, rows[1].VsFirst)
	}
	if _, _, code := runCLI("bench", "--serving", "--context", "4", "--gen", "8"); code != 2 {
		t.Errorf("a context shorter than --gen: exit %d, want 2", code)
	}
}
