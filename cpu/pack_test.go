package cpu

import (
	"math/rand/v2"
	"testing"
)

// TestPack checks both packing routines, with and without their assembly helpers,
// against the layout definition, for full and partial panels and every depth
// remainder.
func TestPack(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	savedT, savedC := transpose4, copy4
	defer func() { transpose4, copy4 = savedT, savedC }()
	for _, asm := range []bool{false, true} {
		if asm {
			transpose4, copy4 = savedT, savedC
		} else {
			transpose4, copy4 = nil, nil
		}
		for _, w := range []int{4, 6, 12, 16, 32} {
			for _, valid := range []int{1, 3, 4, w - 1, w} {
				if valid < 1 || valid > w {
					continue
				}
				for _, kc := range []int{1, 3, 4, 5, 8, 12, 17, 24, 64, 71} {
					ld := max(kc, w) + rng.IntN(5)
					src := randMat(rng, (max(kc, w)+1)*ld)
					dst := make([]float32, kc*w)
					for i := range dst {
						dst[i] = guardNaN
					}
					packTranspose(dst, src, ld, w, valid, kc)
					for p := 0; p < kc; p++ {
						for r := 0; r < w; r++ {
							want := float32(0)
							if r < valid {
								want = src[r*ld+p]
							}
							if dst[p*w+r] != want {
								t.Fatalf("asm=%v transpose w=%d valid=%d kc=%d: dst[%d,%d] = %v, want %v", asm, w, valid, kc, p, r, dst[p*w+r], want)
							}
						}
					}
					for i := range dst {
						dst[i] = guardNaN
					}
					packCopy(dst, src, ld, w, valid, kc)
					for p := 0; p < kc; p++ {
						for r := 0; r < w; r++ {
							want := float32(0)
							if r < valid {
								want = src[p*ld+r]
							}
							if dst[p*w+r] != want {
								t.Fatalf("asm=%v copy w=%d valid=%d kc=%d: dst[%d,%d] = %v, want %v", asm, w, valid, kc, p, r, dst[p*w+r], want)
							}
						}
					}
				}
			}
		}
	}
}
