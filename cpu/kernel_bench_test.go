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
				// 200 calls per iteration keep the figure meaningful with a
				// small -benchtime such as 20x.
				for i := 0; i < b.N; i++ {
					for r := 0; r < 200; r++ {
						kern.fn(k, a, bp, c, kern.nr, 1, 1, true)
					}
				}
				flops := 200 * 2 * float64(kern.mr*kern.nr*k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}
