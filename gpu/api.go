package gpu

//go:generate ./gen.sh

// Types shared by the CUDA build and the pure-Go build, so that callers
// compile in both.

// DeviceInfo describes one CUDA device for `mealab doctor`.
type DeviceInfo struct {
	Index    int    // CUDA device ordinal
	Name     string // e.g. "NVIDIA H100 80GB HBM3"
	Major    int    // compute capability, major
	Minor    int    // compute capability, minor
	MemBytes int64  // total device memory
	SMs      int    // streaming multiprocessors
}

// StepStats is what a training step brings back from the device: the mean
// cross-entropy over scored targets, the global gradient norm before
// clipping, and the largest |q.k|/sqrt(d) seen by any attention head (the
// signal that grows before attention diverges).
type StepStats struct {
	Loss     float64
	GradNorm float64
	MaxLogit float64
}

// BuildHelp is how to get a CUDA build of mealab.
const BuildHelp = "rebuild with `go build -tags cuda ./cmd/mealab` (cgo, with cuda.h and libcuda from the NVIDIA driver or CUDA toolkit; see gpu/README.md), then run with --set device=cuda on a machine with an NVIDIA GPU"
