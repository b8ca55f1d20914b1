package cpu

// SgemmRef is the reference for Sgemm, with the same signature and meaning: a plain
// triple loop that accumulates each element of op(A)*op(B) in float64, in k order,
// and rounds once to float32 when it forms alpha*sum + beta*C (beta == 0 ignores C).
//
// The float64 accumulation makes it accurate to about one float32 rounding for any
// k, so the tests can bound Sgemm's error by Sgemm's own float32 accumulation
// alone. It is slow and kept on purpose: it is the definition the fast code is
// checked against.
func SgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
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
				s += float64(av) * float64(bv)
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(v)
		}
	}
}
