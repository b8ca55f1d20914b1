package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// expKernelSets lists the exp kernels to test: the widest, AVX2 where the
// CPU has AVX-512 too, and the scalar polynomial.
func expKernelSets(t *testing.T, f func(t *testing.T)) {
	defer useExpKernels(hasAVX512Exp(), hasAVX2Exp())
	for _, s := range []struct {
		name         string
		avx512, avx2 bool
	}{{"avx512", true, true}, {"avx2", false, true}, {"scalar", false, false}} {
		if (s.avx512 && !hasAVX512Exp()) || (s.avx2 && !hasAVX2Exp()) {
			continue
		}
		useExpKernels(s.avx512, s.avx2)
		t.Run(s.name, f)
	}
}

// TestExpAccuracy holds the polynomial exp to 4 float32 ulps of math.Exp over
// the whole range a softmax (x - max <= 0, down to underflow) and SiLU
// (exp(-a) for any activation) use, and checks the clamped ends.
func TestExpAccuracy(t *testing.T) {
	expKernelSets(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		const n = 1<<16 + 13 // a tail for every width
		x := make([]float32, n)
		for i := range x {
			switch i % 3 {
			case 0:
				x[i] = float32(rng.Float64()*175 - 87) // the whole normal range
			case 1:
				x[i] = float32(-rng.Float64() * 30) // softmax rows
			default:
				x[i] = float32(rng.NormFloat64() * 4) // activations
			}
		}
		y := append([]float32(nil), x...)
		ExpShiftSum(y, 1.5)
		worst := 0.0
		for i, v := range x {
			ref := math.Exp(float64(v - 1.5))
			ulp := float64(math.Nextafter32(float32(ref), float32(math.Inf(1))) - float32(ref))
			if ref < 0x1p-126 {
				// Below the normal range the input is clamped: the result is
				// 2^-126 (absolute error below 1.2e-38), not a denormal.
				if y[i] > 0x1.01p-126 {
					t.Fatalf("exp(%v) = %v, want at most 2^-126", v-1.5, y[i])
				}
				continue
			}
			if e := math.Abs(float64(y[i])-ref) / ulp; e > worst {
				worst = e
			}
			if worst > 4 {
				t.Fatalf("exp(%v) = %v, want %v (%.1f ulp)", v-1.5, y[i], ref, worst)
			}
		}
		for _, n := range []int{1, 15, 17, 100, 4099} {
			row := make([]float32, n)
			var want float64
			for i := range row {
				row[i] = float32(-rng.Float64() * 20)
				want += math.Exp(float64(row[i]) + 2)
			}
			if got := ExpShiftSum(row, -2); math.Abs(float64(got)-want)/want > 1e-6 {
				t.Errorf("n %d: sum %v, want %v", n, got, want)
			}
		}
		t.Logf("worst error %.2f ulp", worst)
		ends := []float32{-200, -88, 0, 89, 200}
		ExpShiftSum(ends, 0)
		if ends[0] > 1e-37 || ends[1] > 1e-37 || ends[2] != 1 || ends[3] < 2e38 || ends[4] < 2e38 || math.IsInf(float64(ends[4]), 0) {
			t.Errorf("clamped ends: %v", ends)
		}
	})
}

// TestSwiGLUMatchesReference checks h and sigma against float64 math.
func TestSwiGLUMatchesReference(t *testing.T) {
	expKernelSets(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, n := range []int{1, 7, 16, 33, 688, 1000} {
			a, b := make([]float32, n), make([]float32, n)
			for i := range a {
				a[i], b[i] = float32(rng.NormFloat64()*5), float32(rng.NormFloat64())
			}
			a[0] = -100 // deep in the tail
			h, sig := make([]float32, n), make([]float32, n)
			SwiGLU(h, sig, a, b)
			for i := range a {
				s := 1 / (1 + math.Exp(-float64(a[i])))
				if math.Abs(float64(sig[i])-s) > 4e-7*s+1e-30 {
					t.Fatalf("n %d: sigma(%v) = %v, want %v", n, a[i], sig[i], s)
				}
				hw := float64(a[i]) * s * float64(b[i])
				if math.Abs(float64(h[i])-hw) > 1e-6*math.Abs(hw)+1e-30 {
					t.Fatalf("n %d: h %v, want %v", n, h[i], hw)
				}
			}
		}
	})
}

// TestSwiGLUBackMatchesReference checks the vector backward pass against the
// formula in float64.
func TestSwiGLUBackMatchesReference(t *testing.T) {
	expKernelSets(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, n := range []int{1, 9, 16, 40, 688} {
			g, a, b, sig := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range a {
				g[i], a[i], b[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64()*3), float32(rng.NormFloat64())
				sig[i] = float32(1 / (1 + math.Exp(-float64(a[i]))))
			}
			da, db := make([]float32, n), make([]float32, n)
			SwiGLUBack(da, db, g, a, b, sig)
			for i := range a {
				s, x := float64(sig[i]), float64(a[i])
				wa := float64(g[i]) * float64(b[i]) * s * (1 + x*(1-s))
				wb := float64(g[i]) * x * s
				if math.Abs(float64(da[i])-wa) > 1e-6*(1+math.Abs(wa)) || math.Abs(float64(db[i])-wb) > 1e-6*(1+math.Abs(wb)) {
					t.Fatalf("n %d [%d]: da %v db %v, want %v %v", n, i, da[i], db[i], wa, wb)
				}
			}
		}
	})
}

func TestMinMax(t *testing.T) {
	expKernelSets(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		for n := 1; n < 70; n++ {
			x := make([]float32, n+16)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			x[n] = 100 // past the end: must not be read
			x[n+1] = -100
			lo, hi := x[0], x[0]
			for _, v := range x[:n] {
				lo, hi = min(lo, v), max(hi, v)
			}
			if l, h := MinMax(x[:n]); l != lo || h != hi {
				t.Fatalf("n %d: MinMax %v %v, want %v %v", n, l, h, lo, hi)
			}
		}
	})
}

// TestExpTailsInPlace checks that every length writes exactly its own
// elements (the masked tail neither reads nor writes past the end).
func TestExpTailsInPlace(t *testing.T) {
	expKernelSets(t, func(t *testing.T) {
		for n := 1; n < 40; n++ {
			x := make([]float32, n+16)
			for i := range x {
				x[i] = -float32(i) * 0.1
			}
			sum := ExpShiftSum(x[:n], 0)
			var want float64
			for i := range x {
				if i < n {
					w := math.Exp(-float64(i) * 0.1)
					want += w
					if math.Abs(float64(x[i])-w) > 1e-6 {
						t.Fatalf("n %d: x[%d] = %v, want %v", n, i, x[i], w)
					}
				} else if x[i] != -float32(i)*0.1 {
					t.Fatalf("n %d: x[%d] past the end was written", n, i)
				}
			}
			if math.Abs(float64(sum)-want) > 1e-5*want {
				t.Fatalf("n %d: sum %v, want %v", n, sum, want)
			}
		}
	})
}

func TestMaxF32(t *testing.T) {
	for n := 1; n < 40; n++ {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(-i)
		}
		x[n/2] = 3
		if MaxF32(x) != 3 {
			t.Fatalf("n %d: max %v", n, MaxF32(x))
		}
	}
}

func BenchmarkExpShiftSum(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(-i) * 0.01
	}
	for range b.N {
		ExpShiftSum(x, 0)
	}
	b.ReportMetric(float64(len(x)*b.N)/b.Elapsed().Seconds()/1e9, "Gexp/s")
}
