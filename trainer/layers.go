package trainer

import (
	"fmt"
	"slices"
)

// LayerStats is the per-layer history of one run: for every recorded step,
// each layer's largest |attention logit| and its parameters' gradient norm
// (before clipping), so a person can see which layer blows up first.
type LayerStats struct {
	Layers int
	Steps  []int
	// MaxLogit[l][i] and GradNorm[l][i] belong to layer l at Steps[i].
	MaxLogit, GradNorm [][]float32
}

// maxLayerSteps bounds a run's per-layer history; past it every other
// entry is dropped, so a long run keeps its whole span at half the
// resolution.
const maxLayerSteps = 40000

// layerHist is what a run records per step for LayerStats.
type layerHist struct {
	steps       []int
	logit, grad [][]float32
	buf         []float64
}

// noteLayers records this step's per-layer signals and returns the global
// gradient norm (measured in the same pass, for clipping). It must run
// after Backward and before clipping, on the host model.
func (r *run) noteLayers() float64 {
	h := &r.layers
	L := r.m.Cfg.Layers
	if len(h.logit) != L {
		*h = layerHist{logit: make([][]float32, L), grad: make([][]float32, L)}
	}
	var total float64
	h.buf, total = r.m.GradNorms(h.buf)
	h.steps = append(h.steps, r.step+1)
	for l := 0; l < L; l++ {
		v := 0.0
		if l < len(r.m.LayerMaxLogit) {
			v = r.m.LayerMaxLogit[l]
		}
		h.logit[l] = append(h.logit[l], float32(v))
		h.grad[l] = append(h.grad[l], float32(h.buf[l]))
	}
	if len(h.steps) > maxLayerSteps {
		h.steps = halve(h.steps)
		for l := range h.logit {
			h.logit[l], h.grad[l] = halve(h.logit[l]), halve(h.grad[l])
		}
	}
	return total
}

// halve keeps every other element, ending with the newest.
func halve[T any](xs []T) []T {
	n := 0
	for i := (len(xs) + 1) % 2; i < len(xs); i += 2 {
		xs[n] = xs[i]
		n++
	}
	return xs[:n]
}

// LayerStats returns run id's per-layer history. Runs training on a device
// do not record it (their kernels reduce over all layers at once), nor is
// it saved in sessions: a resumed run's history starts at the resume.
func (l *Lab) LayerStats(id RunID) (LayerStats, error) {
	var out LayerStats
	err := l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		if r.dev != nil {
			return fmt.Errorf("run %s trains on %s; per-layer detail is measured on the CPU only", r.spec.Name, r.spec.Device)
		}
		h := &r.layers
		out = LayerStats{Layers: r.m.Cfg.Layers, Steps: slices.Clone(h.steps)}
		for i := range h.logit {
			out.MaxLogit = append(out.MaxLogit, slices.Clone(h.logit[i]))
			out.GradNorm = append(out.GradNorm, slices.Clone(h.grad[i]))
		}
		return nil
	})
	return out, err
}
