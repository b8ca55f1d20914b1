package trainer

import (
	"fmt"

	"github.com/mealab/mealab/gpu"
	"github.com/mealab/mealab/model"
)

// Engine runs a run's training step somewhere other than the host model
// (a GPU). The host model stays the source of truth between steps only
// after Download; the engine keeps its own copy of weights, gradients and
// AdamW state.
type Engine interface {
	// Step runs forward, backward, clipping and AdamW on the device.
	Step(x, y []int32, B, T int, lr, clip float64, opt model.AdamWConfig) (loss, gradNorm, maxLogit float64, err error)
	// Eval runs a forward pass and returns the loss; logits, when not nil,
	// receives the B*T x V logits (for recall accuracy).
	Eval(x, y []int32, B, T int, logits []float32) (float64, error)
	// Download copies weights and AdamW state to the host.
	Download(params, m, v []float32) (optSteps int64, err error)
	// DownloadParams copies len(dst) weights starting at slab offset off
	// (one tensor for a view, without the AdamW moments).
	DownloadParams(dst []float32, off int) error
	// AttentionProbs returns the attention probabilities (T x T, row t =
	// query t, zero above the diagonal) of head h of layer l for sequence
	// b of the last forward pass, from the activations the engine keeps.
	AttentionProbs(l, b, h int) ([]float64, int, error)
	// Close frees the device memory.
	Close() error
}

// engines maps a device name to its constructor; the cuda build registers
// "cuda" (engine_cuda.go).
var engines = map[string]func(cfg model.Config, params, m, v []float32, optSteps int64) (Engine, error){}

// newEngine returns nil for the CPU and the device's engine otherwise.
func newEngine(device string, m *model.Model[float32], o *model.AdamW[float32]) (Engine, error) {
	if device == "" || device == "cpu" {
		return nil, nil
	}
	mk, ok := engines[device]
	if !ok {
		if device == "cuda" && !gpu.Built {
			return nil, gpu.ErrNotBuilt
		}
		return nil, fmt.Errorf("device %q is not available in this build; use cpu", device)
	}
	return mk(m.Cfg, m.Params, o.M, o.V, o.Steps)
}
