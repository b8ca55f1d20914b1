//go:build cuda

package gpu

import _ "embed"

// ptxSource is kernels.ptx: every kernel in kernels/*.cu compiled by gen.sh
// to PTX for compute_70, which the driver JIT-compiles at load time for the
// GPU at hand (Volta through Hopper and later). Users need only the driver.
//
//go:embed kernels.ptx
var ptxSource string

// ptxSM80Source is kernels_sm80.ptx: the tensor-core GEMMs, compiled for
// compute_80 and loaded only on GPUs of compute capability 8.0 or newer.
//
//go:embed kernels_sm80.ptx
var ptxSM80Source string
