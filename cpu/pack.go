package cpu

// Packing copies a block of op(A) or op(B) into the panel layout the micro-kernel
// reads: panels of w rows (mr for A, nr for B), each stored k-major as
//
//	dst[p*w + r] = element r of the panel at depth p
//
// so that one k step of the kernel reads w consecutive floats. A panel that runs
// past the edge of the matrix is padded with zeros, which lets the kernel always
// compute a full tile; the padding rows and columns are never copied back into C.
//
// Both operands reduce to the same two cases. When the w elements of one k step are
// contiguous in memory (op(A) = A^T, or op(B) = B) a panel is a strided copy of
// short rows; otherwise (op(A) = A, or op(B) = B^T) it is a transpose of w strided
// rows of length kc.

// packCopy packs one panel from src, where the w elements of depth p start at
// src[p*ld]; only the first valid of them exist, the rest are written as zeros.
func packCopy(dst []float32, src []float32, ld, w, valid, kc int) {
	dst = dst[:kc*w]
	if valid == w {
		if copy4 != nil && w%4 == 0 {
			copy4(dst, src, ld, w, kc)
			return
		}
		for p := 0; p < kc; p++ {
			copy(dst[p*w:p*w+w], src[p*ld:p*ld+w])
		}
		return
	}
	for p := 0; p < kc; p++ {
		d := dst[p*w : p*w+w]
		n := copy(d, src[p*ld:p*ld+valid])
		clear(d[n:])
	}
}

// packTranspose packs one panel from src, where element r of depth p is
// src[r*ld+p]; only rows r < valid exist, the rest are written as zeros.
func packTranspose(dst []float32, src []float32, ld, w, valid, kc int) {
	dst = dst[:kc*w]
	r := 0
	if transpose4 != nil {
		// The assembly handles four rows at a time; the scalar loop below does
		// what is left of valid.
		r = valid &^ 3
		if r > 0 {
			transpose4(dst, src, ld, w, r, kc)
		}
	}
	for ; r+4 <= valid; r += 4 {
		s0 := src[(r+0)*ld : (r+0)*ld+kc]
		s1 := src[(r+1)*ld : (r+1)*ld+kc]
		s2 := src[(r+2)*ld : (r+2)*ld+kc]
		s3 := src[(r+3)*ld : (r+3)*ld+kc]
		for p := range s0 {
			d := dst[p*w+r : p*w+r+4 : p*w+r+4]
			d[0] = s0[p]
			d[1] = s1[p]
			d[2] = s2[p]
			d[3] = s3[p]
		}
	}
	for ; r < valid; r++ {
		s := src[r*ld : r*ld+kc]
		for p, v := range s {
			dst[p*w+r] = v
		}
	}
	if valid < w {
		for p := 0; p < kc; p++ {
			clear(dst[p*w+valid : p*w+w])
		}
	}
}

// transpose4, when not nil, is an assembly routine that packs rows [0, rows) of a
// transposed panel, rows being a positive multiple of four. It is set by the amd64
// build.
var transpose4 func(dst, src []float32, ld, w, rows, kc int)

// copy4, when not nil, is an assembly routine that packs a full copy panel whose
// width w is a multiple of four: dst[p*w+r] = src[p*ld+r]. copy() would call
// memmove for every 48 or 128 bytes, which costs more than the move. It is set by
// the amd64 build.
var copy4 func(dst, src []float32, ld, w, kc int)
