package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestSdotSaxpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	savedDot, savedAxpy := sdotVec, saxpyVec
	defer func() { sdotVec, saxpyVec = savedDot, savedAxpy }()
	for _, vec := range []bool{true, false} {
		if vec {
			sdotVec, saxpyVec = savedDot, savedAxpy
		} else {
			sdotVec, saxpyVec = nil, nil
		}
		for _, n := range []int{0, 1, 7, 31, 32, 33, 64, 100, 1000} {
			x, y := randMat(rng, n), randMat(rng, n+3)
			// y is longer than x and its tail must stay untouched.
			for i := n; i < len(y); i++ {
				y[i] = guardNaN
			}
			var want, mag float64
			for i := range x {
				want += float64(x[i]) * float64(y[i])
				mag += math.Abs(float64(x[i]) * float64(y[i]))
			}
			got := Sdot(x, y)
			// Same bound as for Sgemm: n products summed in float32.
			if tol := 2 * float64(n+2) / (1 << 24) * mag; math.Abs(float64(got)-want) > tol+1e-30 {
				t.Errorf("vec=%v n=%d: Sdot = %v, want %v", vec, n, got, want)
			}
			y0 := append([]float32(nil), y...)
			Saxpy(-1.5, x, y)
			for i := range y {
				if i >= n {
					if math.Float32bits(y[i]) != guardBits {
						t.Fatalf("vec=%v n=%d: Saxpy wrote y[%d]", vec, n, i)
					}
					continue
				}
				w := float64(y0[i]) - 1.5*float64(x[i])
				if math.Abs(float64(y[i])-w) > 4*(math.Abs(w)+1.5)/(1<<24) {
					t.Fatalf("vec=%v n=%d: y[%d] = %v, want %v", vec, n, i, y[i], w)
				}
			}
		}
	}
	if a := testing.AllocsPerRun(10, func() {
		x := make([]float32, 0)
		_ = Sdot(x, x)
	}); a != 0 {
		t.Errorf("Sdot allocates %v", a)
	}
}

func BenchmarkSdot(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := randMat(rng, 4096), randMat(rng, 4096)
	b.SetBytes(2 * 4 * 4096)
	for i := 0; i < b.N; i++ {
		_ = Sdot(x, y)
	}
}

func BenchmarkSaxpy(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, y := randMat(rng, 4096), randMat(rng, 4096)
	b.SetBytes(3 * 4 * 4096)
	for i := 0; i < b.N; i++ {
		Saxpy(1e-3, x, y)
	}
}

// AddMulScaled gives every element the same bits whichever path computed
// it: the vector prefix and the scalar tail, at every offset and length.
func TestAddMulScaledPathIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 77
	a, b, acc0 := make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range a {
		a[i], b[i], acc0[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()), float32(rng.NormFloat64())
	}
	const s = float32(0.37)
	want := append([]float32(nil), acc0...)
	for i := range want {
		p := float32(a[i] * b[i])
		want[i] += float32(p * s)
	}
	for lo := 0; lo < 9; lo++ {
		for hi := lo; hi <= n; hi += 5 {
			acc := append([]float32(nil), acc0...)
			AddMulScaled(acc[lo:hi], a[lo:hi], b[lo:hi], s)
			for i := lo; i < hi; i++ {
				if acc[i] != want[i] {
					t.Fatalf("[%d:%d] element %d: %v, want %v", lo, hi, i, acc[i], want[i])
				}
			}
		}
	}
}
