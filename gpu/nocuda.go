//go:build !cuda

package gpu

import "errors"

// Built reports whether this binary was built with CUDA support.
const Built = false

// ErrNotBuilt explains how to get a CUDA build.
var ErrNotBuilt = errors.New("this mealab was built without CUDA; rebuild with `go build -tags cuda ./cmd/mealab` on a machine with the CUDA driver headers (see README, \"CUDA\"), then run with --set device=cuda")

// Describe says what this build can do with GPUs.
func Describe() string {
	return "not in this build (pure Go); `go build -tags cuda ./cmd/mealab` adds it, see README"
}
