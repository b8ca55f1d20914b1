package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// MixHeads and MixHeadsDW, vector and scalar paths, against float64 sums of
// the same products, for head counts, widths (multiples of 8 and not) and
// row strides with gaps.
func TestMixHeadsMatchesFloat64(t *testing.T) {
	vec, vecDW := mixRowVec, mixDWRowVec
	defer func() { mixRowVec, mixDWRowVec = vec, vecDW }()
	for _, path := range []string{"vector", "scalar"} {
		if path == "scalar" {
			mixRowVec, mixDWRowVec = nil, nil
		} else if vec == nil {
			continue
		}
		for _, tc := range []struct{ n, G, H, d int }{
			{1, 1, 1, 8}, {5, 2, 4, 8}, {37, 4, 8, 32}, {3, 3, 5, 16}, {9, 2, 6, 12}, {4, 8, 2, 64}, {2, 1, 3, 5},
		} {
			rng := rand.New(rand.NewPCG(uint64(tc.n), uint64(tc.d)))
			ldi, ldo := tc.G*tc.d+7, tc.H*tc.d+3
			in := randFloats(rng, tc.n*ldi)
			w := randFloats(rng, tc.G*tc.H)
			out := randFloats(rng, tc.n*ldo) // overwritten, gaps kept
			before := append([]float32(nil), out...)
			MixHeads(out, ldo, in, ldi, w, tc.n, tc.G, tc.H, tc.d)
			for r := 0; r < tc.n; r++ {
				for c := 0; c < ldo; c++ {
					got := out[r*ldo+c]
					if c >= tc.H*tc.d {
						if got != before[r*ldo+c] {
							t.Fatalf("%s %+v: wrote into the gap at row %d col %d", path, tc, r, c)
						}
						continue
					}
					j, f := c/tc.d, c%tc.d
					var want float64
					for i := 0; i < tc.G; i++ {
						want += float64(w[i*tc.H+j]) * float64(in[r*ldi+i*tc.d+f])
					}
					if math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
						t.Fatalf("%s %+v: out[%d][%d] = %v, want %v", path, tc, r, c, got, want)
					}
				}
			}

			ldg := tc.H*tc.d + 5
			g := randFloats(rng, tc.n*ldg)
			dw := randFloats(rng, tc.G*tc.H) // overwritten
			MixHeadsDW(dw, make([]float32, MixScratch(tc.G, tc.H)), in, ldi, g, ldg, tc.n, tc.G, tc.H, tc.d)
			for i := 0; i < tc.G; i++ {
				for j := 0; j < tc.H; j++ {
					var want, mag float64
					for r := 0; r < tc.n; r++ {
						for f := 0; f < tc.d; f++ {
							p := float64(in[r*ldi+i*tc.d+f]) * float64(g[r*ldg+j*tc.d+f])
							want += p
							mag += math.Abs(p)
						}
					}
					if got := float64(dw[i*tc.H+j]); math.Abs(got-want) > 1e-5*(1+mag) {
						t.Fatalf("%s %+v: dw[%d][%d] = %v, want %v", path, tc, i, j, got, want)
					}
				}
			}
		}
	}
}

func randFloats(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// BenchmarkMixHeads: one layer's key mixing at config B's shape with h'=4
// (2048 tokens, 4 component heads into 8, d = 32), and its weight gradient.
func BenchmarkMixHeads(b *testing.B) {
	const n, G, H, d = 2048, 4, 8, 32
	rng := rand.New(rand.NewPCG(1, 2))
	in, w, out := randFloats(rng, n*3*H*d), randFloats(rng, G*H), make([]float32, n*H*d)
	b.Run("forward", func(b *testing.B) {
		for b.Loop() {
			MixHeads(out, H*d, in, 3*H*d, w, n, G, H, d)
		}
	})
	b.Run("dw", func(b *testing.B) {
		dw, scr := make([]float32, G*H), make([]float32, MixScratch(G, H))
		for b.Loop() {
			MixHeadsDW(dw, scr, in, 3*H*d, out, H*d, n, G, H, d)
		}
	})
}
