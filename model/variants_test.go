package model

import (
	"strings"
	"testing"
)

// Every variant's keyword turns into a config that VariantOf recognises as
// that variant again, for every kv it takes, and exactly one entry
// recognises each config.
func TestVariantsRoundTrip(t *testing.T) {
	for _, v := range Variants {
		kvs := []int{0}
		if v.KV != "" {
			kvs = []int{0, 1, 2, 3, 4}
		}
		for _, kv := range kvs {
			c := Config{Vocab: 11, Context: 8, Layers: 2, Width: 16, Heads: 4}
			if err := c.ApplyVariant(v.Name, kv); err != nil {
				t.Fatal(err)
			}
			if c.Validate() != nil {
				continue // gqa 3 of 4 heads: not a config
			}
			want := v.Name
			if v.Name == "gqa" && c.KVHeads == 1 {
				want = "mqa" // gqa with one group is MQA
			}
			if v.Name == "gqa" && c.KVHeads == 4 {
				want = "mha"
			}
			if got := VariantOf(c).Name; got != want {
				t.Errorf("%s kv=%d: VariantOf = %s, want %s", v.Name, kv, got, want)
			}
			n := 0
			for _, w := range Variants {
				if w.is(c.Normalized()) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s kv=%d: %d variants recognise it, want 1", v.Name, kv, n)
			}
		}
	}
	var c Config
	if err := c.ApplyVariant("linear", 0); err == nil || !strings.Contains(err.Error(), strings.Join(VariantNames(), ", ")) {
		t.Errorf("unknown variant: %v", err)
	}
	if v, ok := LookupVariant(" GN "); !ok || v.Name != "mha+gn" {
		t.Errorf("alias gn: %+v %v", v, ok)
	}
}
