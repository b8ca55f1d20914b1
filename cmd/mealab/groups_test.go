package main

import (
	"bufio"
	"encoding/json"
	"github.com/mealab/mealab/presets"
	"strings"
	"testing"
)

// --seeds N trains every run as N replicas and prints a group table with a
// paired interval and a verdict; --json carries the same groups.
func TestTrainSeedsGroups(t *testing.T) {
	out, errs, code := runCLI("train", "--preset", "quick", "--seeds", "2", "--steps", "12", "--set", "eval_every=6",
		"--set", "width=32", "--set", "layers=1", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"mha@seed=1", "mha@seed=2", "mea@seed=1", "mea@seed=2", "per group:", "against its baseline", "paired over seeds"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var meaLine string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "mea ") {
			meaLine = l
		}
	}
	if !strings.Contains(meaLine, "better") && !strings.Contains(meaLine, "no difference detectable with 2 seeds") {
		t.Errorf("the mea group line has no verdict: %q", meaLine)
	}
	out, errs, code = runCLI("train", "--preset", "quick", "--seeds", "2", "--steps", "6", "--set", "eval_every=3",
		"--set", "width=32", "--set", "layers=1", "--json", "--baseline", "mea")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var summary struct {
		Type   string     `json:"type"`
		Groups []groupRow `json:"groups"`
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var probe struct{ Type string }
		if json.Unmarshal(sc.Bytes(), &probe) == nil && probe.Type == "summary" {
			if err := json.Unmarshal(sc.Bytes(), &summary); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(summary.Groups) != 2 || summary.Groups[0].Group != "mha" || summary.Groups[0].Seeds != 2 ||
		summary.Groups[0].Baseline != "mea" || summary.Groups[0].Diff == nil || summary.Groups[0].Diff.Test != "paired t" {
		t.Errorf("json groups: %+v", summary.Groups)
	}
}

func TestSeedsUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"train", "--preset", "quick", "--seeds", "0"},
		{"train", "--preset", "quick", "--seeds", "65"},
		{"train", "--preset", "quick", "--seeds", "2", "--baseline", "nope"},
	} {
		_, errs, code := runCLI(args...)
		if code != 2 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q; want a usage error", args, code, errs)
		}
	}
}

func TestCheckBaseline(t *testing.T) {
	p, err := presets.Load("claim-compress")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := p.Expand(presets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ok := range []string{"", "mha", "mea", "mha>gqa2", "mea>svd2"} {
		if err := checkBaseline(ok, ex.Runs); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"gqa", "mha>", "nope>x"} {
		if err := checkBaseline(bad, ex.Runs); err == nil && bad != "mha>" {
			t.Errorf("%q accepted", bad)
		}
	}
}

// --quiet prints only the final table: no event lines, even for a run that
// diverges (the table says where).
func TestQuietPrintsOnlyTheTable(t *testing.T) {
	out, errs, code := runCLI("train", "--preset", "none", "--set", "lr=30", "--set", "clip=0", "--set", "width=32",
		"--set", "layers=1", "--steps", "30", "--set", "eval_every=0", "--quiet")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if strings.Contains(out, " ** ") {
		t.Errorf("--quiet printed event lines:\n%s", out)
	}
	if !strings.Contains(out, "diverged at") {
		t.Errorf("the table does not say the run diverged:\n%s", out)
	}
}
