package presets

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/trainer"
)

// textFile writes a small text corpus for presets that need --data.
func textFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "text.txt")
	if err := os.WriteFile(path, []byte(strings.Repeat("To be, or not to be: that is the question.\n", 200)), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func expand(t testing.TB, p *Preset, over ...Setting) *Expansion {
	t.Helper()
	ex, err := p.Expand(Options{Overrides: over})
	if err != nil {
		t.Fatalf("%s: %v", p.Name, err)
	}
	return ex
}

func set(t testing.TB, kv string) Setting {
	t.Helper()
	s, err := ParseSet(kv)
	if err != nil {
		t.Fatalf("ParseSet(%q): %v", kv, err)
	}
	return s
}

func mustParse(t testing.TB, src string) *Preset {
	t.Helper()
	p, err := Parse("t", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	return p
}

func TestAllPresetsParseAndExpand(t *testing.T) {
	names := Names()
	for _, want := range []string{"mea-vs-mha", "quick", "ablation", "lr-sweep", "kv-compress", "recall", "shakespeare", "none"} {
		found := false
		for _, n := range names {
			found = found || n == want
		}
		if !found {
			t.Errorf("preset %s is missing (have %v)", want, names)
		}
	}
	data := textFile(t)
	for _, n := range names {
		p, err := Load(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		var over []Setting
		if p.NeedsData {
			over = append(over, Setting{Key: "data", Value: data})
		}
		ex := expand(t, p, over...)
		if len(ex.Runs) == 0 || len(ex.Runs) != p.Count() {
			t.Fatalf("%s: %d runs, Count says %d", n, len(ex.Runs), p.Count())
		}
		for _, s := range ex.Runs {
			if err := s.Validate(); err != nil {
				t.Errorf("%s/%s: %v", n, s.Name, err)
			}
		}
		if len(ex.Notes) != 0 {
			t.Errorf("%s: notes without overrides: %v", n, ex.Notes)
		}
		// Headers print the description in parentheses: it must hold none
		// (issue 11: the quick preset's header had nested parentheses).
		if strings.ContainsAny(p.Description, "()") {
			t.Errorf("%s: description %q has parentheses", n, p.Description)
		}
	}
}

func TestDefaultPreset(t *testing.T) {
	p, err := Load(Default)
	if err != nil {
		t.Fatal(err)
	}
	specs := expand(t, p).Runs
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
		{"[defaults]\nlearning_rate = 1\n[run a]\n", "line 2: unknown key \"learning_rate\"; did you mean lr?"},
		{"[defaults]\nlerning_rate = 1\n[run a]\n", "did you mean lr?"},
		{"[defaults]\nlayer = 1\n[run a]\n", "did you mean layers?"},
		{"[defaults]\nzzzzzz = 1\n[run a]\n", "known keys: variant, kv"},
		{"color = red\n[run a]\n", "line 1: unknown top-level key"},
		{"[run a]\nvariant = flash\n", "unknown attention variant"},
		{"[runs a]\n", "unknown section"},
		{"[run a]\n[run a]\n", "defined twice"},
		{"[defaults]\nlr = 1e-3\n", "no [run NAME] sections"},
		{"[run a]\njust words\n", "is not `key = value`"},
		{"[run a]\nat = soon compress 2\n", "line 2: at:"},
		{"[run a]\nlr = 1\nlr = 2\n", "line 3: lr is already set on line 2"},
		{"[run a/b]\n", "run name \"a/b\""},
		// grids
		{"[run a]\ngrid lr = 1e-3, fast\n", "line 2: grid lr: lr: \"fast\" is not a number"},
		{"[run a]\ngrid lr =\n", "grid lr: an empty value"},
		{"[run a]\ngrid lr = 1e-3,,2e-3\n", "an empty value"},
		{"[run a]\ngrid lr = 1e-3, 1e-3\n", "1e-3 is listed twice"},
		{"[run a]\ngrid lrr = 1, 2\n", "did you mean lr?"},
		{"[run a]\ngrid at = 5 compress 1, 6 compress 1\n", "surgery cannot be a grid"},
		{"[run a]\nlr = 1e-3\ngrid lr = 1e-3, 2e-3\n", "line 3: lr is already set on line 2"},
		{"grid lr = 1, 2\n[run a]\n", "line 1: grid lines go under"},
		{"lr_ladder = 1e-3, -1\n[run a]\n", "lr_ladder: \"-1\" is not a positive number"},
		{"lr_ladder = 1e-3\n[defaults]\ngrid lr = 1e-3\n[run a]\n", "is already set"},
	} {
		_, err := Parse("t", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.src, err, tc.want)
		}
	}
}

// TestSetNearestKey: --set lerning_rate=... names the key once and
// suggests lr (issue 11); the flag package adds "invalid value ... for flag
// -set", so the error must not repeat "--set".
func TestSetNearestKey(t *testing.T) {
	_, err := ParseSet("lerning_rate=3e-3")
	if err == nil || !strings.Contains(err.Error(), "did you mean lr?") || strings.Contains(err.Error(), "--set") {
		t.Fatalf("got %v", err)
	}
	for in, want := range map[string]string{"n_layer": "layers", "batch_size": "batch", "stepz": "steps", "wramup": "warmup", "n_embd": "width", "kv_heads": "kv"} {
		if got := suggestKey(in); got != want {
			t.Errorf("suggestKey(%q) = %q, want %q", in, got, want)
		}
	}
	if s := set(t, "mea.kv=2"); s.Run != "mea" || s.Key != "kv" || s.Value != "2" {
		t.Errorf("mea.kv=2 parsed as %+v", s)
	}
	if s := set(t, "v1.2.lr=3e-3"); s.Run != "v1.2" || s.Key != "lr" {
		t.Errorf("v1.2.lr parsed as %+v", s)
	}
	if _, err := ParseSet(".lr=1"); err == nil {
		t.Error(".lr=1 accepted")
	}
}

func TestLadderIsAGrid(t *testing.T) {
	p, err := Load("lr-sweep")
	if err != nil {
		t.Fatal(err)
	}
	specs := expand(t, p).Runs
	if len(specs) != 4*6 || specs[0].Name != "mha@lr=1e-3" || specs[5].Name != "mha@lr=3e-1" || specs[6].Name != "mha+gn@lr=1e-3" {
		t.Fatalf("lr-sweep expands to %d runs: %v", len(specs), names(specs))
	}
	if specs[5].Sched.Peak != 0.3 || specs[0].Clip != 0 {
		t.Fatalf("mha@lr=3e-1 has lr %g clip %g", specs[5].Sched.Peak, specs[0].Clip)
	}
	// An old file with lr_ladder expands exactly as the grid form.
	old := mustParse(t, "lr_ladder = 1e-3, 3e-3\n[defaults]\nsteps = 10\n[run mha]\nvariant = mha\n[run mea]\nvariant = mea\n")
	grid := mustParse(t, "[defaults]\nsteps = 10\ngrid lr = 1e-3, 3e-3\n[run mha]\nvariant = mha\n[run mea]\nvariant = mea\n")
	a, b := expand(t, old).Runs, expand(t, grid).Runs
	if !reflect.DeepEqual(a, b) || len(a) != 4 {
		t.Fatalf("lr_ladder %v != grid %v", names(a), names(b))
	}
	// --set lr replaces the ladder: one run per section at that LR.
	specs = expand(t, p, set(t, "lr=5e-4")).Runs
	if len(specs) != 4 || specs[0].Sched.Peak != 5e-4 || specs[0].Name != "mha" {
		t.Fatalf("--set lr replaces the ladder: got %v, lr %g", names(specs), specs[0].Sched.Peak)
	}
}

func names(specs []trainer.RunSpec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	return out
}

const twoKeyGrid = `description = MEA's KV heads against the LR, beside MHA
[defaults]
layers = 2
width = 64
heads = 4
context = 32
steps = 20
grid lr = 1e-3, 3e-3

[run mha]
variant = mha

[run mea]
variant = mea
grid kv = 4, 2, 1
`

func TestGridOverTwoKeys(t *testing.T) {
	p := mustParse(t, twoKeyGrid)
	ex := expand(t, p)
	want := "mha@lr=1e-3 mha@lr=3e-3 mea@lr=1e-3,kv=4 mea@lr=1e-3,kv=2 mea@lr=1e-3,kv=1 mea@lr=3e-3,kv=4 mea@lr=3e-3,kv=2 mea@lr=3e-3,kv=1"
	if got := strings.Join(ex.Names(), " "); got != want {
		t.Fatalf("names\n got %s\nwant %s", got, want)
	}
	for _, s := range ex.Runs {
		_, rest, _ := strings.Cut(s.Name, "@")
		lr := strings.TrimPrefix(strings.Split(rest, ",")[0], "lr=")
		if FormatLR(s.Sched.Peak) != lr {
			t.Errorf("%s trains at lr %g", s.Name, s.Sched.Peak)
		}
		if strings.HasPrefix(s.Name, "mea") {
			kv := rest[strings.Index(rest, "kv=")+3:]
			if got := s.Model.KVHeads; kv != string(rune('0'+got)) || !s.Model.HLC {
				t.Errorf("%s: %s", s.Name, s.Model.Variant())
			}
		}
	}
	if p.Count() != 8 || ex.Section[2] != "mea" {
		t.Errorf("Count %d, section %q", p.Count(), ex.Section[2])
	}
	// A run's own grid replaces the [defaults] grid over the same key, and
	// a run setting the key itself drops the [defaults] grid for it.
	p = mustParse(t, "[defaults]\ngrid lr = 1e-3, 3e-3\n[run a]\ngrid lr = 1e-2, 2e-2, 3e-2\n[run b]\nlr = 5e-3\n")
	if got := strings.Join(expand(t, p).Names(), " "); got != "a@lr=1e-2 a@lr=2e-2 a@lr=3e-2 b" {
		t.Errorf("got %s", got)
	}
	// --set RUN.key=value replaces that run's grid over the key.
	p = mustParse(t, twoKeyGrid)
	if got := strings.Join(expand(t, p, set(t, "mea.kv=2")).Names(), " "); got != "mha@lr=1e-3 mha@lr=3e-3 mea@lr=1e-3 mea@lr=3e-3" {
		t.Errorf("mea.kv=2: got %s", got)
	}
	// An unnamed [run] is named after its variant; a grid over variant/kv
	// says nothing twice.
	p = mustParse(t, "[defaults]\nheads = 4\n[run]\ngrid variant = mha, mea\n[run]\nvariant = mea\ngrid kv = 2, 1\ngrid lr = 1e-3, 2e-3\n")
	if got := strings.Join(expand(t, p).Names(), " "); got != "mha mea mea-h2@lr=1e-3 mea-h2@lr=2e-3 mea-h1@lr=1e-3 mea-h1@lr=2e-3" {
		t.Errorf("unnamed runs: got %s", got)
	}
}

func TestExpandLimitsAndNames(t *testing.T) {
	big := "[defaults]\ngrid lr = 1e-4,2e-4,3e-4,4e-4,5e-4,6e-4,7e-4,8e-4,9e-4,1e-3\ngrid seed = 1,2,3,4,5,6,7,8,9,10\ngrid batch = 1,2,3,4,5,6,7,8,9,10,11\n[run a]\n"
	p := mustParse(t, big)
	if _, err := p.Expand(Options{}); err == nil || !strings.Contains(err.Error(), "more than 1000 runs") || !strings.Contains(err.Error(), "--max-runs") {
		t.Fatalf("1100 runs: %v", err)
	}
	if p.Count() != 1100 {
		t.Fatalf("Count %d", p.Count())
	}
	// Duplicate names after expansion.
	p = mustParse(t, "[run mea@kv=2]\nvariant = mea\nkv = 2\n[run mea]\ngrid kv = 2\nvariant = mea\n")
	if _, err := p.Expand(Options{}); err == nil || !strings.Contains(err.Error(), "two runs are called mea@kv=2") {
		t.Fatalf("duplicates: %v", err)
	}
	p = mustParse(t, "[run]\nvariant = mea\n[run]\nvariant = mea\n")
	if _, err := p.Expand(Options{}); err == nil || !strings.Contains(err.Error(), "two runs are called mea") {
		t.Fatalf("duplicates: %v", err)
	}
	// Keys a variant cannot take.
	p = mustParse(t, "[run mha]\nvariant = mha\nkv = 2\n")
	if _, err := p.Expand(Options{}); err == nil || !strings.Contains(err.Error(), "variant mha cannot take kv") {
		t.Fatalf("kv on mha: %v", err)
	}
	// A file's own name that contradicts its run is refused.
	p = mustParse(t, "[run mea-h2]\nvariant = mea\nkv = 1\n")
	if _, err := p.Expand(Options{}); err == nil || !strings.Contains(err.Error(), "the name says mea-h2") {
		t.Fatalf("lying name: %v", err)
	}
	// Only selects by expanded or section name, in order.
	p = mustParse(t, twoKeyGrid)
	ex, err := p.Expand(Options{Only: []string{"mea@lr=3e-3,kv=1", "mha"}})
	if err != nil || strings.Join(ex.Names(), " ") != "mha@lr=1e-3 mha@lr=3e-3 mea@lr=3e-3,kv=1" {
		t.Fatalf("Only: %v %v", ex, err)
	}
	if _, err := p.Expand(Options{Only: []string{"mea@lr=3e-3,kv=3"}}); err == nil || !strings.Contains(err.Error(), "did you mean mea@lr=3e-3,kv=") {
		t.Fatalf("Only unknown: %v", err)
	}
}

// TestSetSemantics covers issue 11: --set is a default for every run, a
// run's own value wins, RUN.key=value changes one run, a name never lies,
// identical runs are called out.
func TestSetSemantics(t *testing.T) {
	p, _ := Load("mea-vs-mha")
	// The README's old example: every run sets variant itself, so
	// --set variant=mea would change nothing: refused, with the ways out.
	_, err := p.Expand(Options{Overrides: []Setting{set(t, "variant=mea"), set(t, "kv=2"), set(t, "lr=3e-3")}})
	if err == nil || !strings.Contains(err.Error(), "--set variant=mea changes no run") || !strings.Contains(err.Error(), "--preset none") || !strings.Contains(err.Error(), "mha.variant=mea") {
		t.Fatalf("--set variant=mea on mea-vs-mha: %v", err)
	}
	// kv: mea-h2 keeps its own; mha cannot take it.
	if _, err := p.Expand(Options{Overrides: []Setting{set(t, "kv=2")}}); err == nil || !strings.Contains(err.Error(), "variant mha cannot take kv") {
		t.Fatalf("--set kv=2: %v", err)
	}
	// A default every run takes: no notes, all runs changed.
	ex := expand(t, p, set(t, "lr=3e-3"))
	for _, s := range ex.Runs {
		if s.Sched.Peak != 3e-3 {
			t.Errorf("%s lr %g", s.Name, s.Sched.Peak)
		}
	}
	if len(ex.Notes) != 0 {
		t.Errorf("notes %v", ex.Notes)
	}
	// One run: mea.kv=2 makes mea equal to mea-h2: a warning, names kept
	// (mea does not claim a kv).
	ex = expand(t, p, set(t, "mea.kv=2"))
	if ex.Runs[1].Model.KVHeads != 2 || ex.Runs[0].Model.KVHeads != 4 || !strings.Contains(strings.Join(ex.Notes, "\n"), "runs mea, mea-h2 are identical") {
		t.Fatalf("mea.kv=2: %v %v", names(ex.Runs), ex.Notes)
	}
	// A name that would lie is renamed: mea-h2 with kv=1 is mea-h1.
	ex = expand(t, p, set(t, "mea-h2.kv=1"))
	if got := strings.Join(ex.Names(), " "); got != "mha mea mea-h1" || !strings.Contains(strings.Join(ex.Notes, "\n"), "run mea-h2 is called mea-h1 here") {
		t.Fatalf("mea-h2.kv=1: %s %v", got, ex.Notes)
	}
	ex = expand(t, p, set(t, "mha.variant=gqa"), set(t, "mha.kv=2"))
	if got := strings.Join(ex.Names(), " "); got != "gqa2 mea mea-h2" {
		t.Fatalf("mha.variant=gqa: %s", got)
	}
	// A rename into an existing name is a duplicate: refused.
	if _, err := p.Expand(Options{Overrides: []Setting{set(t, "mha.variant=mea")}}); err == nil || !strings.Contains(err.Error(), "two runs are called mea") {
		t.Fatalf("mha.variant=mea: %v", err)
	}
	if _, err := p.Expand(Options{Overrides: []Setting{set(t, "mhaa.lr=1")}}); err == nil || !strings.Contains(err.Error(), "has no run \"mhaa\"") {
		t.Fatalf("unknown run: %v", err)
	}
	// Partly shadowed: applied where it can be, noted where not.
	p2 := mustParse(t, "[defaults]\nlr = 1e-3\n[run a]\n[run b]\nlr = 2e-3\n")
	ex = expand(t, p2, set(t, "lr=5e-3"))
	if ex.Runs[0].Sched.Peak != 5e-3 || ex.Runs[1].Sched.Peak != 2e-3 || !strings.Contains(strings.Join(ex.Notes, "\n"), "b keeps its own lr") {
		t.Fatalf("partial: %v %v", ex.Runs[1].Sched.Peak, ex.Notes)
	}
	// The none preset: one run named after what it is.
	none, err := Load("none")
	if err != nil {
		t.Fatal(err)
	}
	ex = expand(t, none, set(t, "variant=mea"), set(t, "kv=2"), set(t, "lr=3e-3"))
	if len(ex.Runs) != 1 || ex.Runs[0].Name != "mea-h2" || ex.Runs[0].Sched.Peak != 3e-3 || len(ex.Notes) != 0 {
		t.Fatalf("none: %v %v", names(ex.Runs), ex.Notes)
	}
	if ex := expand(t, none); ex.Runs[0].Name != "mha" {
		t.Fatalf("none alone: %v", names(ex.Runs))
	}
	// heads applies before the variant (mea-h2 keeps h'=2 with 8 heads).
	specs := expand(t, p, set(t, "heads=8"), set(t, "width=256")).Runs
	if specs[2].Model.Heads != 8 || specs[2].Model.KVHeads != 2 || specs[1].Model.KVHeads != 8 {
		t.Fatalf("variant must apply after heads: %+v", specs[2].Model)
	}
	if _, err := p.Expand(Options{Overrides: []Setting{set(t, "width=130")}}); err == nil || !strings.Contains(err.Error(), "not divisible") {
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

// TestRoundTrip: for every built-in preset, the text `presets show` prints
// expands to the same runs, and so does the text Format writes from those
// runs (what saving a lab and `sessions show --preset` print).
func TestRoundTrip(t *testing.T) {
	data := textFile(t)
	for _, n := range Names() {
		p, _ := Load(n)
		var over []Setting
		if p.NeedsData {
			over = append(over, Setting{Key: "data", Value: data})
		}
		want := expand(t, p, over...).Runs
		back, err := Parse(n, []byte(p.Source))
		if err != nil {
			t.Fatalf("%s: show output does not parse: %v", n, err)
		}
		if got := expand(t, back, over...).Runs; !reflect.DeepEqual(got, want) {
			t.Errorf("%s: show output expands differently", n)
		}
		var runs []LabRun
		for _, s := range want {
			runs = append(runs, LabRun{Spec: s})
		}
		text, notes := Format(n, p.Description, runs)
		q, err := Parse(n, text)
		if err != nil {
			t.Fatalf("%s: Format output does not parse: %v\n%s", n, err, text)
		}
		got := expand(t, q).Runs
		if len(notes) != 0 || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Format round trip differs (notes %v)\n%s", n, notes, text)
			for i := range min(len(got), len(want)) {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Errorf("run %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		}
	}
}

// TestFormatSurgery: a lab's runs as they are after surgery, in place and
// forked, by schedule and by hand, are written with their initial model
// and `at` lines, and forks are left to their parent's fork line.
func TestFormatSurgery(t *testing.T) {
	p, _ := Load("quick")
	specs := expand(t, p).Runs
	mha, mea := specs[0], specs[1]
	// mea: compressed in place by hand at step 40, then forked at 60.
	init := mea.Model
	mea.Initial = &init
	op := model.Op{Kind: model.OpCompress, R: 2}
	c, _, err := op.Config(mea.Model)
	if err != nil {
		t.Fatal(err)
	}
	mea.Model = c
	mea.Applied = []trainer.ScheduledOp{{Step: 40, Op: op}, {Step: 60, Op: model.Op{Kind: model.OpCompress, R: 1}, Fork: true}}
	child := mea
	child.Name, child.Initial, child.Applied = "mea>svd1", nil, []trainer.ScheduledOp{{Step: 80, Op: model.Op{Kind: model.OpGrow, R: 2}}}
	// mha: a scheduled fork that already ran.
	mha.Ops = []trainer.ScheduledOp{{Step: 50, Op: model.Op{Kind: model.OpToGQA, R: 2}, Fork: true}}
	mha.Applied = mha.Ops
	text, notes := Format("lab", "", []LabRun{{Spec: mha}, {Spec: mea}, {Spec: child, Parent: "mea"}, {Spec: specs[1], Parent: "gone"}})
	s := string(text)
	for _, want := range []string{"[run mha]\nvariant = mha\nat = 50 gqa 2 fork\n", "[run mea]\nvariant = mea\nat = 40 compress 2\nat = 60 compress 1 fork\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %q in\n%s", want, s)
		}
	}
	if strings.Contains(s, "[run mea>svd1]") || !strings.Contains(strings.Join(notes, "\n"), "mea>svd1: the surgery done to it after it forked (at 80 grow 2)") {
		t.Errorf("fork: notes %v\n%s", notes, s)
	}
	if !strings.Contains(s, "[run mea-2]") {
		t.Errorf("a second run called mea must get another name:\n%s", s)
	}
	q, err := Parse("lab", text)
	if err != nil {
		t.Fatalf("%v\n%s", err, s)
	}
	got := expand(t, q).Runs
	if got[1].Model.KVHeads != 4 || len(got[1].Ops) != 2 || got[1].Ops[0].Step != 40 {
		t.Errorf("mea re-runs from h'=4 with its surgery: %+v %+v", got[1].Model, got[1].Ops)
	}
}

// TestFormatReplicas: a replica group (seeds = N) is written back as one
// run with seeds = N; a group missing a replica is written run by run.
func TestFormatReplicas(t *testing.T) {
	p := mustParse(t, "[defaults]\nlayers = 1\nwidth = 32\nseeds = 3\ngrid lr = 1e-3, 2e-3\n[run mha]\nvariant = mha\n[run mea]\nvariant = mea\nseeds = 2\n")
	want := expand(t, p).Runs
	if len(want) != 10 || p.Count() != 10 || want[0].Name != "mha@lr=1e-3,seed=1" {
		t.Fatalf("%d runs (Count %d): %v", len(want), p.Count(), names(want))
	}
	var runs []LabRun
	for _, s := range want {
		runs = append(runs, LabRun{Spec: s})
	}
	text, notes := Format("r", "", runs)
	got := expand(t, mustParse(t, string(text))).Runs
	if len(notes) != 0 || !reflect.DeepEqual(got, want) || strings.Count(string(text), "seeds = ") != 4 {
		t.Fatalf("replicas do not round-trip (notes %v):\n%s\n%v", notes, text, names(got))
	}
	text, notes = Format("r", "", runs[1:])
	if !strings.Contains(strings.Join(notes, "\n"), "replicas of mha@lr=1e-3 are written as separate runs") || !strings.Contains(string(text), "[run mha@lr=1e-3,seed=2]") {
		t.Fatalf("incomplete group: %v\n%s", notes, text)
	}
	if _, err := Parse("r", text); err != nil {
		t.Fatal(err)
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range Names() {
		p, _ := Load(n)
		f.Add([]byte(p.Source))
	}
	f.Add([]byte(twoKeyGrid))
	f.Add([]byte("[run a]\nat = 5 grow 2 layers=1\n"))
	f.Add([]byte("[defaults]\ngrid lr = 1e-3, 2e-3\ngrid kv = 2, 1\nvariant = mea\n[run]\n[run b]\ngrid seed = 1, 2\n"))
	f.Add([]byte("lr_ladder = 1e-3\n[run]\ngrid variant = mha, mqa, gqa\n"))
	f.Add([]byte("[defaults]\nseeds = 2\ngrid lr = 1e-3, 2e-3\n[run a]\n[run b]\nseeds = 3\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Parse("fuzz", src)
		if err != nil || strings.Contains(string(src), "data") {
			return // never let fuzz input name files to read
		}
		if p.Count() < 0 {
			t.Fatalf("negative count")
		}
		ex, err := p.Expand(Options{MaxRuns: 64})
		if err != nil {
			return
		}
		if len(ex.Runs) > 64 || len(ex.Runs) != p.Count() {
			t.Fatalf("%d runs, Count %d, limit 64", len(ex.Runs), p.Count())
		}
		seen := map[string]bool{}
		for _, s := range ex.Runs {
			base, _, _ := strings.Cut(s.Name, "#") // replicas: NAME#i
			if seen[s.Name] || checkRunName(base) != nil {
				t.Fatalf("bad or duplicate name %q", s.Name)
			}
			seen[s.Name] = true
		}
		// What Format writes from the runs trains the same runs.
		var runs []LabRun
		for _, s := range ex.Runs {
			runs = append(runs, LabRun{Spec: s})
		}
		text, _ := Format("fuzz", p.Description, runs)
		q, err := Parse("fuzz", text)
		if err != nil {
			t.Fatalf("Format output does not parse: %v\n%s", err, text)
		}
		ex2, err := q.Expand(Options{MaxRuns: 64})
		if err != nil {
			t.Fatalf("Format output does not expand: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(ex2.Runs, ex.Runs) {
			t.Fatalf("Format round trip differs\n%s", text)
		}
	})
}
