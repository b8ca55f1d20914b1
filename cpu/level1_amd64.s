//go:build amd64 && !purego

#include "textflag.h"

// func sdotAVX2(x, y *float32, n int) float32
TEXT ·sdotAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $5, CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

loop:
	VMOVUPS (SI), Y4
	VMOVUPS 32(SI), Y5
	VMOVUPS 64(SI), Y6
	VMOVUPS 96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ loop

	// Fold the four partial sums, then the eight lanes.
	VADDPS Y1, Y0, Y0
	VADDPS Y3, Y2, Y2
	VADDPS Y2, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+24(FP)
	RET

// func saxpyAVX2(x, y *float32, n int, alpha float32)
TEXT ·saxpyAVX2(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $5, CX
	VBROADCASTSS alpha+24(FP), Y0

loop:
	VMOVUPS (DI), Y1
	VMOVUPS 32(DI), Y2
	VMOVUPS 64(DI), Y3
	VMOVUPS 96(DI), Y4
	VFMADD231PS (SI), Y0, Y1
	VFMADD231PS 32(SI), Y0, Y2
	VFMADD231PS 64(SI), Y0, Y3
	VFMADD231PS 96(SI), Y0, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ loop
	VZEROUPPER
	RET

// func addMulScaledAVX2(acc, a, b *float32, n int, s float32)
TEXT ·addMulScaledAVX2(SB), NOSPLIT, $0-36
	MOVQ acc+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS s+32(FP), Y0
	CMPQ CX, $32
	JLT one

four:
	VMOVUPS (SI), Y1
	VMOVUPS 32(SI), Y2
	VMOVUPS 64(SI), Y3
	VMOVUPS 96(SI), Y4
	VMULPS (DX), Y1, Y1
	VMULPS 32(DX), Y2, Y2
	VMULPS 64(DX), Y3, Y3
	VMULPS 96(DX), Y4, Y4
	VMULPS Y0, Y1, Y1
	VMULPS Y0, Y2, Y2
	VMULPS Y0, Y3, Y3
	VMULPS Y0, Y4, Y4
	VADDPS (DI), Y1, Y1
	VADDPS 32(DI), Y2, Y2
	VADDPS 64(DI), Y3, Y3
	VADDPS 96(DI), Y4, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ $128, SI
	ADDQ $128, DX
	ADDQ $128, DI
	SUBQ $32, CX
	CMPQ CX, $32
	JGE four

one:
	TESTQ CX, CX
	JZ done
	VMOVUPS (SI), Y1
	VMULPS (DX), Y1, Y1
	VMULPS Y0, Y1, Y1
	VADDPS (DI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JMP one

done:
	VZEROUPPER
	RET

// func adamWAVX2(p, grad, m, v *float32, n int, b1, c1, b2, c2, shrink, step, invSqrtBC2, eps float32)
// c1 = 1-b1, c2 = 1-b2. Each operation rounds (no fusing), as the scalar
// loop in AdamWUpdate.
TEXT ·adamWAVX2(SB), NOSPLIT, $0-72
	MOVQ p+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), DX
	MOVQ v+24(FP), BX
	MOVQ n+32(FP), CX
	VBROADCASTSS b1+40(FP), Y8
	VBROADCASTSS c1+44(FP), Y9
	VBROADCASTSS b2+48(FP), Y10
	VBROADCASTSS c2+52(FP), Y11
	VBROADCASTSS shrink+56(FP), Y12
	VBROADCASTSS step+60(FP), Y13
	VBROADCASTSS invSqrtBC2+64(FP), Y14
	VBROADCASTSS eps+68(FP), Y15

adam_loop:
	VMOVUPS (SI), Y0          // g
	VMULPS (DX), Y8, Y1       // b1*m
	VMULPS Y0, Y9, Y2         // (1-b1)*g
	VADDPS Y2, Y1, Y1         // m
	VMOVUPS Y1, (DX)
	VMULPS (BX), Y10, Y3      // b2*v
	VMULPS Y0, Y11, Y4        // (1-b2)*g
	VMULPS Y0, Y4, Y4         // ((1-b2)*g)*g
	VADDPS Y4, Y3, Y3         // v
	VMOVUPS Y3, (BX)
	VSQRTPS Y3, Y3
	VMULPS Y14, Y3, Y3
	VADDPS Y15, Y3, Y3        // denominator
	VMULPS Y1, Y13, Y1        // step*m
	VDIVPS Y3, Y1, Y1
	VMULPS (DI), Y12, Y5      // p*shrink
	VSUBPS Y1, Y5, Y5
	VMOVUPS Y5, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, BX
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ adam_loop
	VZEROUPPER
	RET
