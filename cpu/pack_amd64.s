//go:build amd64 && !purego

#include "textflag.h"

// func transpose4x4AVX(dst, src *float32, ld, w, rows, kc int)
//
// For each group of four source rows, walk the depth in steps of four, transpose
// the 4x4 block in registers and store its four rows (one per depth) w floats
// apart.
TEXT ·transpose4x4AVX(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8            // ld in bytes.
	MOVQ w+24(FP), R9
	SHLQ $2, R9            // w in bytes.
	MOVQ rows+32(FP), R10
	SHRQ $2, R10           // row groups.
	MOVQ kc+40(FP), R11
	SHRQ $2, R11           // depth groups.
	LEAQ (R9)(R9*2), R12   // 3*w bytes.
	LEAQ (R8)(R8*2), R13   // 3*ld bytes.

rowgroup:
	MOVQ SI, AX            // source position of this group.
	MOVQ DI, BX            // destination position of this group.
	MOVQ R11, CX

block:
	VMOVUPS (AX), X0          // a0 a1 a2 a3
	VMOVUPS (AX)(R8*1), X1    // b0 b1 b2 b3
	VMOVUPS (AX)(R8*2), X2    // c0 c1 c2 c3
	VMOVUPS (AX)(R13*1), X3   // d0 d1 d2 d3
	VUNPCKLPS X1, X0, X4      // a0 b0 a1 b1
	VUNPCKHPS X1, X0, X5      // a2 b2 a3 b3
	VUNPCKLPS X3, X2, X6      // c0 d0 c1 d1
	VUNPCKHPS X3, X2, X7      // c2 d2 c3 d3
	VMOVLHPS X6, X4, X0       // a0 b0 c0 d0
	VMOVHLPS X4, X6, X1       // a1 b1 c1 d1
	VMOVLHPS X7, X5, X2       // a2 b2 c2 d2
	VMOVHLPS X5, X7, X3       // a3 b3 c3 d3
	VMOVUPS X0, (BX)
	VMOVUPS X1, (BX)(R9*1)
	VMOVUPS X2, (BX)(R9*2)
	VMOVUPS X3, (BX)(R12*1)
	ADDQ $16, AX
	LEAQ (BX)(R9*4), BX
	DECQ CX
	JNZ block

	LEAQ (SI)(R8*4), SI    // next four source rows.
	ADDQ $16, DI           // next four destination columns.
	DECQ R10
	JNZ rowgroup
	RET

// func copyRows4AVX(dst, src *float32, ld, w, kc int)
TEXT ·copyRows4AVX(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8            // ld in bytes.
	MOVQ w+24(FP), R9
	SHRQ $2, R9            // 16-byte moves per row.
	MOVQ kc+32(FP), R11
	LEAQ (R8)(R8*1), R12
	LEAQ (R12)(R12*2), R12
	SHLQ $3, R12            // 48 rows ahead, in bytes.

row:
	MOVQ SI, AX
	MOVQ R9, CX
	PREFETCHT0 (SI)(R12*1)  // rows are far apart: the prefetchers stop at page ends.
	PREFETCHT0 64(SI)(R12*1)

move:
	VMOVUPS (AX), X0
	VMOVUPS X0, (DI)
	ADDQ $16, AX
	ADDQ $16, DI
	DECQ CX
	JNZ move

	ADDQ R8, SI
	DECQ R11
	JNZ row
	RET
