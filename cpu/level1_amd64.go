//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// sdotAVX2 returns the dot product of n floats, n a positive multiple of 32, with
// four vector partial sums.
//
//go:noescape
func sdotAVX2(x, y *float32, n int) float32

// saxpyAVX2 computes y[i] += alpha*x[i] for n floats, n a positive multiple of 32.
//
//go:noescape
func saxpyAVX2(x, y *float32, n int, alpha float32)

// addMulScaledAVX2 computes acc[i] += (a[i]*b[i])*s for n floats, n a
// positive multiple of 8, without fusing.
//
//go:noescape
func addMulScaledAVX2(acc, a, b *float32, n int, s float32)

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sdotVec = func(x, y []float32) float32 {
			_ = y[len(x)-1]
			return sdotAVX2(&x[0], &y[0], len(x))
		}
		saxpyVec = func(alpha float32, x, y []float32) {
			_ = y[len(x)-1]
			saxpyAVX2(&x[0], &y[0], len(x), alpha)
		}
		addMulScaledVec = addMulScaledAVX2
	}
}
