package presets

import (
	"reflect"
	"strings"
	"testing"
)

func TestOverrideKeepsWhatNoSettingNames(t *testing.T) {
	base, err := Build("r", []Setting{{Key: "variant", Value: "mea"}, {Key: "kv", Value: "2"}, {Key: "data", Value: "mqar"},
		{Key: "mqar_keys", Value: "16"}, {Key: "batch", Value: "7"}, {Key: "data_seed", Value: "9"}, {Key: "eval_every", Value: "0"},
		{Key: "beta2", Value: "0.9"}, {Key: "context", Value: "64"}})
	if err != nil {
		t.Fatal(err)
	}
	// No settings: the same spec.
	same, err := Override(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(same, base) {
		t.Errorf("Override with no settings changed the spec:\n got %+v\nwant %+v", same, base)
	}
	// lr only: the variant and h'=2 stay.
	got, err := Override(base, []Setting{{Key: "lr", Value: "5e-4"}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Sched.Peak != 5e-4 || got.Model.Variant() != "MEA h'=2" || got.Batch != 7 || got.Data != base.Data || got.DataSeed != 9 || got.Optim.Beta2 != 0.9 {
		t.Errorf("after lr=5e-4: %+v", got)
	}
	// A variant without kv takes the variant's default kv.
	got, err = Override(base, []Setting{{Key: "variant", Value: "gqa"}})
	if err != nil || got.Model.Variant() != "GQA G=2" {
		t.Errorf("variant=gqa: %v, %v", got.Model.Variant(), err)
	}
	got, err = Override(base, []Setting{{Key: "variant", Value: "mea"}, {Key: "heads", Value: "8"}})
	if err != nil || got.Model.Variant() != "MEA" || got.Model.Heads != 8 {
		t.Errorf("variant=mea heads=8: %v H=%d, %v", got.Model.Variant(), got.Model.Heads, err)
	}
	// Per-layer KV from surgery: kept unless the shape changes.
	surg := base
	surg.Model.LayerKV = []int{4, 2, 2, 4}
	got, _ = Override(surg, []Setting{{Key: "lr", Value: "1e-3"}})
	if got.Model.KVLabel() != "4,2,2,4" {
		t.Errorf("lr only dropped the per-layer KV: %s", got.Model.KVLabel())
	}
	got, _ = Override(surg, []Setting{{Key: "layers", Value: "2"}})
	if got.Model.KVLabel() != "2" {
		t.Errorf("layers=2 kept per-layer KV %s", got.Model.KVLabel())
	}
	// Derived defaults follow what they derive from; explicit ones stay.
	got, _ = Override(base, []Setting{{Key: "width", Value: "256"}, {Key: "context", Value: "128"}})
	if want, _ := Build("r", []Setting{{Key: "width", Value: "256"}}); got.Model.MLP != want.Model.MLP || got.SeqLen != 128 {
		t.Errorf("width=256 context=128: mlp %d (want %d), seq_len %d (want 128)", got.Model.MLP, want.Model.MLP, got.SeqLen)
	}
	own, _ := Build("r", []Setting{{Key: "mlp", Value: "96"}, {Key: "seq_len", Value: "32"}})
	got, _ = Override(own, []Setting{{Key: "width", Value: "256"}})
	if got.Model.MLP != 96 || got.SeqLen != 32 {
		t.Errorf("explicit mlp 96 and seq_len 32 became %d and %d", got.Model.MLP, got.SeqLen)
	}
	// Bad settings are errors with the key.
	if _, err := Override(base, []Setting{{Key: "heads", Value: "3"}}); err == nil || !strings.Contains(err.Error(), "divisible") {
		t.Errorf("heads=3: %v", err)
	}
	if _, err := Override(base, []Setting{{Key: "colour", Value: "red"}}); err == nil {
		t.Error("an unknown key was accepted")
	}
}
