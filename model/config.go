package model

import (
	"errors"
	"fmt"
	"strings"
)

// MaxContext is the length of the rotary-embedding table. A context longer
// than this would index past the table.
const MaxContext = 8192

// Config is the architecture of one model. It is plain data; Validate says
// what is wrong with it in words a person can act on.
type Config struct {
	Vocab   int `json:"vocab"`   // tokens in the vocabulary
	Context int `json:"context"` // maximum sequence length T
	Layers  int `json:"layers"`  // transformer blocks
	Width   int `json:"width"`   // model width D
	Heads   int `json:"heads"`   // query heads H; head width d = D/H
	// KVHeads is the number of key/value heads that are projected and cached:
	// H for MHA, G for GQA (1 for MQA), h' (component heads) for MEA. Zero
	// means Heads.
	KVHeads int `json:"kv_heads"`
	// LayerKV, when set, gives each layer its own KV-head count (head
	// surgery can compress only some layers; the paper finds middle layers
	// the least sensitive). It has one entry per layer and overrides KVHeads.
	LayerKV []int `json:"layer_kv,omitempty"`
	// HLC learns the head-level linear combination W_lc^K, W_lc^V (h' x H)
	// that turns the KVHeads component heads into H composite heads (MEA eq.
	// 10-11). Without it, KV heads are shared by consecutive query heads as in
	// GQA.
	HLC bool `json:"hlc"`
	// GroupNorm applies a per-head RMSNorm with a learnable gain to each
	// head's attention output before W_O (MEA eq. 12).
	GroupNorm bool `json:"group_norm"`
	// MLP is the SwiGLU hidden width. Zero means the Llama rule of thumb,
	// 8/3 * Width rounded up to a multiple of 16, which keeps the MLP's
	// parameter count near a 4x GELU MLP's.
	MLP int `json:"mlp"`
	// RopeTheta is the rotary base; zero means 10000 (Llama 1/2).
	RopeTheta float64 `json:"rope_theta"`
	// Seed makes initialisation reproducible.
	Seed uint64 `json:"seed"`
}

// Normalized returns c with its zero-value defaults filled in.
func (c Config) Normalized() Config {
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if len(c.LayerKV) > 0 {
		same := true
		for _, k := range c.LayerKV {
			same = same && k == c.LayerKV[0]
		}
		if same && len(c.LayerKV) == c.Layers {
			c.KVHeads, c.LayerKV = c.LayerKV[0], nil
		} else {
			c.LayerKV = append([]int(nil), c.LayerKV...)
		}
	}
	if c.MLP == 0 && c.Width > 0 {
		c.MLP = (8*c.Width/3 + 15) / 16 * 16
	}
	if c.RopeTheta == 0 {
		c.RopeTheta = 10000
	}
	return c
}

// HeadDim is d = Width / Heads.
func (c Config) HeadDim() int {
	if c.Heads == 0 {
		return 0
	}
	return c.Width / c.Heads
}

// Variant names the attention variant in the words of the spec's ablation
// table: "MHA", "GQA G=2", "MQA", "MHA+GN", "HLC", "MEA", "MEA h'=2".
func (c Config) Variant() string {
	c = c.Normalized()
	if len(c.LayerKV) > 0 {
		kinds := "GQA"
		if c.HLC && c.GroupNorm {
			kinds = "MEA"
		} else if c.HLC {
			kinds = "HLC"
		} else if c.GroupNorm {
			kinds = "GQA+GN"
		}
		return fmt.Sprintf("%s kv=%s", kinds, c.KVLabel())
	}
	switch {
	case c.HLC && c.GroupNorm && c.KVHeads == c.Heads:
		return "MEA"
	case c.HLC && c.GroupNorm:
		return fmt.Sprintf("MEA h'=%d", c.KVHeads)
	case c.HLC && c.KVHeads == c.Heads:
		return "HLC"
	case c.HLC:
		return fmt.Sprintf("HLC h'=%d", c.KVHeads)
	}
	base := "MHA"
	if c.KVHeads == 1 && c.Heads > 1 {
		base = "MQA"
	} else if c.KVHeads < c.Heads {
		base = fmt.Sprintf("GQA G=%d", c.KVHeads)
	}
	if c.GroupNorm {
		base += "+GN"
	}
	return base
}

// KV is the number of KV (component) heads of layer l.
func (c Config) KV(l int) int {
	if len(c.LayerKV) > l {
		return c.LayerKV[l]
	}
	if c.KVHeads == 0 {
		return c.Heads
	}
	return c.KVHeads
}

// CachedHeads is the number of heads the KV cache stores, summed over layers.
func (c Config) CachedHeads() int {
	n := 0
	for l := 0; l < c.Layers; l++ {
		n += c.KV(l)
	}
	return n
}

// KVLabel is the KV-head count for tables: "4", or "4,2,2,4" when layers
// differ.
func (c Config) KVLabel() string {
	c = c.Normalized()
	if len(c.LayerKV) == 0 {
		return fmt.Sprint(c.KVHeads)
	}
	s := make([]string, len(c.LayerKV))
	for i, k := range c.LayerKV {
		s[i] = fmt.Sprint(k)
	}
	return strings.Join(s, ",")
}

// KVBytesPerToken is 2 * layers * cached_heads * d * bytesPerValue (mea.md,
// "KV-cache size"), with layers * cached_heads summed per layer when layers
// differ.
func (c Config) KVBytesPerToken(bytesPerValue int) int64 {
	c = c.Normalized()
	return int64(2 * c.CachedHeads() * c.HeadDim() * bytesPerValue)
}

// VariantDef is one attention variant: the keyword presets, the command
// line and the new-run form use, and what it sets. Variants is the only
// list of them; a new variant is one entry here (and its layers).
type VariantDef struct {
	Name string // keyword: mha, gqa, ...
	Help string // one line for help texts
	// KV says what the kv setting means for the variant ("G", "h'"); ""
	// when it takes none.
	KV string
	// set makes c this variant; kv is the kv setting (0: the default).
	set func(c *Config, kv int)
	// is recognises a normalized config as this variant; exactly one
	// entry recognises any config.
	is func(c Config) bool
}

// Variants lists the attention variants in the order the form offers them.
var Variants = []VariantDef{
	{Name: "mha", Help: "standard multi-head attention",
		set: func(c *Config, _ int) { c.HLC, c.GroupNorm, c.KVHeads = false, false, c.Heads },
		is:  func(c Config) bool { return !c.HLC && !c.GroupNorm && c.KVHeads == c.Heads }},
	{Name: "gqa", Help: "grouped-query attention, kv = G groups (default H/2)", KV: "G",
		set: func(c *Config, kv int) {
			c.HLC, c.GroupNorm, c.KVHeads = false, false, kv
			if kv == 0 {
				c.KVHeads = max(1, c.Heads/2)
			}
		},
		is: func(c Config) bool {
			return !c.HLC && !c.GroupNorm && c.KVHeads < c.Heads && !(c.KVHeads == 1 && c.Heads > 1)
		}},
	{Name: "mqa", Help: "multi-query attention (one KV head)",
		set: func(c *Config, _ int) { c.HLC, c.GroupNorm, c.KVHeads = false, false, 1 },
		is:  func(c Config) bool { return !c.HLC && !c.GroupNorm && c.KVHeads == 1 && c.Heads > 1 }},
	{Name: "mha+gn", Help: "MHA with per-head GroupNorm",
		set: func(c *Config, _ int) { c.HLC, c.GroupNorm, c.KVHeads = false, true, c.Heads },
		is:  func(c Config) bool { return !c.HLC && c.GroupNorm }},
	{Name: "hlc", Help: "head-level linear combination of K and V, kv = h' component heads (default H)", KV: "h'",
		set: func(c *Config, kv int) { c.HLC, c.GroupNorm, c.KVHeads = true, false, kv },
		is:  func(c Config) bool { return c.HLC && !c.GroupNorm }},
	{Name: "mea", Help: "HLC + per-head GroupNorm, kv = h' component heads (default H)", KV: "h'",
		set: func(c *Config, kv int) { c.HLC, c.GroupNorm, c.KVHeads = true, true, kv },
		is:  func(c Config) bool { return c.HLC && c.GroupNorm }},
}

// variantAliases are other words accepted for a variant.
var variantAliases = map[string]string{"gn": "mha+gn"}

// VariantNames lists the variant keywords.
func VariantNames() []string {
	out := make([]string, len(Variants))
	for i, v := range Variants {
		out[i] = v.Name
	}
	return out
}

// LookupVariant finds a variant by keyword (or alias), case-insensitively.
func LookupVariant(name string) (VariantDef, bool) {
	name = strings.ToLower(strings.TrimSpace(name))
	if a, ok := variantAliases[name]; ok {
		name = a
	}
	for _, v := range Variants {
		if v.Name == name {
			return v, true
		}
	}
	return VariantDef{}, false
}

// VariantOf is the variant a config is (its keyword's entry); for a
// config with per-layer KV heads it goes by KVHeads.
func VariantOf(c Config) VariantDef {
	c = c.Normalized()
	for _, v := range Variants {
		if v.is(c) {
			return v
		}
	}
	return Variants[0]
}

// ApplyVariant sets Heads-relative fields from a variant keyword (see
// Variants). kv is G for gqa and h' for mea/hlc (0 keeps the default: H for
// mea/hlc, H/2 for gqa).
func (c *Config) ApplyVariant(name string, kv int) error {
	v, ok := LookupVariant(name)
	if !ok {
		return fmt.Errorf("unknown attention variant %q; choose one of %s", name, strings.Join(VariantNames(), ", "))
	}
	v.set(c, kv)
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	return nil
}

// Validate reports every problem with c, each with how to fix it.
func (c Config) Validate() error {
	c = c.Normalized()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	pos := func(name string, v int) bool {
		if v <= 0 {
			add("%s must be positive, got %d", name, v)
			return false
		}
		return true
	}
	okV := pos("vocab", c.Vocab)
	okT := pos("context", c.Context)
	okL := pos("layers", c.Layers)
	okD := pos("width", c.Width)
	okH := pos("heads", c.Heads)
	okF := pos("mlp width", c.MLP)
	_ = okV && okL && okF
	if okT && c.Context > MaxContext {
		add("context %d is longer than the rotary table (%d); choose a context of at most %d", c.Context, MaxContext, MaxContext)
	}
	if okD && okH {
		if c.Width%c.Heads != 0 {
			lo := c.Width / c.Heads * c.Heads
			add("width %d is not divisible by %d heads; choose a width that is a multiple of %d (e.g. %d or %d)",
				c.Width, c.Heads, c.Heads, max(lo, c.Heads), lo+c.Heads)
		} else if d := c.Width / c.Heads; d%2 != 0 {
			add("head width %d (width %d / %d heads) is odd; rotary embeddings rotate pairs of features, so choose width and heads with an even quotient", d, c.Width, c.Heads)
		}
		if len(c.LayerKV) > 0 && len(c.LayerKV) != c.Layers {
			add("layer_kv has %d entries for %d layers; give one KV-head count per layer", len(c.LayerKV), c.Layers)
		}
		seen := map[int]bool{}
		for l := 0; l < max(c.Layers, 1); l++ {
			kv := c.KV(l)
			if seen[kv] {
				continue
			}
			seen[kv] = true
			switch {
			case kv < 1:
				add("kv heads must be at least 1, got %d", kv)
			case kv > c.Heads:
				if c.HLC {
					add("virtual heads h'=%d exceed the %d query heads; choose h' between 1 and %d", kv, c.Heads, c.Heads)
				} else {
					add("kv heads %d exceed the %d query heads; choose kv heads between 1 and %d", kv, c.Heads, c.Heads)
				}
			case !c.HLC && c.Heads%kv != 0:
				add("%d query heads cannot be split evenly over %d kv heads (GQA groups must be equal); choose kv heads that divide %d: %s",
					c.Heads, kv, c.Heads, divisors(c.Heads))
			}
		}
	}
	if c.RopeTheta <= 1 {
		add("rope theta must be greater than 1, got %g", c.RopeTheta)
	}
	return errors.Join(errs...)
}

func divisors(n int) string {
	var s []string
	for i := 1; i <= n; i++ {
		if n%i == 0 {
			s = append(s, fmt.Sprint(i))
		}
	}
	return strings.Join(s, ", ")
}
