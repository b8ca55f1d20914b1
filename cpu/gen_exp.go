//go:build ignore

// gen_exp writes exp_amd64.s: a float32 exp by polynomial for AVX-512 and
// AVX2, inside the two loops that use it (the shifted exponential of a
// softmax row, with its sum, and SwiGLU). Both widths come from one template.
//
// Usage: go run gen_exp.go > exp_amd64.s
package main

import (
	"fmt"
	"math"
	"os"
	"strings"
)

var out strings.Builder

func emit(format string, args ...any) {
	fmt.Fprintf(&out, format, args...)
	out.WriteByte('\n')
}

// The constants, each stored as a full 64-byte vector so that both widths can
// take them as memory operands. exp(x) = 2^n * exp(r), n = round(x log2 e),
// r = x - n ln 2 (ln 2 in two parts, Cody-Waite), exp(r) by Cephes' expf
// polynomial: 1 + r + r^2 (c0 + c1 r + ... + c5 r^5).
var consts = []struct {
	name string
	v    float32
}{
	{"hi", 88.3762626647949},
	{"lo", -87.3365478515625}, // ln(2^-126): 2^n stays a normal number
	{"log2e", 1.44269504088896341},
	{"ln2hi", 0.693359375},
	{"ln2lo", -2.12194440e-4},
	{"c5", 1.9875691500e-4},
	{"c4", 1.3981999507e-3},
	{"c3", 8.3334519073e-3},
	{"c2", 4.1665795894e-2},
	{"c1", 1.6666665459e-1},
	{"c0", 5.0000001201e-1},
	{"one", 1},
	{"neg", -1},
}

func off(name string) int {
	for i, c := range consts {
		if c.name == name {
			return 64 * i
		}
	}
	panic(name)
}

func c(name string) string { return fmt.Sprintf("expc<>+%d(SB)", off(name)) }

type width struct {
	suffix string
	reg    string
	lanes  int
}

func (w width) r(n int) string { return fmt.Sprintf("%s%d", w.reg, n) }

// exp replaces register x with exp(x), using t1, t2 and p as scratch; the
// result ends in p.
func (w width) exp(x, t1, t2, p int) {
	X, T1, T2, P := w.r(x), w.r(t1), w.r(t2), w.r(p)
	emit("\tVMINPS %s, %s, %s", c("hi"), X, X)
	emit("\tVMAXPS %s, %s, %s", c("lo"), X, X)
	emit("\tVMULPS %s, %s, %s", c("log2e"), X, T1)
	emit("\tVCVTPS2DQ %s, %s", T1, T2)
	emit("\tVCVTDQ2PS %s, %s", T2, T1)
	emit("\tVFNMADD231PS %s, %s, %s", c("ln2hi"), T1, X)
	emit("\tVFNMADD231PS %s, %s, %s", c("ln2lo"), T1, X)
	emit("\tVMOVUPS %s, %s", c("c5"), P)
	for _, k := range []string{"c4", "c3", "c2", "c1", "c0"} {
		emit("\tVFMADD213PS %s, %s, %s", c(k), X, P)
	}
	emit("\tVMULPS %s, %s, %s", X, X, T1)
	emit("\tVFMADD213PS %s, %s, %s", X, T1, P)
	emit("\tVADDPS %s, %s, %s", c("one"), P, P)
	emit("\tVPSLLD $23, %s, %s", T2, T2)
	emit("\tVPADDD %s, %s, %s", T2, P, P)
}

func (w width) gen() {
	vb := w.lanes * 4
	name := "expShiftSum" + w.suffix
	emit("// func %s(x *float32, n int, shift float32) float32", name)
	emit("// x[i] = exp(x[i] - shift) for n floats (a positive multiple of %d); returns their sum.", w.lanes)
	emit("TEXT ·%s(SB), NOSPLIT, $0-28", name)
	emit("\tMOVQ x+0(FP), SI")
	emit("\tMOVQ n+8(FP), CX")
	emit("\tMOVQ CX, DX")
	emit("\tANDQ $%d, DX", w.lanes-1)
	emit("\tSHRQ $%d, CX", log2(w.lanes))
	emit("\tVBROADCASTSS shift+16(FP), %s", w.r(8))
	emit("\tVXORPS %s, %s, %s", w.r(9), w.r(9), w.r(9))
	emit("\tTESTQ CX, CX")
	emit("\tJZ %s_tail", name)
	emit("%s_loop:", name)
	emit("\tVMOVUPS (SI), %s", w.r(0))
	emit("\tVSUBPS %s, %s, %s", w.r(8), w.r(0), w.r(0))
	w.exp(0, 1, 2, 3)
	emit("\tVMOVUPS %s, (SI)", w.r(3))
	emit("\tVADDPS %s, %s, %s", w.r(3), w.r(9), w.r(9))
	emit("\tADDQ $%d, SI", vb)
	emit("\tDECQ CX")
	emit("\tJNZ %s_loop", name)
	emit("%s_tail:", name)
	if w.reg == "Z" {
		// The last n%16 floats under a mask: lanes past the end are neither
		// read nor written nor summed.
		emit("\tTESTQ DX, DX")
		emit("\tJZ %s_sum", name)
		emit("\tMOVQ DX, CX")
		emit("\tMOVL $1, AX")
		emit("\tSHLL CX, AX")
		emit("\tDECL AX")
		emit("\tKMOVW AX, K1")
		emit("\tVMOVUPS.Z (SI), K1, Z0")
		emit("\tVSUBPS Z8, Z0, Z0")
		w.exp(0, 1, 2, 3)
		emit("\tVMOVUPS Z3, K1, (SI)")
		emit("\tVADDPS Z3, Z9, K1, Z9")
	}
	emit("%s_sum:", name)
	if w.reg == "Z" {
		emit("\tVEXTRACTF32X8 $1, Z9, Y1")
		emit("\tVADDPS Y1, Y9, Y9")
	}
	emit("\tVEXTRACTF128 $1, Y9, X1")
	emit("\tVADDPS X1, X9, X9")
	emit("\tVHADDPS X9, X9, X9")
	emit("\tVHADDPS X9, X9, X9")
	emit("\tVZEROUPPER")
	emit("\tMOVSS X9, ret+24(FP)")
	emit("\tRET")
	emit("")

	name = "swiglu" + w.suffix
	emit("// func %s(h, sig, a, b *float32, n int)", name)
	emit("// sig[i] = 1/(1+exp(-a[i])), h[i] = a[i]*sig[i]*b[i] for n floats (a positive multiple of %d).", w.lanes)
	emit("TEXT ·%s(SB), NOSPLIT, $0-40", name)
	emit("\tMOVQ h+0(FP), DI")
	emit("\tMOVQ sig+8(FP), R8")
	emit("\tMOVQ a+16(FP), SI")
	emit("\tMOVQ b+24(FP), DX")
	emit("\tMOVQ n+32(FP), CX")
	emit("\tSHRQ $%d, CX", log2(w.lanes))
	emit("%s_loop:", name)
	emit("\tVMOVUPS (SI), %s", w.r(5))
	emit("\tVMULPS %s, %s, %s", c("neg"), w.r(5), w.r(0))
	w.exp(0, 1, 2, 3)
	emit("\tVADDPS %s, %s, %s", c("one"), w.r(3), w.r(3))
	emit("\tVMOVUPS %s, %s", c("one"), w.r(4))
	emit("\tVDIVPS %s, %s, %s", w.r(3), w.r(4), w.r(4))
	emit("\tVMOVUPS %s, (R8)", w.r(4))
	emit("\tVMULPS %s, %s, %s", w.r(4), w.r(5), w.r(5))
	emit("\tVMULPS (DX), %s, %s", w.r(5), w.r(5))
	emit("\tVMOVUPS %s, (DI)", w.r(5))
	for _, reg := range []string{"SI", "DX", "DI", "R8"} {
		emit("\tADDQ $%d, %s", vb, reg)
	}
	emit("\tDECQ CX")
	emit("\tJNZ %s_loop", name)
	emit("\tVZEROUPPER")
	emit("\tRET")
	emit("")
}

// genMinMax writes minMaxAVX512: the smallest and largest of n >= 1 floats,
// the tail under a mask over a register holding x[0].
func genMinMax() {
	emit("// func minMaxAVX512(x *float32, n int) (lo, hi float32)")
	emit("TEXT ·minMaxAVX512(SB), NOSPLIT, $0-24")
	emit("\tMOVQ x+0(FP), SI")
	emit("\tMOVQ n+8(FP), CX")
	emit("\tMOVQ CX, DX")
	emit("\tANDQ $15, DX")
	emit("\tSHRQ $4, CX")
	emit("\tVBROADCASTSS (SI), Z0")
	emit("\tVMOVAPS Z0, Z1")
	emit("\tTESTQ CX, CX")
	emit("\tJZ mm_tail")
	emit("mm_loop:")
	emit("\tVMOVUPS (SI), Z2")
	emit("\tVMINPS Z2, Z0, Z0")
	emit("\tVMAXPS Z2, Z1, Z1")
	emit("\tADDQ $64, SI")
	emit("\tDECQ CX")
	emit("\tJNZ mm_loop")
	emit("mm_tail:")
	emit("\tTESTQ DX, DX")
	emit("\tJZ mm_reduce")
	emit("\tMOVQ DX, CX")
	emit("\tMOVL $1, AX")
	emit("\tSHLL CX, AX")
	emit("\tDECL AX")
	emit("\tKMOVW AX, K1")
	emit("\tVMOVAPS Z0, Z2")
	emit("\tVMOVUPS (SI), K1, Z2")
	emit("\tVMINPS Z2, Z0, Z0")
	emit("\tVMAXPS Z2, Z1, Z1")
	emit("mm_reduce:")
	for _, op := range []struct{ ins, r string }{{"VMINPS", "0"}, {"VMAXPS", "1"}} {
		r := op.r
		emit("\tVEXTRACTF32X8 $1, Z%s, Y2", r)
		emit("\t%s Y2, Y%s, Y%s", op.ins, r, r)
		emit("\tVEXTRACTF128 $1, Y%s, X2", r)
		emit("\t%s X2, X%s, X%s", op.ins, r, r)
		emit("\tVPERMILPS $0x4e, X%s, X2", r)
		emit("\t%s X2, X%s, X%s", op.ins, r, r)
		emit("\tVPERMILPS $0xb1, X%s, X2", r)
		emit("\t%s X2, X%s, X%s", op.ins, r, r)
	}
	emit("\tVZEROUPPER")
	emit("\tMOVSS X0, lo+16(FP)")
	emit("\tMOVSS X1, hi+20(FP)")
	emit("\tRET")
	emit("")
}

// genSwigluBack writes swigluBack<W>: the backward pass of SwiGLU given
// sigma(a) from the forward pass, n a positive multiple of the lanes:
// da = g b s (1 + a (1 - s)), db = g a s.
func (w width) genSwigluBack() {
	vb := w.lanes * 4
	name := "swigluBack" + w.suffix
	emit("// func %s(da, db, dh, a, b, sig *float32, n int)", name)
	emit("TEXT ·%s(SB), NOSPLIT, $0-56", name)
	emit("\tMOVQ da+0(FP), DI")
	emit("\tMOVQ db+8(FP), R8")
	emit("\tMOVQ dh+16(FP), R9")
	emit("\tMOVQ a+24(FP), SI")
	emit("\tMOVQ b+32(FP), DX")
	emit("\tMOVQ sig+40(FP), R10")
	emit("\tMOVQ n+48(FP), CX")
	emit("\tSHRQ $%d, CX", log2(w.lanes))
	emit("\tVMOVUPS %s, %s", c("one"), w.r(7))
	emit("%s_loop:", name)
	emit("\tVMOVUPS (R9), %s", w.r(0))                  // g
	emit("\tVMOVUPS (SI), %s", w.r(1))                  // a
	emit("\tVMOVUPS (R10), %s", w.r(2))                 // s
	emit("\tVMULPS %s, %s, %s", w.r(2), w.r(0), w.r(3)) // gs = g s
	emit("\tVMULPS %s, %s, %s", w.r(1), w.r(3), w.r(4)) // db = gs a
	emit("\tVMOVUPS %s, (R8)", w.r(4))
	emit("\tVSUBPS %s, %s, %s", w.r(2), w.r(7), w.r(5))      // 1 - s
	emit("\tVFMADD213PS %s, %s, %s", w.r(7), w.r(1), w.r(5)) // a (1-s) + 1
	emit("\tVMULPS (DX), %s, %s", w.r(3), w.r(3))            // gs b
	emit("\tVMULPS %s, %s, %s", w.r(5), w.r(3), w.r(3))
	emit("\tVMOVUPS %s, (DI)", w.r(3))
	for _, reg := range []string{"DI", "R8", "R9", "SI", "DX", "R10"} {
		emit("\tADDQ $%d, %s", vb, reg)
	}
	emit("\tDECQ CX")
	emit("\tJNZ %s_loop", name)
	emit("\tVZEROUPPER")
	emit("\tRET")
	emit("")
}

func log2(n int) int {
	l := 0
	for 1<<l < n {
		l++
	}
	return l
}

func main() {
	emit("// Code generated by gen_exp.go; DO NOT EDIT.")
	emit("")
	emit("//go:build amd64 && !purego")
	emit("")
	emit("#include \"textflag.h\"")
	emit("")
	for i, k := range consts {
		for l := 0; l < 16; l++ {
			emit("DATA expc<>+%d(SB)/4, $0x%08x // %s", 64*i+4*l, math.Float32bits(k.v), k.name)
		}
	}
	emit("GLOBL expc<>(SB), RODATA|NOPTR, $%d", 64*len(consts))
	emit("")
	width{"AVX512", "Z", 16}.gen()
	width{"AVX512", "Z", 16}.genSwigluBack()
	genMinMax()
	width{"AVX2", "Y", 8}.gen()
	width{"AVX2", "Y", 8}.genSwigluBack()
	os.Stdout.WriteString(out.String())
}
