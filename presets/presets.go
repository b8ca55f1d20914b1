// Package presets holds mealab's experiments: small files of `key = value`
// lines in a [defaults] section and one [run NAME] section per run, parsed
// strictly (unknown keys and wrong types are errors with the line number and
// the nearest key). Built-in presets are embedded; user presets are files
// (see Resolve). `grid KEY = v1, v2, ...` in [defaults] or a run makes one run
// per combination; Expand is the one function that turns a preset into the
// runs to train, and every caller (train, the lab, sweeps, Slurm arrays)
// uses it, so a run's name means the same everywhere. The same keys work on
// the command line as --set key=value (every run, as a default) and
// --set RUN.key=value (one run).
package presets

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/trainer"
)

//go:embed files/*.preset
var files embed.FS

// Default is the preset the lab starts with.
const Default = "mea-vs-mha"

// DefaultMaxRuns bounds how many runs one expansion may make (a grid typo
// such as 100 values on three keys would otherwise start a million runs).
const DefaultMaxRuns = 1000

// Setting is one key = value pair with where it came from.
type Setting struct {
	// Run, when set, limits a command-line setting to the run section of
	// that name (--set RUN.key=value).
	Run        string
	Key, Value string
	Line       int // 0 for command-line settings
}

// String writes the setting the way --set reads it.
func (s Setting) String() string {
	if s.Run != "" {
		return s.Run + "." + s.Key + "=" + s.Value
	}
	return s.Key + "=" + s.Value
}

// Grid is a `grid KEY = v1, v2, ...` line: one run per value.
type Grid struct {
	Key    string
	Values []string
	Line   int
}

// RunDef is one [run NAME] section. An empty Name ([run] alone) names the
// run after its variant (mha, mea-h2, gqa2, ...).
type RunDef struct {
	Name     string
	Settings []Setting
	Grids    []Grid
}

// Preset is a parsed experiment file.
type Preset struct {
	Name        string
	Description string
	NeedsData   bool // refuses to run without --data
	Defaults    []Setting
	Grids       []Grid // [defaults] grids (lr_ladder is `grid lr` here)
	Runs        []RunDef
	Source      string // the file text, for `presets show`
	// Origin says where the preset came from: "built-in", or the file's path.
	Origin string
}

// Names lists the embedded presets.
func Names() []string {
	ents, _ := files.ReadDir("files")
	var out []string
	for _, e := range ents {
		out = append(out, strings.TrimSuffix(e.Name(), ".preset"))
	}
	sort.Strings(out)
	return out
}

// Load returns the embedded preset called name.
func Load(name string) (*Preset, error) {
	b, err := files.ReadFile("files/" + name + ".preset")
	if err != nil {
		return nil, fmt.Errorf("no built-in preset %q; `mealab presets` lists them: %s", name, strings.Join(Names(), ", "))
	}
	p, err := Parse(name, b)
	if p != nil {
		p.Origin = "built-in"
	}
	return p, err
}

// Parse reads preset text strictly.
func Parse(name string, src []byte) (*Preset, error) {
	p := &Preset{Name: name, Source: string(src)}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 4096), MaxFileSize+1)
	section := ""
	ln := 0
	seen := map[string]int{} // key -> line, in the current section
	sawDefaults := false
	for sc.Scan() {
		ln++
		line := stripComment(sc.Text())
		if line == "" {
			continue
		}
		if strings.HasPrefix(line, "[") {
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("%s line %d: section header %q lacks a closing ]", name, ln, line)
			}
			head := strings.Fields(strings.TrimSpace(line[1 : len(line)-1]))
			switch {
			case len(head) == 1 && head[0] == "defaults":
				if sawDefaults {
					return nil, fmt.Errorf("%s line %d: a second [defaults] section; keep one", name, ln)
				}
				section, sawDefaults = "defaults", true
			case (len(head) == 2 || len(head) == 1) && head[0] == "run":
				rn := ""
				if len(head) == 2 {
					rn = head[1]
					if err := checkRunName(rn); err != nil {
						return nil, fmt.Errorf("%s line %d: %w", name, ln, err)
					}
					for _, r := range p.Runs {
						if r.Name == rn {
							return nil, fmt.Errorf("%s line %d: run %q is defined twice", name, ln, rn)
						}
					}
				}
				section = "run"
				p.Runs = append(p.Runs, RunDef{Name: rn})
			default:
				return nil, fmt.Errorf("%s line %d: unknown section %q; use [defaults] or [run NAME]", name, ln, line)
			}
			clear(seen)
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s line %d: %q is not `key = value`", name, ln, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		val = strings.Trim(val, `"`)
		if f := strings.Fields(key); len(f) == 2 && f[0] == "grid" {
			if section == "" {
				return nil, fmt.Errorf("%s line %d: grid lines go under [defaults] or [run NAME]", name, ln)
			}
			g, err := parseGrid(f[1], val, ln)
			if err != nil {
				return nil, fmt.Errorf("%s line %d: %w", name, ln, err)
			}
			if prev, dup := seen[g.Key]; dup {
				return nil, fmt.Errorf("%s line %d: %s is already set on line %d of this section; a key is either set or a grid", name, ln, g.Key, prev)
			}
			seen[g.Key] = ln
			if section == "defaults" {
				if hasGrid(p.Grids, g.Key) {
					return nil, fmt.Errorf("%s line %d: %s is already set by lr_ladder; keep one", name, ln, g.Key)
				}
				p.Grids = append(p.Grids, g)
			} else {
				r := &p.Runs[len(p.Runs)-1]
				r.Grids = append(r.Grids, g)
			}
			continue
		}
		s := Setting{Key: key, Value: val, Line: ln}
		switch section {
		case "":
			switch key {
			case "description":
				p.Description = val
			case "needs_data":
				b, err := strconv.ParseBool(val)
				if err != nil {
					return nil, fmt.Errorf("%s line %d: needs_data: %q is not true or false", name, ln, val)
				}
				p.NeedsData = b
			case "lr_ladder":
				// The old spelling of `grid lr = ...` in [defaults].
				g, err := parseGrid("lr", val, ln)
				if err != nil {
					return nil, fmt.Errorf("%s line %d: lr_ladder: %w", name, ln, err)
				}
				for _, v := range g.Values {
					if f, _ := strconv.ParseFloat(v, 64); !(f > 0) {
						return nil, fmt.Errorf("%s line %d: lr_ladder: %q is not a positive number", name, ln, v)
					}
				}
				if slices.ContainsFunc(p.Grids, func(x Grid) bool { return x.Key == "lr" }) {
					return nil, fmt.Errorf("%s line %d: lr_ladder and `grid lr` both given; keep one", name, ln)
				}
				p.Grids = append(p.Grids, g)
			default:
				return nil, fmt.Errorf("%s line %d: unknown top-level key %q; top-level keys are description, needs_data, lr_ladder (run settings go under [defaults] or [run NAME])", name, ln, key)
			}
			continue
		case "defaults":
			p.Defaults = append(p.Defaults, s)
		case "run":
			r := &p.Runs[len(p.Runs)-1]
			r.Settings = append(r.Settings, s)
		}
		if prev, dup := seen[key]; dup && key != "at" {
			return nil, fmt.Errorf("%s line %d: %s is already set on line %d of this section", name, ln, key, prev)
		}
		seen[key] = ln
		// Check the key and type now, so errors carry the line.
		var d draft
		if err := d.set(s); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, ln, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s line %d: %w", name, ln+1, err)
	}
	if len(p.Runs) == 0 {
		return nil, fmt.Errorf("%s: no [run NAME] sections; a preset needs at least one run", name)
	}
	return p, nil
}

// parseGrid reads the values of `grid key = v1, v2, ...`; each value is
// checked as the key's value would be.
func parseGrid(key, val string, ln int) (Grid, error) {
	g := Grid{Key: key, Line: ln}
	if key == "at" {
		return g, fmt.Errorf("grid at: surgery cannot be a grid; write one run per schedule")
	}
	for _, f := range strings.Split(val, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			return g, fmt.Errorf("grid %s: an empty value in %q; separate values with commas", key, val)
		}
		if slices.Contains(g.Values, f) {
			return g, fmt.Errorf("grid %s: %s is listed twice", key, f)
		}
		var d draft
		if err := d.set(Setting{Key: key, Value: f}); err != nil {
			return g, fmt.Errorf("grid %s: %w", key, err)
		}
		g.Values = append(g.Values, f)
	}
	if len(g.Values) == 0 {
		return g, fmt.Errorf("grid %s: no values; write grid %s = v1, v2", key, key)
	}
	return g, nil
}

// checkRunName keeps run names to what session directories, file names and
// --set RUN.key can carry.
func checkRunName(n string) error {
	for _, c := range n {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("-_+.>@,=", c):
		default:
			return fmt.Errorf("run name %q: use letters, digits and - _ + . > @ , =", n)
		}
	}
	if len(n) > 64 {
		return fmt.Errorf("run name %q is longer than 64 characters", n)
	}
	return nil
}

func stripComment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// ParseSet parses a command-line "key=value" (every run, as a default) or
// "RUN.key=value" (only the run section RUN, over its own settings). The
// error names the problem once; the flag package adds which flag it was.
func ParseSet(kv string) (Setting, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return Setting{}, fmt.Errorf("%q is not key=value; for example --set lr=3e-3, or --set mea.kv=2 for one run", kv)
	}
	s := Setting{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)}
	if i := strings.LastIndexByte(s.Key, '.'); i >= 0 {
		s.Run, s.Key = s.Key[:i], s.Key[i+1:]
		if s.Run == "" || s.Key == "" {
			return Setting{}, fmt.Errorf("%q: write RUN.key=value, e.g. mea.kv=2", kv)
		}
	}
	var d draft
	if err := d.set(s); err != nil {
		return Setting{}, err
	}
	return s, nil
}

// Options are the caller's part of an expansion.
type Options struct {
	// Overrides are --set settings: without Run, a default for every run
	// (over [defaults] and its grids, under a run's own settings); with
	// Run, over that run's own settings and grids.
	Overrides []Setting
	// MaxRuns refuses expansions larger than this (0: DefaultMaxRuns).
	MaxRuns int
	// Only keeps the runs with these names (expanded names such as
	// mea@lr=3e-3, or run section names for all of a section's runs), in
	// the expansion's order; an unknown name is an error.
	Only []string
}

// Expansion is the runs a preset makes, in a stable order with stable
// names: sections in file order, and within a section the grid's
// combinations with the first grid line outermost.
type Expansion struct {
	Runs []trainer.RunSpec
	// Section is, per run, the [run NAME] section it came from.
	Section []string
	seeds   []int // per run before replication: its `seeds` value

	// Notes are things the person should know: runs renamed because an
	// override changed what they are, runs that train the same thing,
	// overrides some runs keep their own value against.
	Notes []string
}

// Names lists the expanded runs' names.
func (e *Expansion) Names() []string {
	out := make([]string, len(e.Runs))
	for i, r := range e.Runs {
		out[i] = r.Name
	}
	return out
}

// Expand turns the preset into the runs to train. Precedence, lowest
// first: the base values, [defaults] (its grids included), --set key=value,
// the run's own settings, the run's grid values, --set RUN.key=value. An
// override replaces any grid over its key at its level or below. It is the
// one expansion: train, the lab's preset picker, `presets show --expand`,
// sweeps and Slurm arrays all call it, so a name always means one run.
func (p *Preset) Expand(o Options) (*Expansion, error) {
	maxRuns := o.MaxRuns
	if maxRuns <= 0 {
		maxRuns = DefaultMaxRuns
	}
	var global []Setting
	byRun := map[string][]Setting{}
	for _, s := range o.Overrides {
		if s.Run == "" {
			global = append(global, s)
			continue
		}
		if !slices.ContainsFunc(p.Runs, func(r RunDef) bool { return r.Name == s.Run }) {
			return nil, fmt.Errorf("--set %s: preset %s has no run %q; its runs are %s", s, p.Name, s.Run, strings.Join(p.sectionNames(), ", "))
		}
		byRun[s.Run] = append(byRun[s.Run], s)
	}
	ex := &Expansion{}
	if err := p.checkShadowed(global, byRun, ex); err != nil {
		return nil, err
	}
	// Count first: refuse a huge grid before building anything.
	total := 0
	for _, r := range p.Runs {
		n := 1
		for _, g := range p.axes(r, global, byRun[r.Name]) {
			n *= len(g.Values)
			if n > maxRuns {
				break
			}
		}
		total += n
		if total > maxRuns {
			return nil, fmt.Errorf("preset %s expands to more than %d runs; shrink a grid, or raise the limit with --max-runs", p.Name, maxRuns)
		}
	}
	for _, r := range p.Runs {
		axes := p.axes(r, global, byRun[r.Name])
		for _, g := range axes {
			if g.Key == "seeds" {
				return nil, fmt.Errorf("%s, line %d: grid seeds: a grid over seeds makes no sense; write seeds = N for N replicas of every run", sectionLabel(r.Name), g.Line)
			}
		}
		idx := make([]int, len(axes))
		for {
			var combo []Setting
			for i, g := range axes {
				combo = append(combo, Setting{Key: g.Key, Value: g.Values[idx[i]], Line: g.Line})
			}
			spec, err := p.build(r, global, byRun[r.Name], combo, ex)
			if err != nil {
				return nil, err
			}
			ex.Runs = append(ex.Runs, spec)
			ex.Section = append(ex.Section, r.Name)
			// Next combination, last axis fastest.
			i := len(axes) - 1
			for ; i >= 0; i-- {
				idx[i]++
				if idx[i] < len(axes[i].Values) {
					break
				}
				idx[i] = 0
			}
			if i < 0 {
				break
			}
		}
	}
	seen := map[string]int{}
	for i, s := range ex.Runs {
		if j, dup := seen[s.Name]; dup {
			return nil, fmt.Errorf("preset %s: two runs are called %s (from sections %s and %s); run names must differ: rename a section", p.Name, s.Name, sectionLabel(ex.Section[j]), sectionLabel(ex.Section[i]))
		}
		seen[s.Name] = i
	}
	ex.Notes = append(ex.Notes, identical(ex.Runs)...)
	if err := ex.replicate(p.Name, maxRuns); err != nil {
		return nil, err
	}
	if len(o.Only) > 0 {
		if err := ex.only(o.Only); err != nil {
			return nil, err
		}
	}
	return ex, nil
}

func sectionLabel(n string) string {
	if n == "" {
		return "[run]"
	}
	return "[run " + n + "]"
}

func (p *Preset) sectionNames() []string {
	var out []string
	for _, r := range p.Runs {
		if r.Name != "" {
			out = append(out, r.Name)
		}
	}
	return out
}

// only keeps the runs named in names.
func (e *Expansion) only(names []string) error {
	keep := map[int]bool{}
	for _, n := range names {
		found := false
		for i, r := range e.Runs {
			if r.Name == n || (e.Section[i] == n && n != "") {
				keep[i], found = true, true
			}
		}
		if !found {
			msg := fmt.Sprintf("no run %q in this expansion; the runs are %s", n, strings.Join(e.Names(), ", "))
			if s := nearest(n, e.Names()); s != "" {
				msg = fmt.Sprintf("no run %q; did you mean %s? (the runs are %s)", n, s, strings.Join(e.Names(), ", "))
			}
			return fmt.Errorf("%s", msg)
		}
	}
	var runs []trainer.RunSpec
	var secs []string
	for i := range e.Runs {
		if keep[i] {
			runs = append(runs, e.Runs[i])
			secs = append(secs, e.Section[i])
		}
	}
	e.Runs, e.Section = runs, secs
	return nil
}

// axes are the grids run r expands over after overrides: [defaults] grids
// the run or a global override does not set, then the run's own grids, less
// those its run overrides replace.
func (p *Preset) axes(r RunDef, global, own []Setting) []Grid {
	var out []Grid
	for _, g := range p.Grids {
		if hasKey(global, g.Key) || hasKey(r.Settings, g.Key) || hasGrid(r.Grids, g.Key) || hasKey(own, g.Key) {
			continue
		}
		out = append(out, g)
	}
	for _, g := range r.Grids {
		if !hasKey(own, g.Key) {
			out = append(out, g)
		}
	}
	return out
}

func hasGrid(gs []Grid, k string) bool {
	return slices.ContainsFunc(gs, func(g Grid) bool { return g.Key == k })
}

// checkShadowed refuses a --set key=value that every run overrides with
// its own value (it would change nothing), and notes the runs that keep
// their own value when only some do.
func (p *Preset) checkShadowed(global []Setting, byRun map[string][]Setting, ex *Expansion) error {
	for _, s := range global {
		if s.Key == "at" {
			continue // surgery adds up: every run gets it
		}
		var keep, take []string
		for _, r := range p.Runs {
			label := r.Name
			if label == "" {
				label = "[run]"
			}
			if (hasKey(r.Settings, s.Key) || hasGrid(r.Grids, s.Key)) && !hasKey(byRun[r.Name], s.Key) {
				keep = append(keep, label)
			} else {
				take = append(take, label)
			}
		}
		if len(keep) == 0 {
			continue
		}
		example := p.Runs[0].Name
		if example == "" {
			example = "RUN"
		}
		if len(take) == 0 {
			return fmt.Errorf("--set %s changes no run: every run of preset %s sets %s itself (%s). --set key=value is a default for every run; to change one run write --set %s.%s=%s, and to train a single run of your own use --preset none --set %s",
				s, p.Name, s.Key, strings.Join(keep, ", "), example, s.Key, s.Value, s)
		}
		verb := "keep their"
		if len(keep) == 1 {
			verb = "keeps its"
		}
		ex.Notes = append(ex.Notes, fmt.Sprintf("--set %s applies to %s; %s %s own %s (--set %s.%s=%s changes one)",
			s, strings.Join(take, ", "), strings.Join(keep, ", "), verb, s.Key, keep[0], s.Key, s.Value))
	}
	return nil
}

// build makes one run: the settings in precedence order, then its name.
func (p *Preset) build(r RunDef, global, own, combo []Setting, ex *Expansion) (trainer.RunSpec, error) {
	label := sectionLabel(r.Name)
	d := base()
	var ownShadow []Setting // the run's own settings an override replaces
	for _, st := range r.Settings {
		if !hasKey(own, st.Key) || st.Key == "at" {
			ownShadow = append(ownShadow, st)
		}
	}
	for _, list := range [][]Setting{p.Defaults, global, ownShadow, combo, own} {
		for _, s := range list {
			if err := d.set(s); err != nil {
				if s.Line > 0 {
					return trainer.RunSpec{}, fmt.Errorf("%s, line %d: %w", label, s.Line, err)
				}
				return trainer.RunSpec{}, fmt.Errorf("%s: --set %s: %w", label, s, err)
			}
		}
	}
	spec, err := d.build()
	if err != nil {
		return spec, fmt.Errorf("%s: %w", label, err)
	}
	ex.seeds = append(ex.seeds, max(d.seeds, 1))
	if spec.Data.Kind == "file" && spec.Data.Path == "" {
		return spec, fmt.Errorf("preset %s needs a text file: pass --data FILE", p.Name)
	}
	// The name: the section's, or the variant's for [run]; then the grid.
	kw, kv := variantOf(spec.Model)
	baseName := r.Name
	if baseName == "" {
		baseName = canonicalName(kw, kv, spec.Model.Heads)
	} else if claimKW, claimKV, ok := claims(baseName); ok && !claimHolds(claimKW, claimKV, kw, kv, spec.Model.Heads) {
		// An override that changes variant or kv renames the run, so that
		// its name never says something it is not; a file whose own
		// settings contradict its names is refused.
		changed := ""
		for _, s := range append(append([]Setting(nil), global...), own...) {
			if s.Key == "variant" || s.Key == "kv" || s.Key == "heads" {
				changed += " --set " + s.String()
			}
		}
		if changed == "" {
			return spec, fmt.Errorf("%s: the name says %s but the run trains %s; rename the section or fix its variant/kv", label, baseName, spec.Model.Variant())
		}
		nn := canonicalName(kw, kv, spec.Model.Heads)
		ex.Notes = append(ex.Notes, fmt.Sprintf("run %s is called %s here:%s makes it %s", baseName, nn, changed, spec.Model.Variant()))
		baseName = nn
	}
	var parts []string
	for _, s := range combo {
		if r.Name == "" && (s.Key == "variant" || s.Key == "kv") {
			continue // the variant's name already says it
		}
		parts = append(parts, s.Key+"="+s.Value)
	}
	spec.Name = baseName
	if len(parts) > 0 {
		spec.Name += "@" + strings.Join(parts, ",")
	}
	return spec, nil
}

// identical notes runs that would train exactly the same thing.
func identical(specs []trainer.RunSpec) []string {
	var notes []string
	done := make([]bool, len(specs))
	for i := range specs {
		if done[i] {
			continue
		}
		group := []string{specs[i].Name}
		a := specs[i]
		a.Name = ""
		for j := i + 1; j < len(specs); j++ {
			b := specs[j]
			b.Name = ""
			if reflect.DeepEqual(a, b) {
				group = append(group, specs[j].Name)
				done[j] = true
			}
		}
		if len(group) > 1 {
			notes = append(notes, fmt.Sprintf("runs %s are identical (same model, data and schedule): they will train the same thing", strings.Join(group, ", ")))
		}
	}
	return notes
}

func hasKey(list []Setting, k string) bool {
	return slices.ContainsFunc(list, func(s Setting) bool { return s.Key == k })
}

// FormatLR writes a learning rate compactly: 3e-3, 1e-4, 5e-4.
func FormatLR(lr float64) string {
	e := math.Floor(math.Log10(lr))
	m := lr / math.Pow(10, e)
	if math.Abs(m-math.Round(m)) < 1e-9 {
		return fmt.Sprintf("%de%d", int(math.Round(m)), int(e))
	}
	return strconv.FormatFloat(lr, 'g', 3, 64)
}

// draft is a RunSpec under construction: the variant is applied last so
// that `heads` may come after `variant`.
type draft struct {
	spec    trainer.RunSpec
	variant string
	kv      int
	kvSet   bool
	seeds   int // replicas of the run (Replicate); 0 or 1: one
}

func base() draft {
	return draft{spec: trainer.RunSpec{
		Model: model.Config{Vocab: 0, Context: 128, Layers: 4, Width: 128, Heads: 4, Seed: 1},
		Optim: model.DefaultAdamW(),
		Sched: model.Schedule{Peak: 1e-3, Warmup: 50, Total: 1000, FloorFrac: 0.1},
		Batch: 16, Clip: 1, DataSeed: 1, EvalEvery: 100, EvalBatches: 4, SampleEvery: 250, SampleLen: 80,
	}, variant: "mha"}
}

// Keys lists every settable key with its meaning, for help texts.
var Keys = []struct{ Key, Help string }{
	{"variant", "attention: " + strings.Join(model.VariantNames(), ", ")},
	{"kv", "KV heads: G for gqa, h' (virtual heads) for mea/hlc; 0 = default"},
	{"layers", "transformer blocks"},
	{"width", "model width D"},
	{"heads", "query heads H"},
	{"mlp", "SwiGLU hidden width (0 = 8/3 width)"},
	{"context", "maximum sequence length"},
	{"seq_len", "training sequence length (0 = context)"},
	{"vocab", "vocabulary size (0 = the data's)"},
	{"rope_theta", "rotary base"},
	{"seed", "initialisation seed"},
	{"batch", "sequences per step"},
	{"lr", "peak learning rate"},
	{"warmup", "linear warm-up steps"},
	{"steps", "total steps"},
	{"lr_floor", "final LR as a fraction of the peak (cosine decay)"},
	{"weight_decay", "AdamW decoupled weight decay"},
	{"beta1", "AdamW beta1"},
	{"beta2", "AdamW beta2"},
	{"clip", "gradient-norm clipping (0 = off)"},
	{"data", "synthetic, mqar, or a text file path"},
	{"data_seed", "seed of the training batches (same for all runs = fair comparison)"},
	{"seeds", "replicas per run, N from 1 to 64: run NAME becomes NAME@seed=S for S = seed..seed+N-1 (data_seed moves with it), compared as a group"},
	{"mqar_keys", "MQAR key vocabulary"},
	{"mqar_values", "MQAR value vocabulary"},
	{"mqar_pairs", "MQAR key-value pairs per sequence (0 = seq_len/4)"},
	{"eval_every", "steps between validation passes (0 = never)"},
	{"eval_batches", "held-out batches per validation pass"},
	{"sample_every", "steps between generated samples (0 = never)"},
	{"sample_len", "tokens per sample"},
	{"device", "cpu or cuda"},
	{"at", "schedule head surgery: `STEP OP` e.g. `at = 600 compress 2` (see README)"},
}

func (d *draft) set(s Setting) error {
	v := s.Value
	integer := func(dst *int) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%s: %q is not a whole number", s.Key, v)
		}
		*dst = n
		return nil
	}
	float := func(dst *float64) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s: %q is not a number", s.Key, v)
		}
		*dst = f
		return nil
	}
	u64 := func(dst *uint64) error {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: %q is not a non-negative whole number", s.Key, v)
		}
		*dst = n
		return nil
	}
	sp := &d.spec
	switch s.Key {
	case "variant":
		var c model.Config
		if err := c.ApplyVariant(v, 0); err != nil {
			return err
		}
		d.variant = v
		return nil
	case "kv":
		d.kvSet = true
		return integer(&d.kv)
	case "layers":
		return integer(&sp.Model.Layers)
	case "width":
		return integer(&sp.Model.Width)
	case "heads":
		return integer(&sp.Model.Heads)
	case "mlp":
		return integer(&sp.Model.MLP)
	case "context":
		return integer(&sp.Model.Context)
	case "seq_len":
		return integer(&sp.SeqLen)
	case "vocab":
		return integer(&sp.Model.Vocab)
	case "rope_theta":
		return float(&sp.Model.RopeTheta)
	case "seed":
		return u64(&sp.Model.Seed)
	case "batch":
		return integer(&sp.Batch)
	case "lr":
		return float(&sp.Sched.Peak)
	case "warmup":
		return integer(&sp.Sched.Warmup)
	case "steps":
		return integer(&sp.Sched.Total)
	case "lr_floor":
		return float(&sp.Sched.FloorFrac)
	case "weight_decay":
		return float(&sp.Optim.WeightDecay)
	case "beta1":
		return float(&sp.Optim.Beta1)
	case "beta2":
		return float(&sp.Optim.Beta2)
	case "clip":
		return float(&sp.Clip)
	case "data":
		switch v {
		case "synthetic", "mqar":
			sp.Data.Kind, sp.Data.Path = v, ""
		case "file":
			sp.Data.Kind = "file"
		default:
			sp.Data.Kind, sp.Data.Path = "file", v
		}
		return nil
	case "data_seed":
		return u64(&sp.DataSeed)
	case "mqar_keys":
		return integer(&sp.Data.Keys)
	case "mqar_values":
		return integer(&sp.Data.Values)
	case "mqar_pairs":
		return integer(&sp.Data.Pairs)
	case "eval_every":
		return integer(&sp.EvalEvery)
	case "eval_batches":
		return integer(&sp.EvalBatches)
	case "sample_every":
		return integer(&sp.SampleEvery)
	case "sample_len":
		return integer(&sp.SampleLen)
	case "device":
		if v != "cpu" && v != "cuda" {
			return fmt.Errorf("device: %q is not cpu or cuda", v)
		}
		sp.Device = v
		return nil
	case "seeds":
		if err := integer(&d.seeds); err != nil {
			return err
		}
		if d.seeds < 1 || d.seeds > MaxSeeds {
			return fmt.Errorf("seeds: %d is not between 1 and %d", d.seeds, MaxSeeds)
		}
		return nil
	case "at":
		op, err := trainer.ParseScheduledOp(v)
		if err != nil {
			return fmt.Errorf("at: %w", err)
		}
		sp.Ops = append(sp.Ops, op)
		return nil
	}
	return unknownKey(s.Key)
}

func (d *draft) build() (trainer.RunSpec, error) {
	sp := d.spec
	if v, ok := model.LookupVariant(d.variant); ok && v.KV == "" && d.kvSet && d.kv != 0 {
		var takes []string
		for _, x := range model.Variants {
			if x.KV != "" {
				takes = append(takes, fmt.Sprintf("%s (kv = %s)", x.Name, x.KV))
			}
		}
		return sp, fmt.Errorf("kv = %d: variant %s cannot take kv (%s); use variant %s", d.kv, v.Name, v.Help, strings.Join(takes, " or "))
	}
	if err := sp.Model.ApplyVariant(d.variant, d.kv); err != nil {
		return sp, err
	}
	if d.kvSet && d.kv == 0 {
		sp.Model.KVHeads = sp.Model.Heads
	}
	if sp.Model.Vocab == 0 {
		ds, err := sp.Data.Open(max(1, sp.SeqLen, sp.Model.Context))
		if err != nil {
			return sp, err
		}
		sp.Model.Vocab = ds.Vocab()
	}
	sp = sp.Normalized()
	if err := sp.Validate(); err != nil {
		return sp, err
	}
	return sp, trainer.ValidateSchedule(sp)
}

// Build makes one run spec from the lab's base values and settings applied
// in order (the TUI's "new run" form uses it).
func Build(name string, settings []Setting) (trainer.RunSpec, error) {
	d := base()
	for _, s := range settings {
		if err := d.set(s); err != nil {
			return trainer.RunSpec{}, err
		}
	}
	spec, err := d.build()
	spec.Name = name
	return spec, err
}
