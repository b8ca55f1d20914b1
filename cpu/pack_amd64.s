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

// func transpose8x8AVX(dst, src *float32, ld, w, rows, kc int)
//
// As transpose4x4AVX with 8x8 blocks in ymm registers (rows and kc positive
// multiples of eight): eight loads, three rounds of shuffles (unpack, shufps,
// perm2f128) and eight stores move 64 floats.
TEXT ·transpose8x8AVX(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	SHLQ $2, R8            // ld in bytes.
	MOVQ w+24(FP), R9
	SHLQ $2, R9            // w in bytes.
	MOVQ rows+32(FP), R10
	SHRQ $3, R10           // row groups.
	MOVQ kc+40(FP), R11
	SHRQ $3, R11           // depth groups.
	LEAQ (R9)(R9*2), R12   // 3*w bytes.
	LEAQ (R8)(R8*2), R13   // 3*ld bytes.

rowgroup8:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R11, CX

block8:
	LEAQ (AX)(R8*4), DX       // rows 4..7
	VMOVUPS (AX), Y0
	VMOVUPS (AX)(R8*1), Y1
	VMOVUPS (AX)(R8*2), Y2
	VMOVUPS (AX)(R13*1), Y3
	VMOVUPS (DX), Y4
	VMOVUPS (DX)(R8*1), Y5
	VMOVUPS (DX)(R8*2), Y6
	VMOVUPS (DX)(R13*1), Y7
	VUNPCKLPS Y1, Y0, Y8      // a0 b0 a1 b1 | a4 b4 a5 b5
	VUNPCKHPS Y1, Y0, Y9      // a2 b2 a3 b3 | a6 b6 a7 b7
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y15
	VSHUFPS $0x44, Y10, Y8, Y0   // a0 b0 c0 d0 | a4 b4 c4 d4
	VSHUFPS $0xEE, Y10, Y8, Y1   // a1 b1 c1 d1 | a5 ...
	VSHUFPS $0x44, Y11, Y9, Y2   // a2 .. | a6
	VSHUFPS $0xEE, Y11, Y9, Y3   // a3 .. | a7
	VSHUFPS $0x44, Y14, Y12, Y4  // e0 f0 g0 h0 | e4 ...
	VSHUFPS $0xEE, Y14, Y12, Y5
	VSHUFPS $0x44, Y15, Y13, Y6
	VSHUFPS $0xEE, Y15, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8  // depth 0
	VPERM2F128 $0x20, Y5, Y1, Y9  // depth 1
	VPERM2F128 $0x20, Y6, Y2, Y10 // depth 2
	VPERM2F128 $0x20, Y7, Y3, Y11 // depth 3
	VPERM2F128 $0x31, Y4, Y0, Y12 // depth 4
	VPERM2F128 $0x31, Y5, Y1, Y13 // depth 5
	VPERM2F128 $0x31, Y6, Y2, Y14 // depth 6
	VPERM2F128 $0x31, Y7, Y3, Y15 // depth 7
	VMOVUPS Y8, (BX)
	VMOVUPS Y9, (BX)(R9*1)
	VMOVUPS Y10, (BX)(R9*2)
	VMOVUPS Y11, (BX)(R12*1)
	LEAQ (BX)(R9*4), DX
	VMOVUPS Y12, (DX)
	VMOVUPS Y13, (DX)(R9*1)
	VMOVUPS Y14, (DX)(R9*2)
	VMOVUPS Y15, (DX)(R12*1)
	ADDQ $32, AX
	LEAQ (DX)(R9*4), BX
	DECQ CX
	JNZ block8

	LEAQ (SI)(R8*8), SI    // next eight source rows.
	ADDQ $32, DI           // next eight destination columns.
	DECQ R10
	JNZ rowgroup8
	VZEROUPPER
	RET
