//go:build amd64 && !purego

#include "textflag.h"

// func sumSquaresAVX2(x *float32, n int) float32
// Two vector sums (even and odd chunks), then the lanes.
TEXT ·sumSquaresAVX2(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	CMPQ CX, $16
	JLT ss_one

ss_two:
	VMOVUPS (SI), Y2
	VMOVUPS 32(SI), Y3
	VFMADD231PS Y2, Y2, Y0
	VFMADD231PS Y3, Y3, Y1
	ADDQ $64, SI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE ss_two

ss_one:
	TESTQ CX, CX
	JZ ss_sum
	VMOVUPS (SI), Y2
	VFMADD231PS Y2, Y2, Y0

ss_sum:
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+16(FP)
	RET

// func scaleMulAVX2(o, x, gain *float32, n int, s float32)
// o = (x*s)*g
TEXT ·scaleMulAVX2(SB), NOSPLIT, $0-36
	MOVQ o+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ gain+16(FP), DX
	MOVQ n+24(FP), CX
	VBROADCASTSS s+32(FP), Y0

sm_loop:
	VMULPS (SI), Y0, Y1
	VMULPS (DX), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ sm_loop
	VZEROUPPER
	RET

// func dot3AVX2(a, b, c *float32, n int) float32
// sum of (a*b)*c: two vector sums, then the lanes.
TEXT ·dot3AVX2(SB), NOSPLIT, $0-36
	MOVQ a+0(FP), SI
	MOVQ b+8(FP), DX
	MOVQ c+16(FP), DI
	MOVQ n+24(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	CMPQ CX, $16
	JLT d3_one

d3_two:
	VMOVUPS (SI), Y2
	VMOVUPS 32(SI), Y3
	VMULPS (DX), Y2, Y2
	VMULPS 32(DX), Y3, Y3
	VFMADD231PS (DI), Y2, Y0
	VFMADD231PS 32(DI), Y3, Y1
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, DI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE d3_two

d3_one:
	TESTQ CX, CX
	JZ d3_sum
	VMOVUPS (SI), Y2
	VMULPS (DX), Y2, Y2
	VFMADD231PS (DI), Y2, Y0

d3_sum:
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VHADDPS X0, X0, X0
	VHADDPS X0, X0, X0
	VZEROUPPER
	MOVSS X0, ret+32(FP)
	RET

// func rmsBackAVX2(o, dr, gain, x *float32, n int, s, c float32, add int)
// v = s*((dr*g) - (x*c)); o = v, or o += v when add is not 0.
TEXT ·rmsBackAVX2(SB), NOSPLIT, $0-56
	MOVQ o+0(FP), DI
	MOVQ dr+8(FP), SI
	MOVQ gain+16(FP), DX
	MOVQ x+24(FP), BX
	MOVQ n+32(FP), CX
	VBROADCASTSS s+40(FP), Y0
	VBROADCASTSS c+44(FP), Y1
	MOVQ add+48(FP), AX
	TESTQ AX, AX
	JNZ rb_add

rb_set:
	VMOVUPS (SI), Y2
	VMULPS (DX), Y2, Y2
	VMULPS (BX), Y1, Y3
	VSUBPS Y3, Y2, Y2
	VMULPS Y0, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, BX
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ rb_set
	VZEROUPPER
	RET

rb_add:
	VMOVUPS (SI), Y2
	VMULPS (DX), Y2, Y2
	VMULPS (BX), Y1, Y3
	VSUBPS Y3, Y2, Y2
	VMULPS Y0, Y2, Y2
	VADDPS (DI), Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, BX
	ADDQ $32, DI
	SUBQ $8, CX
	JNZ rb_add
	VZEROUPPER
	RET
