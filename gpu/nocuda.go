//go:build !cuda && !cudaemu

package gpu

import (
	"errors"

	"github.com/mealab/mealab/model"
)

// Built reports whether this binary was built with CUDA support.
const Built = false

// ErrNotBuilt explains how to get a CUDA build.
var ErrNotBuilt = errors.New("this mealab was built without CUDA; rebuild with `go build -tags cuda ./cmd/mealab` on a machine with the CUDA driver headers (see README, \"CUDA\"), then run with --set device=cuda")

// Describe says what this build can do with GPUs.
func Describe() string {
	return "not in this build (pure Go); `go build -tags cuda ./cmd/mealab` adds it, see README"
}

// Devices lists CUDA devices; this build has none to list.
func Devices() ([]DeviceInfo, error) { return nil, ErrNotBuilt }

// Model is the device-resident model of the CUDA build. In this build it
// cannot be made: NewModel returns ErrNotBuilt, and so does every method.
type Model struct{}

// NewModel returns ErrNotBuilt in this build.
func NewModel(cfg model.Config, params []float32) (*Model, error) { return nil, ErrNotBuilt }

// Step returns ErrNotBuilt in this build.
func (m *Model) Step(tokens, targets []int32, B, T int, lr, clip float64, opt model.AdamWConfig) (StepStats, error) {
	return StepStats{}, ErrNotBuilt
}

// Forward returns ErrNotBuilt in this build.
func (m *Model) Forward(tokens, targets []int32, B, T int) (float64, error) { return 0, ErrNotBuilt }

// Logits returns ErrNotBuilt in this build.
func (m *Model) Logits(dst []float32) error { return ErrNotBuilt }

// Backward returns ErrNotBuilt in this build.
func (m *Model) Backward() error { return ErrNotBuilt }

// Grads returns ErrNotBuilt in this build.
func (m *Model) Grads(dst []float32) error { return ErrNotBuilt }

// Download returns ErrNotBuilt in this build.
func (m *Model) Download(params, adamM, adamV []float32) (int64, error) { return 0, ErrNotBuilt }

// DownloadParams returns ErrNotBuilt in this build.
func (m *Model) DownloadParams(dst []float32, off int) error { return ErrNotBuilt }

// AttentionProbs returns ErrNotBuilt in this build.
func (m *Model) AttentionProbs(l, b, h int) ([]float64, int, error) { return nil, 0, ErrNotBuilt }

// Upload returns ErrNotBuilt in this build.
func (m *Model) Upload(params, adamM, adamV []float32, optSteps int64) error { return ErrNotBuilt }

// MaxLogit returns 0 in this build.
func (m *Model) MaxLogit() float64 { return 0 }

// Close does nothing in this build.
func (m *Model) Close() error { return nil }
