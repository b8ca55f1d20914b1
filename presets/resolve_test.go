package presets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResolveFilesAndNames(t *testing.T) {
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	dir := t.TempDir()
	write := func(path, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := filepath.Join(dir, "grid.preset")
	write(good, twoKeyGrid)
	p, note, err := Resolve(good)
	if err != nil || note != "" || p.Name != good || p.Origin != good || p.Count() != 8 {
		t.Fatalf("file: %v %q %+v", err, note, p)
	}
	// The same strict parser, with the file's name in the message.
	bad := filepath.Join(dir, "bad.preset")
	write(bad, "[run a]\nlerning_rate = 1\n")
	if _, _, err := Resolve(bad); err == nil || !strings.Contains(err.Error(), bad+": bad line 2: unknown key \"lerning_rate\"; did you mean lr?") {
		t.Errorf("bad file: %v", err)
	}
	big := filepath.Join(dir, "big.preset")
	write(big, "# "+strings.Repeat("x", MaxFileSize)+"\n[run a]\n")
	bin := filepath.Join(dir, "bin.preset")
	write(bin, "[run a]\n\x00\x01\x02")
	for arg, want := range map[string]string{
		filepath.Join(dir, "missing.preset"): "does not exist",
		dir + "/":                            "is a directory",
		big:                                  "presets are at most 256 KiB",
		bin:                                  "is not text (binary data at byte 8)",
		"nosuch":                             "no preset \"nosuch\": not a built-in preset and no file " + filepath.Join(cfg, "mealab", "presets", "nosuch.preset"),
		"quikc":                              "did you mean quick?",
		"a b":                                "preset name \"a b\"",
		"":                                   "empty preset name",
	} {
		if _, _, err := Resolve(arg); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Resolve(%q): %v, want %q", arg, err, want)
		}
	}
	// A name: the user's directory first, shadowing a built-in preset.
	user := filepath.Join(cfg, "mealab", "presets")
	if UserDir() != user {
		t.Fatalf("UserDir %s, want %s", UserDir(), user)
	}
	write(filepath.Join(user, "quick.preset"), "description = my quick\n[run]\nvariant = mea\n")
	write(filepath.Join(user, "mine.preset"), twoKeyGrid)
	write(filepath.Join(user, "broken.preset"), "[run a]\nlr = x\n")
	p, note, err = Resolve("quick")
	if err != nil || p.Description != "my quick" || !strings.Contains(note, "shadows the built-in preset") {
		t.Fatalf("shadow: %v %q", err, note)
	}
	if p, _, err := Resolve("mine"); err != nil || p.Name != "mine" || p.Count() != 8 {
		t.Fatalf("user preset: %v", err)
	}
	if p, _, err := Resolve("mea-vs-mha"); err != nil || p.Origin != "built-in" {
		t.Fatalf("built-in: %v", err)
	}
	got := map[string]Entry{}
	for _, e := range List() {
		got[e.Name+"|"+e.Origin] = e
	}
	if e := got["quick|"+filepath.Join(user, "quick.preset")]; !e.Shadows || e.Runs != 1 {
		t.Errorf("user quick: %+v", e)
	}
	if e := got["quick|built-in"]; !e.Shadowed || e.Runs != 2 {
		t.Errorf("built-in quick: %+v", e)
	}
	if e := got["broken|"+filepath.Join(user, "broken.preset")]; e.Err == nil {
		t.Errorf("broken: %+v", e)
	}
	if e := got["mine|"+filepath.Join(user, "mine.preset")]; e.Runs != 8 || e.Description == "" {
		t.Errorf("mine: %+v", e)
	}
	// XDG_CONFIG_HOME unset or relative: ~/.config.
	t.Setenv("XDG_CONFIG_HOME", "relative")
	t.Setenv("HOME", dir)
	if UserDir() != filepath.Join(dir, ".config", "mealab", "presets") {
		t.Errorf("UserDir with a relative XDG_CONFIG_HOME: %s", UserDir())
	}
}

func TestWriteUser(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	path, err := WriteUser("exp", []byte(Starter("exp")))
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := Resolve("exp")
	if err != nil || p.Origin != path {
		t.Fatalf("starter does not resolve: %v", err)
	}
	ex, err := p.Expand(Options{})
	if err != nil || strings.Join(ex.Names(), " ") != "mha mea@kv=4 mea@kv=2" {
		t.Fatalf("starter expands to %v (%v)", ex, err)
	}
	if _, err := WriteUser("exp", []byte("[run a]\n")); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("overwrite: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != Starter("exp") {
		t.Fatal("the refused write changed the file")
	}
	if _, err := WriteUser("x", []byte("[run a]\nlr = fast\n")); err == nil {
		t.Fatal("wrote a preset that does not parse")
	}
	if _, err := WriteUser("../x", []byte("[run a]\n")); err == nil {
		t.Fatal("wrote outside the presets directory")
	}
	ents, _ := os.ReadDir(UserDir())
	if len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
}
