package cpu

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchShapes are the products of the trainer, named like sgemm_peak's shapes
// (M x K times K x N) so that the numbers can be read side by side.
var benchShapes = []struct {
	name           string
	m, k, n        int
	transA, transB bool
}{
	{"square128", 128, 128, 128, false, false},
	{"square512", 512, 512, 512, false, false},
	{"M2048_K128_N384", 2048, 128, 384, false, false},
	{"M2048_K512_N128", 2048, 512, 128, false, false},
	// The three products of a linear layer 128 -> 384 over 2048 tokens.
	{"qkv_fwd_NT_M2048_K128_N384", 2048, 128, 384, false, true},
	{"qkv_dX_NN_M2048_K384_N128", 2048, 384, 128, false, false},
	{"qkv_dW_TN_M384_K2048_N128", 384, 2048, 128, true, false},
	{"M2048_K256_N768", 2048, 256, 768, false, false},
	{"M2048_K1024_N256", 2048, 1024, 256, false, false},
	// A language-model head with 256 classes: forward and its two gradients.
	{"lmhead_fwd_NT_M8192_K256_N256", 8192, 256, 256, false, true},
	{"lmhead_dX_NN_M8192_K256_N256", 8192, 256, 256, false, false},
	{"lmhead_dW_TN_M256_K8192_N256", 256, 8192, 256, true, false},
}

func BenchmarkSgemm(b *testing.B) {
	saved := Threads()
	defer SetThreads(saved)
	rng := rand.New(rand.NewPCG(1, 1))
	for _, s := range benchShapes {
		a := randMat(rng, s.m*s.k)
		bm := randMat(rng, s.k*s.n)
		c := randMat(rng, s.m*s.n)
		lda, ldb := s.k, s.n
		if s.transA {
			lda = s.m
		}
		if s.transB {
			ldb = s.k
		}
		for _, nt := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/threads=%d", s.name, nt), func(b *testing.B) {
				SetThreads(nt)
				// Warm up: the first calls start the workers and size the buffers.
				for i := 0; i < 3; i++ {
					Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkKernels runs one shape on every available kernel, single-threaded.
func BenchmarkKernels(b *testing.B) {
	saved, savedThreads := kernel, Threads()
	defer func() { kernel = saved; SetThreads(savedThreads) }()
	SetThreads(1)
	rng := rand.New(rand.NewPCG(2, 2))
	const m, k, n = 2048, 128, 384
	a, bm, c := randMat(rng, m*k), randMat(rng, k*n), randMat(rng, m*n)
	for _, kern := range availableKernels() {
		b.Run(kern.name, func(b *testing.B) {
			kernel = kern
			for i := 0; i < b.N; i++ {
				Sgemm(false, false, m, n, k, 1, a, k, bm, n, 0, c, n)
			}
			b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
