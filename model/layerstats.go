package model

import (
	"strconv"
	"strings"
)

// Per-layer stability signals, for seeing which layer blows up first. They
// are reductions over buffers the step fills anyway: the largest attention
// logit of each layer is kept by Forward (LayerMaxLogit, free), and the
// gradient norm of each layer comes from the same parallel read of the
// gradient slab as the global norm for clipping (GradNorms).

// LayerGradNorms writes into dst (grown to the number of layers) the L2 norm
// of each transformer block's parameter gradients, summed in float64, and
// returns it. Embeddings, the final norm and the output head belong to no
// layer and are left out.
func (m *Model[T]) LayerGradNorms(dst []float64) []float64 {
	layers, _ := m.GradNorms(dst)
	return layers
}

// layerOf is the block index of a tensor named "layers.N....", or -1.
func layerOf(name string) int {
	rest, ok := strings.CutPrefix(name, "layers.")
	if !ok {
		return -1
	}
	n, _, _ := strings.Cut(rest, ".")
	l, err := strconv.Atoi(n)
	if err != nil {
		return -1
	}
	return l
}

// noteLayerLogit records layer l's largest logit of this Forward.
func (m *Model[T]) noteLayerLogit(l int, v float64) {
	if len(m.LayerMaxLogit) != m.Cfg.Layers {
		m.LayerMaxLogit = make([]float64, m.Cfg.Layers)
	}
	m.LayerMaxLogit[l] = v
}
