package main

import (
	"fmt"
	"runtime"

	"github.com/mealab/mealab/cpu"
	"github.com/mealab/mealab/model"
)

// cpuCompute adapts the cpu package's kernels to model.Compute.
type cpuCompute struct{}

func (cpuCompute) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	cpu.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (cpuCompute) ParallelFor(n int, fn func(lo, hi int)) { cpu.ParallelFor(n, fn) }

// setupCompute sets the thread count (0: all cores) and returns the backend.
func setupCompute(threads int) model.Compute {
	if threads > 0 {
		cpu.SetThreads(threads)
	}
	return cpuCompute{}
}

func computeLabel() string {
	return fmt.Sprintf("cpu (%s kernel, %d threads of %d cores)", cpu.Features(), cpu.Threads(), runtime.NumCPU())
}
