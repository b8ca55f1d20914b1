package main

import (
	"strings"
	"testing"
)

// The headless log (text and --json) shows a surgery event's per-layer K
// and V errors, and a
// schedule that cannot run is refused before training, as a usage error.
func TestTrainSurgeryErrorsInTheLog(t *testing.T) {
	out, errs, code := runCLI("train", "--preset", "quick", "--steps", "6", "--set", "eval_every=0",
		"--set", "mha.at=3 gqa 2 fork")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "** surgery: gqa 2: KV") || !strings.Contains(out, "rel. err K ") || !strings.Contains(out, " V ") {
		t.Errorf("the log lacks the gqa fork's per-layer errors:\n%s", out)
	}
	out, errs, code = runCLI("train", "--preset", "quick", "--steps", "6", "--set", "eval_every=0", "--json",
		"--set", "mha.at=3 gqa 2 fork")
	if code != 0 || !strings.Contains(out, `"err_k":[`) || !strings.Contains(out, `"err_v":[`) {
		t.Errorf("exit %d: the --json surgery event lacks err_k/err_v:\n%s%s", code, out, errs)
	}
	_, errs, code = runCLI("train", "--preset", "quick", "--steps", "6", "--set", "mea.at=3 gqa 2 fork")
	if code != 2 || !strings.Contains(errs, "at = 3 gqa 2 fork") || !strings.Contains(errs, "compress it with SVD") {
		t.Errorf("exit %d, stderr %q; want exit 2 naming the operation and the reason", code, errs)
	}
}
