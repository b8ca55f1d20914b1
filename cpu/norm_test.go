package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// RMSNormRows and RMSNormBackRows against float64 formulas, for widths
// that are multiples of 8, 16 and neither (vector prefix and scalar tail),
// gain periods of 1 and 3, and add on and off.
func TestRMSNormRowsMatchFloat64(t *testing.T) {
	const eps = 1e-5
	for _, dim := range []int{5, 8, 12, 32, 40, 128} {
		for _, P := range []int{1, 3} {
			rng := rand.New(rand.NewPCG(uint64(dim), uint64(P)))
			R := 6
			x, gain, dout := randFloats(rng, R*dim), randFloats(rng, P*dim), randFloats(rng, R*dim)
			out, rstd := make([]float32, R*dim), make([]float32, R)
			RMSNormRows(out, rstd, x, gain, R, dim, P, eps)
			for _, add := range []bool{false, true} {
				dx := randFloats(rng, R*dim)
				before := append([]float32(nil), dx...)
				RMSNormBackRows(dx, dout, x, gain, rstd, R, dim, P, add)
				for r := 0; r < R; r++ {
					var ss, dot float64
					for i := 0; i < dim; i++ {
						v := float64(x[r*dim+i])
						ss += v * v
					}
					s := 1 / math.Sqrt(ss/float64(dim)+eps)
					if math.Abs(float64(rstd[r])-s) > 1e-6*s {
						t.Fatalf("dim %d P %d: rstd[%d] %v, want %v", dim, P, r, rstd[r], s)
					}
					for i := 0; i < dim; i++ {
						g := float64(gain[(r%P)*dim+i])
						want := float64(x[r*dim+i]) * s * g
						if got := float64(out[r*dim+i]); math.Abs(got-want) > 1e-5*(1+math.Abs(want)) {
							t.Fatalf("dim %d P %d: out[%d][%d] %v, want %v", dim, P, r, i, got, want)
						}
						dot += float64(dout[r*dim+i]) * g * float64(x[r*dim+i])
					}
					c := dot * s * s / float64(dim)
					for i := 0; i < dim; i++ {
						g := float64(gain[(r%P)*dim+i])
						want := s * (float64(dout[r*dim+i])*g - float64(x[r*dim+i])*c)
						if add {
							want += float64(before[r*dim+i])
						}
						if got := float64(dx[r*dim+i]); math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
							t.Fatalf("dim %d P %d add %v: dx[%d][%d] %v, want %v", dim, P, add, r, i, got, want)
						}
					}
				}
			}
		}
	}
}
