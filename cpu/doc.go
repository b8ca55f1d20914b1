// Package cpu holds the CPU compute primitives of the trainer: a single-precision
// matrix multiply (Sgemm) tuned for the skinny shapes of a small transformer, and a
// persistent worker pool (ParallelFor) shared by the GEMM and the model's own loops.
//
// Sgemm follows the usual packed design: panels of op(A) and op(B) are copied into
// contiguous, zero-padded buffers sized for the caches, and a register-blocked
// micro-kernel multiplies one panel pair into a small tile of C. The micro-kernels
// are written in Go assembly for AVX-512 and AVX2+FMA, with a pure-Go kernel that
// is always compiled so that the tests can run it next to the assembly ones. Build
// with -tags purego to leave the assembly out entirely.
//
// Results are bit-identical for any thread count: threads split C by rows and
// columns only, every element of C sums its K products in one fixed order, and the
// choice between the small-matrix path and the packed path depends on the shape
// alone.
package cpu
