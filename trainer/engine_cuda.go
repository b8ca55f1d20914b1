//go:build cuda || cudaemu

package trainer

import (
	"github.com/mealab/mealab/gpu"
	"github.com/mealab/mealab/model"
)

// The CUDA build (and the CPU emulator of the CUDA kernels, tag cudaemu)
// registers the "cuda" device: weights, gradients, AdamW state and
// activations stay on the GPU; only the loss and metrics come back.
func init() {
	engines["cuda"] = func(cfg model.Config, params, m, v []float32, optSteps int64) (Engine, error) {
		g, err := gpu.NewModel(cfg, params)
		if err != nil {
			return nil, err
		}
		if err := g.Upload(params, m, v, optSteps); err != nil {
			_ = g.Close()
			return nil, err
		}
		return &cudaEngine{g: g}, nil
	}
}

type cudaEngine struct{ g *gpu.Model }

func (e *cudaEngine) Step(x, y []int32, B, T int, lr, clip float64, opt model.AdamWConfig) (float64, float64, float64, error) {
	st, err := e.g.Step(x, y, B, T, lr, clip, opt)
	return st.Loss, st.GradNorm, st.MaxLogit, err
}

func (e *cudaEngine) Eval(x, y []int32, B, T int, logits []float32) (float64, error) {
	loss, err := e.g.Forward(x, y, B, T)
	if err != nil || logits == nil {
		return loss, err
	}
	return loss, e.g.Logits(logits)
}

func (e *cudaEngine) Download(params, m, v []float32) (int64, error) {
	return e.g.Download(params, m, v)
}

func (e *cudaEngine) DownloadParams(dst []float32, off int) error {
	return e.g.DownloadParams(dst, off)
}

func (e *cudaEngine) AttentionProbs(l, b, h int) ([]float64, int, error) {
	return e.g.AttentionProbs(l, b, h)
}

func (e *cudaEngine) Close() error { return e.g.Close() }
