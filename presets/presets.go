// Package presets holds mealab's named experiments: small embedded files of
// `key = value` lines in a [defaults] section and one [run NAME] section per
// run, parsed strictly (unknown keys and wrong types are errors with the
// line number). The same keys work on the command line as --set key=value.
package presets

import (
	"bufio"
	"bytes"
	"embed"
	"fmt"
	"math"
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

// Setting is one key = value pair with where it came from.
type Setting struct {
	Key, Value string
	Line       int // 0 for command-line settings
}

// RunDef is one [run NAME] section.
type RunDef struct {
	Name     string
	Settings []Setting
}

// Preset is a parsed experiment file.
type Preset struct {
	Name        string
	Description string
	NeedsData   bool      // refuses to run without --data
	Ladder      []float64 // lr_ladder: every run is repeated at each LR
	Defaults    []Setting
	Runs        []RunDef
	Source      string // the file text, for `presets show`
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
		return nil, fmt.Errorf("no preset %q; `mealab presets` lists them: %s", name, strings.Join(Names(), ", "))
	}
	return Parse(name, b)
}

// Parse reads preset text strictly.
func Parse(name string, src []byte) (*Preset, error) {
	p := &Preset{Name: name, Source: string(src)}
	sc := bufio.NewScanner(bytes.NewReader(src))
	section := ""
	ln := 0
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
				section = "defaults"
			case len(head) == 2 && head[0] == "run":
				for _, r := range p.Runs {
					if r.Name == head[1] {
						return nil, fmt.Errorf("%s line %d: run %q is defined twice", name, ln, head[1])
					}
				}
				section = "run"
				p.Runs = append(p.Runs, RunDef{Name: head[1]})
			default:
				return nil, fmt.Errorf("%s line %d: unknown section %q; use [defaults] or [run NAME]", name, ln, line)
			}
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s line %d: %q is not `key = value`", name, ln, line)
		}
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		val = strings.Trim(val, `"`)
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
				for _, f := range strings.FieldsFunc(val, func(r rune) bool { return r == ',' || r == ' ' }) {
					v, err := strconv.ParseFloat(f, 64)
					if err != nil || !(v > 0) {
						return nil, fmt.Errorf("%s line %d: lr_ladder: %q is not a positive number", name, ln, f)
					}
					p.Ladder = append(p.Ladder, v)
				}
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
		// Check the key and type now, so errors carry the line.
		var d draft
		if err := d.set(s); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, ln, err)
		}
	}
	if len(p.Runs) == 0 {
		return nil, fmt.Errorf("%s: no [run NAME] sections; a preset needs at least one run", name)
	}
	return p, nil
}

func stripComment(s string) string {
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// ParseSet parses a command-line "key=value".
func ParseSet(kv string) (Setting, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return Setting{}, fmt.Errorf("--set %q is not key=value; for example --set lr=3e-3", kv)
	}
	s := Setting{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v)}
	var d draft
	if err := d.set(s); err != nil {
		return Setting{}, fmt.Errorf("--set %s: %w", kv, err)
	}
	return s, nil
}

// Expand turns the preset into run specs: defaults, then the run's own
// settings, then the command-line overrides, then the LR ladder.
func (p *Preset) Expand(overrides []Setting) ([]trainer.RunSpec, error) {
	var out []trainer.RunSpec
	for _, r := range p.Runs {
		d := base()
		for _, list := range [][]Setting{p.Defaults, r.Settings, overrides} {
			for _, s := range list {
				if err := d.set(s); err != nil {
					return nil, fmt.Errorf("run %s: %w", r.Name, err)
				}
			}
		}
		spec, err := d.build()
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", r.Name, err)
		}
		spec.Name = r.Name
		if spec.Data.Kind == "file" && spec.Data.Path == "" {
			return nil, fmt.Errorf("preset %s needs a text file: pass --data FILE (for example ../shared/data/tinyshakespeare.txt)", p.Name)
		}
		ladder := p.Ladder
		if hasKey(overrides, "lr") {
			ladder = nil // an explicit LR replaces the ladder
		}
		if len(ladder) == 0 {
			out = append(out, spec)
			continue
		}
		for _, lr := range ladder {
			s := spec
			s.Sched.Peak = lr
			s.Name = fmt.Sprintf("%s@%s", r.Name, FormatLR(lr))
			out = append(out, s)
		}
	}
	return out, nil
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
	case "at":
		op, err := trainer.ParseScheduledOp(v)
		if err != nil {
			return fmt.Errorf("at: %w", err)
		}
		sp.Ops = append(sp.Ops, op)
		return nil
	}
	known := make([]string, len(Keys))
	for i, k := range Keys {
		known[i] = k.Key
	}
	return fmt.Errorf("unknown key %q; known keys: %s", s.Key, strings.Join(known, ", "))
}

func (d *draft) build() (trainer.RunSpec, error) {
	sp := d.spec
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
