package presets

import (
	"strings"
	"testing"
)

func TestAllPresetsParseAndExpand(t *testing.T) {
	names := Names()
	for _, want := range []string{"mea-vs-mha", "quick", "ablation", "lr-sweep", "kv-compress", "recall", "shakespeare"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("preset %s is missing (have %v)", want, names)
		}
	}
	for _, n := range names {
		p, err := Load(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		var over []Setting
		if p.NeedsData {
			over = append(over, Setting{Key: "data", Value: "../../shared/data/tinyshakespeare.txt"})
		}
		specs, err := p.Expand(over)
		if err != nil {
			if p.NeedsData && strings.Contains(err.Error(), "read data file") {
				continue // shared data absent on this machine
			}
			t.Fatalf("%s: %v", n, err)
		}
		if len(specs) == 0 {
			t.Fatalf("%s: no runs", n)
		}
		for _, s := range specs {
			if err := s.Validate(); err != nil {
				t.Errorf("%s/%s: %v", n, s.Name, err)
			}
		}
	}
}

func TestDefaultPreset(t *testing.T) {
	p, err := Load(Default)
	if err != nil {
		t.Fatal(err)
	}
	specs, err := p.Expand(nil)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, s := range specs {
		got = append(got, s.Model.Variant())
	}
	if strings.Join(got, ",") != "MHA,MEA,MEA h'=2" {
		t.Fatalf("default preset runs %v; want MHA, MEA, MEA h'=2", got)
	}
	for _, s := range specs[1:] {
		if s.DataSeed != specs[0].DataSeed || s.Sched != specs[0].Sched || s.Batch != specs[0].Batch {
			t.Fatal("runs of one preset must share data seed, schedule and batch for a fair comparison")
		}
	}
}

func TestStrictParsing(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"[run a]\nlr = fast\n", "line 2: lr: \"fast\" is not a number"},
		{"[run a]\nlayers = 2.5\n", "line 2: layers: \"2.5\" is not a whole number"},
		{"[defaults]\nlearning_rate = 1\n[run a]\n", "line 2: unknown key \"learning_rate\""},
		{"color = red\n[run a]\n", "line 1: unknown top-level key"},
		{"[run a]\nvariant = flash\n", "unknown attention variant"},
		{"[runs a]\n", "unknown section"},
		{"[run a]\n[run a]\n", "defined twice"},
		{"[defaults]\nlr = 1e-3\n", "no [run NAME] sections"},
		{"[run a]\njust words\n", "is not `key = value`"},
		{"[run a]\nat = soon compress 2\n", "line 2: at:"},
	} {
		_, err := Parse("t", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.src, err, tc.want)
		}
	}
}

func TestOverridesAndLadder(t *testing.T) {
	p, err := Load("lr-sweep")
	if err != nil {
		t.Fatal(err)
	}
	specs, _ := p.Expand(nil)
	if len(specs) != len(p.Runs)*len(p.Ladder) {
		t.Fatalf("%d specs for %d runs x %d rungs", len(specs), len(p.Runs), len(p.Ladder))
	}
	if specs[0].Clip != 0 {
		t.Error("lr-sweep must run without clipping")
	}
	set, err := ParseSet("lr=5e-4")
	if err != nil {
		t.Fatal(err)
	}
	specs, _ = p.Expand([]Setting{set})
	if len(specs) != len(p.Runs) || specs[0].Sched.Peak != 5e-4 {
		t.Fatalf("--set lr replaces the ladder: got %d specs, lr %g", len(specs), specs[0].Sched.Peak)
	}
	if _, err := ParseSet("lr"); err == nil || !strings.Contains(err.Error(), "key=value") {
		t.Errorf("bad --set: %v", err)
	}
	if _, err := ParseSet("heads=many"); err == nil {
		t.Error("--set heads=many accepted")
	}
	p2, _ := Load("mea-vs-mha")
	h, _ := ParseSet("heads=8")
	w, _ := ParseSet("width=256")
	specs, err = p2.Expand([]Setting{h, w})
	if err != nil {
		t.Fatal(err)
	}
	if specs[2].Model.Heads != 8 || specs[2].Model.KVHeads != 2 || specs[1].Model.KVHeads != 8 {
		t.Fatalf("variant must apply after heads: %+v", specs[2].Model)
	}
	bad, _ := ParseSet("width=130")
	if _, err := p2.Expand([]Setting{bad}); err == nil || !strings.Contains(err.Error(), "not divisible") {
		t.Fatalf("invalid override: %v", err)
	}
}

func TestFormatLR(t *testing.T) {
	for in, want := range map[float64]string{1e-4: "1e-4", 3e-3: "3e-3", 5e-4: "5e-4", 2.5e-3: "0.0025"} {
		if got := FormatLR(in); got != want {
			t.Errorf("FormatLR(%g) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range Names() {
		p, _ := Load(n)
		f.Add([]byte(p.Source))
	}
	f.Add([]byte("[run a]\nat = 5 grow 2 layers=1\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Parse("fuzz", src)
		if err != nil || strings.Contains(string(src), "data") {
			return // never let fuzz input name files to read
		}
		_, _ = p.Expand(nil)
	})
}
