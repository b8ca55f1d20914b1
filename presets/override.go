package presets

import (
	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/trainer"
)

// Override applies settings to an existing spec, the way a preset's
// settings apply to its defaults; the TUI's new-run form starts from the
// selected run this way instead of writing that run's spec back out as
// settings. The variant and its kv come from the spec unless a setting
// names them (a variant setting without a kv setting takes the variant's
// default kv). Per-layer KV counts left by surgery are kept only when no
// setting changes variant, kv, heads or layers. Scheduled surgery is kept:
// clear spec.Ops for a fresh run. Values that were defaults derived from
// another (the MLP width, the sequence length) follow it again.
func Override(spec trainer.RunSpec, settings []Setting) (trainer.RunSpec, error) {
	v := model.VariantOf(spec.Model)
	// Values that were defaults derived from another follow it again: the
	// MLP width from the model width, the sequence length from the context.
	if spec.Model.MLP == (model.Config{Width: spec.Model.Width}).Normalized().MLP {
		spec.Model.MLP = 0
	}
	if spec.SeqLen == spec.Model.Context {
		spec.SeqLen = 0
	}
	d := draft{spec: spec, variant: v.Name}
	if v.KV != "" {
		d.kv = spec.Model.Normalized().KVHeads
	}
	reshaped := false
	for _, s := range settings {
		if err := d.set(s); err != nil {
			return trainer.RunSpec{}, err
		}
		switch s.Key {
		case "variant":
			if !hasKey(settings, "kv") {
				d.kv, d.kvSet = 0, false
			}
			reshaped = true
		case "kv", "heads", "layers":
			reshaped = true
		}
	}
	if reshaped {
		d.spec.Model.LayerKV = nil
	}
	out, err := d.build()
	out.Name = spec.Name
	return out, err
}
