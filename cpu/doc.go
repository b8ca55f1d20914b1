// Package cpu holds the CPU compute primitives of the trainer: a single-precision
// matrix multiply (Sgemm) tuned for the skinny shapes of a small transformer, a
// persistent worker pool (ParallelFor, SetThreads) shared by the GEMM and the
// model's own loops, and two vector helpers (Sdot, Saxpy).
//
// Sgemm follows the usual packed design: blocks of op(A) and op(B) are copied into
// contiguous, zero-padded panels sized for the caches, and a register-blocked
// micro-kernel multiplies one panel pair into a small tile of C. The micro-kernels
// are written in Go assembly for AVX-512 (12x32 tile) and AVX2+FMA (6x16), chosen
// at start-up with golang.org/x/sys/cpu; Features names the one in use. A pure-Go
// kernel is always compiled so that the tests run it next to the assembly ones on
// amd64, and it is the only kernel on other architectures or with -tags purego,
// which leaves all assembly out. SgemmRef, a plain triple loop, is the definition
// the tests hold Sgemm to.
//
// Results are bit-identical for any thread count: threads split C by rows and
// columns only, every element of C sums its K products in one fixed order, and the
// choice between the small-product path and the packed path depends on the shape
// alone.
//
// The assembly micro-kernels are generated: after changing gen_kernel.go, run
//
//	go run gen_kernel.go > kernel_amd64.s
package cpu
