//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// transpose4x4AVX packs rows [0, rows) and depths [0, kc) of a transposed panel,
// four rows by four depths at a time: dst[p*w+r] = src[r*ld+p]. rows and kc are
// positive multiples of four; ld and w count elements.
//
//go:noescape
func transpose4x4AVX(dst, src *float32, ld, w, rows, kc int)

// transpose8x8AVX is transpose4x4AVX with 8x8 blocks: rows and kc are
// positive multiples of eight.
//
//go:noescape
func transpose8x8AVX(dst, src *float32, ld, w, rows, kc int)

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
//
// Groups of eight rows go through the 8x8 kernel for the multiple-of-eight
// part of the depth first.
func transpose4Asm(dst, src []float32, ld, w, rows, kc int) {
	r8, k8 := rows&^7, kc&^7
	if r8 > 0 && k8 > 0 && cpu.X86.HasAVX2 {
		_ = src[(r8-1)*ld+k8-1]
		_ = dst[(k8-1)*w+r8-1]
		transpose8x8AVX(&dst[0], &src[0], ld, w, r8, k8)
		// What is left: depths [k8, kc) of rows [0, r8), and rows [r8, rows).
		for r := 0; r < r8; r++ {
			for p := k8; p < kc; p++ {
				dst[p*w+r] = src[r*ld+p]
			}
		}
		if rows > r8 {
			transpose4Asm4(dst[r8:], src[r8*ld:], ld, w, rows-r8, kc)
		}
		return
	}
	transpose4Asm4(dst, src, ld, w, rows, kc)
}

func transpose4Asm4(dst, src []float32, ld, w, rows, kc int) {
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
