//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// transpose4x4AVX packs rows [0, rows) and depths [0, kc) of a transposed panel,
// four rows by four depths at a time: dst[p*w+r] = src[r*ld+p]. rows and kc are
// positive multiples of four; ld and w count elements.
//
//go:noescape
func transpose4x4AVX(dst, src *float32, ld, w, rows, kc int)

// copyRows4AVX packs kc rows of w floats, w a positive multiple of four:
// dst[p*w+r] = src[p*ld+r].
//
//go:noescape
func copyRows4AVX(dst, src *float32, ld, w, kc int)

func init() {
	if cpu.X86.HasAVX {
		transpose4 = transpose4Asm
		copy4 = copy4Asm
	}
}

func copy4Asm(dst, src []float32, ld, w, kc int) {
	_ = src[(kc-1)*ld+w-1]
	_ = dst[kc*w-1]
	copyRows4AVX(&dst[0], &src[0], ld, w, kc)
}

// transpose4Asm hands the whole multiple-of-four part of the panel to the assembly
// and finishes the last kc%4 depths of those rows in Go.
func transpose4Asm(dst, src []float32, ld, w, rows, kc int) {
	k4 := kc &^ 3
	if k4 > 0 {
		_ = src[(rows-1)*ld+k4-1]
		_ = dst[(k4-1)*w+rows-1]
		transpose4x4AVX(&dst[0], &src[0], ld, w, rows, k4)
	}
	for r := 0; r < rows; r++ {
		for p := k4; p < kc; p++ {
			dst[p*w+r] = src[r*ld+p]
		}
	}
}
