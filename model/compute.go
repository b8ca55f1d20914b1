package model

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
