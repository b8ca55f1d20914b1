package model

import (
	"math"
	"testing"
)

// TestLayerSignals: the per-layer reductions add up to the global ones.
// The layer gradient norms and the norms of the tensors outside the layers
// make up GradNorm (sum of squares), and the largest layer logit is
// MaxLogit, for every attention variant.
func TestLayerSignals(t *testing.T) {
	for name, c := range tinyConfigs() {
		m, err := New[float64](c, nil)
		if err != nil {
			t.Fatal(err)
		}
		perturb(m, 3)
		B, T := 2, c.Context
		x, y := make([]int32, B*T), make([]int32, B*T)
		for i := range x {
			x[i], y[i] = int32(i*7%c.Vocab), int32((i*5+1)%c.Vocab)
		}
		if _, err := m.Forward(x, y, B, T); err != nil {
			t.Fatal(err)
		}
		m.ZeroGrad()
		m.Backward(1)
		if len(m.LayerMaxLogit) != c.Layers {
			t.Fatalf("%s: %d layer logits for %d layers", name, len(m.LayerMaxLogit), c.Layers)
		}
		top := 0.0
		for l, v := range m.LayerMaxLogit {
			if !(v > 0) {
				t.Errorf("%s: layer %d max logit %v", name, l, v)
			}
			top = max(top, v)
		}
		if top != m.MaxLogit {
			t.Errorf("%s: largest layer logit %v, MaxLogit %v", name, top, m.MaxLogit)
		}
		norms := m.LayerGradNorms(nil)
		var sq float64
		for _, n := range norms {
			sq += n * n
		}
		for _, ti := range m.Layout.Tensors {
			if layerOf(ti.Name) < 0 {
				for _, g := range m.Grads[ti.Off : ti.Off+ti.Len] {
					sq += g * g
				}
			}
		}
		if got, want := math.Sqrt(sq), GradNorm(m.Grads); math.Abs(got-want) > 1e-12*want {
			t.Errorf("%s: layer norms add up to %v, GradNorm %v", name, got, want)
		}
		// The slice is reused.
		if again := m.LayerGradNorms(norms); &again[0] != &norms[0] {
			t.Errorf("%s: LayerGradNorms did not reuse dst", name)
		}
	}
	for name, want := range map[string]int{"layers.0.attention.wqkv.weight": 0, "layers.12.ffn_norm.weight": 12, "output.weight": -1, "layers.x.y": -1, "norm.weight": -1} {
		if got := layerOf(name); got != want {
			t.Errorf("layerOf(%q) = %d, want %d", name, got, want)
		}
	}
}
