package cpu

import (
	"fmt"
	"testing"
)

// BenchmarkMicroKernel times each kernel alone on panels that stay in L1, the
// ceiling that blocking and packing can approach.
func BenchmarkMicroKernel(b *testing.B) {
	for _, kern := range availableKernels() {
		for _, k := range []int{128, 256} {
			b.Run(fmt.Sprintf("%s/k=%d", kern.name, k), func(b *testing.B) {
				a := make([]float32, kern.mr*k)
				bp := make([]float32, kern.nr*k)
				c := make([]float32, kern.mr*kern.nr)
				for i := 0; i < b.N; i++ {
					kern.fn(k, a, bp, c, kern.nr, 1, 1, true)
				}
				flops := 2 * float64(kern.mr*kern.nr*k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
