//go:build amd64 && !purego

#include "textflag.h"

// func mixRowAVX2(out, in, w *float32, G, H, d8, dBytes int)
// For each head j < H and chunk c < d8:
//   out[j*d + 8c : +8] = sum over i < G, in order, of w[i*H+j] * in[i*d + 8c : +8]
// Chunks go four at a time (four independent sums), then one at a time.
TEXT ·mixRowAVX2(SB), NOSPLIT, $0-56
	MOVQ out+0(FP), AX
	MOVQ in+8(FP), SI
	MOVQ w+16(FP), BX
	MOVQ G+24(FP), R9
	MOVQ H+32(FP), DX
	MOVQ d8+40(FP), R11
	MOVQ DX, DI
	SHLQ $2, DI // from w[i*H+j] to w[(i+1)*H+j]

head:
	MOVQ SI, R12 // chunk c of component head 0
	MOVQ R11, CX

quad:
	CMPQ CX, $4
	JLT single
	VXORPS Y0, Y0, Y0
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	MOVQ R12, R13
	MOVQ BX, R8
	MOVQ R9, R10

quadcomp:
	VBROADCASTSS (R8), Y1
	VFMADD231PS (R13), Y1, Y0
	VFMADD231PS 32(R13), Y1, Y2
	VFMADD231PS 64(R13), Y1, Y3
	VFMADD231PS 96(R13), Y1, Y4
	ADDQ dBytes+48(FP), R13
	ADDQ DI, R8
	DECQ R10
	JNZ quadcomp
	VMOVUPS Y0, (AX)
	VMOVUPS Y2, 32(AX)
	VMOVUPS Y3, 64(AX)
	VMOVUPS Y4, 96(AX)
	ADDQ $128, AX
	ADDQ $128, R12
	SUBQ $4, CX
	JMP quad

single:
	TESTQ CX, CX
	JZ nexthead
	VXORPS Y0, Y0, Y0
	MOVQ R12, R13
	MOVQ BX, R8
	MOVQ R9, R10

comp:
	VBROADCASTSS (R8), Y1
	VFMADD231PS (R13), Y1, Y0
	ADDQ dBytes+48(FP), R13
	ADDQ DI, R8
	DECQ R10
	JNZ comp
	VMOVUPS Y0, (AX)
	ADDQ $32, AX
	ADDQ $32, R12
	DECQ CX
	JMP single

nexthead:
	ADDQ $4, BX
	DECQ DX
	JNZ head
	VZEROUPPER
	RET

// func mixDWRowAVX2(acc, in, grad *float32, G, H, d8, dBytes int)
// For each i < G, j < H: acc[(i*H+j)*8 : +8] += the element-wise products
// in[i*d + 8c : +8] * grad[j*d + 8c : +8] summed over c < d8: chunks c with
// c mod 4 = 0, 1, 2, 3 in four sums, added as (s0+s1)+(s2+s3).
TEXT ·mixDWRowAVX2(SB), NOSPLIT, $0-56
	MOVQ acc+0(FP), AX
	MOVQ in+8(FP), SI
	MOVQ grad+16(FP), DI
	MOVQ G+24(FP), R9
	MOVQ H+32(FP), R10
	MOVQ d8+40(FP), R11
	MOVQ dBytes+48(FP), BX

comp:
	MOVQ DI, R12 // grad head 0
	MOVQ R10, DX

head:
	VXORPS Y0, Y0, Y0
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	MOVQ SI, R13
	MOVQ R12, R8
	MOVQ R11, CX

quad:
	CMPQ CX, $4
	JLT rest
	VMOVUPS (R13), Y1
	VFMADD231PS (R8), Y1, Y0
	VMOVUPS 32(R13), Y1
	VFMADD231PS 32(R8), Y1, Y2
	VMOVUPS 64(R13), Y1
	VFMADD231PS 64(R8), Y1, Y3
	VMOVUPS 96(R13), Y1
	VFMADD231PS 96(R8), Y1, Y4
	ADDQ $128, R13
	ADDQ $128, R8
	SUBQ $4, CX
	JMP quad

rest:
	TESTQ CX, CX
	JZ sum
	VMOVUPS (R13), Y1
	VFMADD231PS (R8), Y1, Y0
	ADDQ $32, R13
	ADDQ $32, R8
	DECQ CX
	JMP rest

sum:
	VADDPS Y2, Y0, Y0
	VADDPS Y4, Y3, Y3
	VADDPS Y3, Y0, Y0
	VADDPS (AX), Y0, Y0
	VMOVUPS Y0, (AX)
	ADDQ $32, AX
	ADDQ BX, R12
	DECQ DX
	JNZ head
	ADDQ BX, SI
	DECQ R9
	JNZ comp
	VZEROUPPER
	RET
