package model

import "math"

// Float is the element type of a model: float32 for training, float64 for
// gradient checks.
type Float interface{ ~float32 | ~float64 }

// Compute is what the model needs from a CPU or GPU backend. The cpu package
// implements it with assembly kernels and a worker pool; Naive is the
// reference every implementation must equal.
type Compute interface {
	// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices:
	// op(A) is m x k (stored k x m when transA), op(B) is k x n (stored
	// n x k when transB), C is m x n. beta == 0 overwrites C.
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	// ParallelFor runs fn over [0, n) in contiguous chunks and waits. The
	// chunks must depend only on n and the backend's thread count, so that
	// results are reproducible.
	ParallelFor(n int, fn func(lo, hi int))
}

// Naive is the reference backend: the textbook triple loop, one thread.
type Naive struct{}

// Sgemm is GemmRef for float32.
func (Naive) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	GemmRef(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// ParallelFor runs fn(0, n) on the calling goroutine.
func (Naive) ParallelFor(n int, fn func(lo, hi int)) {
	if n > 0 {
		fn(0, n)
	}
}

// GemmRef is the reference matrix product, kept forever: for every (i, j),
// C[i,j] = alpha * sum_p op(A)[i,p]*op(B)[p,j] + beta*C[i,j], the sum taken
// in increasing p. beta == 0 overwrites C without reading it.
func GemmRef[T Float](transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s T
			for p := 0; p < k; p++ {
				var av, bv T
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

// gemmFunc is the model's matrix product for its element type.
type gemmFunc[T Float] func(transA, transB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int)

// pickGemm returns the backend's Sgemm for float32 models and the reference
// product for float64 ones. The conversion happens once, so the hot path has
// no interface boxing.
func pickGemm[T Float](c Compute) gemmFunc[T] {
	var zero T
	switch any(zero).(type) {
	case float32:
		return any(gemmFunc[float32](c.Sgemm)).(gemmFunc[T])
	default:
		return GemmRef[T]
	}
}

// VecMath is what a backend may add to Compute: float32 element kernels for
// the exps of a training step. The model uses them when the backend has them
// (the cpu package does, in assembly) and its reference loops otherwise, and
// always for float64 models.
type VecMath interface {
	// ExpShiftSum sets x[i] = exp(x[i] - shift) and returns their sum.
	ExpShiftSum(x []float32, shift float32) float32
	// SwiGLU sets sig = 1/(1+exp(-a)) and h = a*sig*b, element-wise.
	SwiGLU(h, sig, a, b []float32)
	// SwiGLUBack is SwiGLU's backward pass for one row, from sig = sigma(a):
	// da = dh b sig (1 + a (1 - sig)), db = dh a sig.
	SwiGLUBack(da, db, dh, a, b, sig []float32)
	// MinMax returns the smallest and largest elements of x (not empty).
	MinMax(x []float32) (lo, hi float32)
}

// vecOps are the model's element kernels for its element type.
type vecOps[T Float] struct {
	expShiftSum func(x []T, shift T) T
	swiglu      func(h, sig, a, b []T)
	swigluBack  func(da, db, dh, a, b, sig []T)
	minMax      func(x []T) (lo, hi T)
}

// pickVec returns the backend's VecMath for float32 models that have one,
// and the reference loops otherwise.
func pickVec[T Float](c Compute) vecOps[T] {
	var zero T
	if vm, ok := c.(VecMath); ok {
		if _, f32 := any(zero).(float32); f32 {
			return any(vecOps[float32]{expShiftSum: vm.ExpShiftSum, swiglu: vm.SwiGLU, swigluBack: vm.SwiGLUBack, minMax: vm.MinMax}).(vecOps[T])
		}
	}
	return vecOps[T]{expShiftSum: expShiftSumRef[T], swiglu: swigluRow[T], swigluBack: swigluBackRow[T], minMax: minMax[T]}
}

// hasVecMath tells whether pickVec gives the backend's kernels.
func hasVecMath[T Float](c Compute) bool {
	var zero T
	_, vm := c.(VecMath)
	_, f32 := any(zero).(float32)
	return vm && f32
}

// expShiftSumRef is the reference ExpShiftSum: float64 exps, a float64 sum.
func expShiftSumRef[T Float](x []T, shift T) T {
	var s float64
	for i, v := range x {
		e := math.Exp(float64(v) - float64(shift))
		x[i] = T(e)
		s += e
	}
	return T(s)
}

// swigluBackRow is swigluBackward on one row.
func swigluBackRow[T Float](da, db, dh, a, b, sig []T) {
	for i := range da {
		s, x := sig[i], a[i]
		da[i] = dh[i] * b[i] * s * (1 + x*(1-s))
		db[i] = dh[i] * x * s
	}
}

// swigluRow is swigluForward on one row of a and b.
func swigluRow[T Float](h, sig, a, b []T) {
	for i := range h {
		x := float64(a[i])
		sg := 1 / (1 + math.Exp(-x))
		h[i] = T(x*sg) * b[i]
		sig[i] = T(sg)
	}
}
