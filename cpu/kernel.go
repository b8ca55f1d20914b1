package cpu

// microKernel describes one register-blocked micro-kernel and the cache blocking
// that suits it. The packing routines read mr and nr to lay panels out the way the
// kernel consumes them, so a kernel and its blocking always travel together.
type microKernel struct {
	name string
	// mr x nr is the C tile that one call computes.
	mr, nr int
	// mc and kc size the packed A block (mc x kc, kept in L2) and nc the packed B
	// block (kc x nc, kept in L3). mc is a multiple of mr and nc of nr.
	mc, kc, nc int
	// fn computes, for the mr x nr tile at c (row stride ldc),
	//
	//	acc[i][j] = sum over p in 0..k-1, in order, of a[p*mr+i] * b[p*nr+j]
	//	c[i*ldc+j] = alpha*acc[i][j] + beta*c[i*ldc+j]   when load is true
	//	c[i*ldc+j] = alpha*acc[i][j]                     when load is false
	//
	// a and b are packed panels; load is false exactly when beta is zero, so that a
	// NaN already in C does not survive a beta of zero.
	fn func(k int, a, b, c []float32, ldc int, alpha, beta float32, load bool)
}

// genericKernel is the pure-Go micro-kernel. It is compiled on every platform, so
// the tests can check the packing and blocking logic with it on amd64 as well.
var genericKernel = &microKernel{
	name: "generic",
	mr:   4, nr: 4,
	mc: 128, kc: 256, nc: 2048,
	fn: kernelGeneric4x4,
}

// kernelGeneric4x4 is the pure-Go 4x4 micro-kernel. It makes two passes over the
// packed B panel, two rows of the tile each: eight accumulators plus the six values
// they need fit in the fifteen registers amd64 Go code may use, whereas a one-pass
// 4x4 tile spills to the stack on every step.
func kernelGeneric4x4(k int, a, b, c []float32, ldc int, alpha, beta float32, load bool) {
	a = a[:4*k]
	b = b[:4*k]
	for half := 0; half < 4; half += 2 {
		var c00, c01, c02, c03 float32
		var c10, c11, c12, c13 float32
		ap, bp := a[half:], b
		for len(ap) >= 2 && len(bp) >= 4 {
			a0, a1 := ap[0], ap[1]
			b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
			c00 += a0 * b0
			c01 += a0 * b1
			c02 += a0 * b2
			c03 += a0 * b3
			c10 += a1 * b0
			c11 += a1 * b1
			c12 += a1 * b2
			c13 += a1 * b3
			if len(ap) < 4 {
				break
			}
			ap, bp = ap[4:], bp[4:]
		}
		storeRow4(c[half*ldc:], c00, c01, c02, c03, alpha, beta, load)
		storeRow4(c[(half+1)*ldc:], c10, c11, c12, c13, alpha, beta, load)
	}
}

// storeRow4 writes one row of the generic kernel's tile. The explicit float32
// conversions stop the compiler from fusing the multiply and add, so the result
// does not depend on the GOAMD64 level or the architecture.
func storeRow4(c []float32, x0, x1, x2, x3, alpha, beta float32, load bool) {
	c = c[:4]
	if load {
		c[0] = float32(alpha*x0) + float32(beta*c[0])
		c[1] = float32(alpha*x1) + float32(beta*c[1])
		c[2] = float32(alpha*x2) + float32(beta*c[2])
		c[3] = float32(alpha*x3) + float32(beta*c[3])
		return
	}
	c[0] = alpha * x0
	c[1] = alpha * x1
	c[2] = alpha * x2
	c[3] = alpha * x3
}

// kernel is the micro-kernel Sgemm uses. It is set once at start-up from the CPU
// features; the tests swap it to run the same checks on every kernel the CPU can
// execute.
var kernel = bestKernel()

// Features names the micro-kernel in use: "avx512", "avx2+fma" or "generic".
func Features() string { return kernel.name }
