package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mealab/mealab/presets"
)

const gridFile = `description = MEA's cached KV heads against the LR, beside MHA
[defaults]
layers = 2
width = 64
heads = 4
context = 32
batch = 4
steps = 4
eval_every = 2
sample_every = 0
grid lr = 1e-3, 3e-3

[run mha]
variant = mha

[run mea]
variant = mea
grid kv = 4, 2, 1
`

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPresetsFromFiles(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	file := writeFile(t, filepath.Join(t.TempDir(), "kv-lr.preset"), gridFile)

	// show --expand: the runs with their names and a count.
	out, errs, code := runCLI("presets", "show", file, "--expand")
	if code != 0 || !strings.Contains(out, "preset "+file+" from "+file+": 8 runs") || !strings.Contains(out, "mea@lr=3e-3,kv=2") {
		t.Fatalf("show --expand: exit %d\n%s%s", code, out, errs)
	}
	out, _, _ = runCLI("presets", "show", file, "--expand", "--set", "mea.kv=1")
	if !strings.Contains(out, ": 4 runs") || !strings.Contains(out, "mea@lr=1e-3 ") {
		t.Fatalf("show --expand --set mea.kv=1:\n%s", out)
	}
	// train runs the file from disk: every expanded run trains.
	out, errs, code = runCLI("train", "--preset", file, "--quiet", "--threads", "1")
	if code != 0 {
		t.Fatalf("train --preset FILE: exit %d: %s", code, errs)
	}
	for _, n := range []string{"mha@lr=1e-3", "mea@lr=3e-3,kv=1"} {
		if !strings.Contains(out, n) {
			t.Errorf("train output lacks run %s:\n%s", n, out)
		}
	}
	if _, errs, code := runCLI("train", "--preset", file, "--max-runs", "4"); code != 2 || !strings.Contains(errs, "more than 4 runs") {
		t.Errorf("--max-runs 4: exit %d %s", code, errs)
	}
	for arg, want := range map[string]string{
		filepath.Join(cfg, "none.preset"): "does not exist",
		cfg + "/":                         "is a directory",
	} {
		if _, errs, code := runCLI("train", "--preset", arg); code != 2 || !strings.Contains(errs, want) {
			t.Errorf("--preset %s: exit %d %q, want %q", arg, code, errs, want)
		}
	}

	// new writes a starter into the user dir, refuses to overwrite it; the
	// list shows it with its path, and a user file shadowing a built-in.
	out, errs, code = runCLI("presets", "new", "exp")
	user := filepath.Join(cfg, "mealab", "presets")
	if code != 0 || !strings.Contains(out, filepath.Join(user, "exp.preset")) {
		t.Fatalf("presets new: exit %d %s%s", code, out, errs)
	}
	if _, errs, code := runCLI("presets", "new", "exp"); code != 2 || !strings.Contains(errs, "exists") {
		t.Fatalf("presets new twice: exit %d %s", code, errs)
	}
	writeFile(t, filepath.Join(user, "quick.preset"), gridFile)
	out, _, code = runCLI("presets")
	if code != 0 || !strings.Contains(out, filepath.Join(user, "exp.preset")) || !strings.Contains(out, "(shadows the built-in)") ||
		!strings.Contains(out, "(shadowed by your file)") || !strings.Contains(out, "built-in") {
		t.Fatalf("presets list:\n%s", out)
	}
	_, errs, _ = runCLI("train", "--preset", "quick", "--steps", "1", "--quiet", "--threads", "1")
	if !strings.Contains(errs, "shadows the built-in preset") {
		t.Errorf("a shadowing user file must say so: %q", errs)
	}
}

// TestPresetsShowRoundTrip: `presets show NAME` prints text that expands
// to the same runs, for every built-in preset.
func TestPresetsShowRoundTrip(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	data := writeFile(t, filepath.Join(dir, "text.txt"), strings.Repeat("All the world's a stage.\n", 100))
	for _, n := range presets.Names() {
		out, errs, code := runCLI("presets", "show", n)
		if code != 0 {
			t.Fatalf("show %s: %s", n, errs)
		}
		file := writeFile(t, filepath.Join(dir, n+".preset"), out)
		p, _ := presets.Load(n)
		q, _, err := presets.Resolve(file)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		var over []presets.Setting
		if p.NeedsData {
			over = append(over, presets.Setting{Key: "data", Value: data})
		}
		a, err1 := p.Expand(presets.Options{Overrides: over})
		b, err2 := q.Expand(presets.Options{Overrides: over})
		if err1 != nil || err2 != nil || !reflect.DeepEqual(a.Runs, b.Runs) {
			t.Errorf("%s: show output does not run identically (%v %v)", n, err1, err2)
		}
	}
}

// TestSetSemanticsCLI: issue 11's --set items through the command line.
func TestSetSemanticsCLI(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	_, errs, code := runCLI("train", "--set", "lerning_rate=3e-3")
	if code != 2 || !strings.Contains(errs, "did you mean lr?") || strings.Count(errs, "-set") != 1 {
		t.Errorf("lerning_rate: exit %d %q; want one mention of the flag and the nearest key", code, errs)
	}
	_, errs, code = runCLI("train", "--set", "variant=mea", "--set", "kv=2", "--set", "lr=3e-3", "--steps", "2")
	if code != 2 || !strings.Contains(errs, "changes no run") || !strings.Contains(errs, "--preset none") {
		t.Errorf("--set variant=mea on the default preset: exit %d %q", code, errs)
	}
	out, errs, code := runCLI("train", "--preset", "none", "--set", "variant=mea", "--set", "kv=2", "--set", "layers=1", "--set", "width=32", "--steps", "2", "--quiet", "--threads", "1")
	if code != 0 || !strings.Contains(out, "1 runs") || !strings.Contains(out, "mea-h2 ") || strings.Contains(out, "mha") {
		t.Errorf("--preset none: exit %d\n%s%s", code, out, errs)
	}
	out, errs, code = runCLI("train", "--preset", "quick", "--set", "mea.kv=2", "--set", "mha.variant=gqa", "--set", "mha.kv=2", "--steps", "1", "--quiet", "--threads", "1")
	if code != 0 || !strings.Contains(out, "gqa2 ") || !strings.Contains(errs, "run mha is called gqa2 here") {
		t.Errorf("RUN.key: exit %d\n%s%s", code, out, errs)
	}
	_, errs, code = runCLI("train", "--set", "mea.kv=2", "--steps", "1", "--quiet", "--threads", "1")
	if code != 0 || !strings.Contains(errs, "warning: runs mea, mea-h2 are identical") {
		t.Errorf("identical runs: exit %d %q", code, errs)
	}
}

// TestSessionsShowPreset: a session's runs come back as a preset that
// trains the same runs.
func TestSessionsShowPreset(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	if _, errs, code := runCLI("train", "--preset", "quick", "--set", "steps=6", "--set", "mha.at=3 gqa 2 fork", "--set", "mea.at=2 compress 2",
		"--set", "layers=1", "--set", "width=32", "--quiet", "--threads", "1", "--session", "s", "--dir", dir); code != 0 {
		t.Fatalf("train: %s", errs)
	}
	out, errs, code := runCLI("sessions", "show", "s", "--preset", "--dir", dir)
	if code != 0 {
		t.Fatalf("show --preset: %s", errs)
	}
	for _, want := range []string{"[run mha]\nvariant = mha\nat = 3 gqa 2 fork\n", "[run mea]\nvariant = mea\nat = 2 compress 2\n", "steps = 6\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "[run mha>gqa2]") {
		t.Errorf("forks come from their parent's line:\n%s", out)
	}
	file := writeFile(t, filepath.Join(dir, "again.preset"), out)
	back, errs, code := runCLI("presets", "show", file, "--expand")
	if code != 0 || !strings.Contains(back, ": 2 runs") {
		t.Fatalf("re-read: %s%s", back, errs)
	}
}
