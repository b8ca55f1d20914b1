//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// The assembly kernels follow the contract documented on microKernel.fn, with raw
// pointers: a and b point at packed panels of k*mr and k*nr floats, c at the top
// left element of an mr x nr tile with row stride ldc (in elements).

//go:noescape
func sgemmKernel12x32AVX512(k int, a, b, c *float32, ldc int, alpha, beta float32, load bool)

//go:noescape
func sgemmKernel6x16AVX2(k int, a, b, c *float32, ldc int, alpha, beta float32, load bool)

// The wrappers check that the slices are long enough for what the assembly touches,
// so a bug in the blocking code panics instead of corrupting memory.

func kernel12x32AVX512(k int, a, b, c []float32, ldc int, alpha, beta float32, load bool) {
	_ = a[12*k-1]
	_ = b[32*k-1]
	_ = c[11*ldc+31]
	sgemmKernel12x32AVX512(k, &a[0], &b[0], &c[0], ldc, alpha, beta, load)
}

func kernel6x16AVX2(k int, a, b, c []float32, ldc int, alpha, beta float32, load bool) {
	_ = a[6*k-1]
	_ = b[16*k-1]
	_ = c[5*ldc+15]
	sgemmKernel6x16AVX2(k, &a[0], &b[0], &c[0], ldc, alpha, beta, load)
}

// avx512Kernel keeps a 12x32 tile in 24 of the 32 zmm registers: each k step loads
// two vectors of B and broadcasts twelve values of A, which keeps the load ports
// well below the two FMAs per cycle the kernel issues. On an AMD EPYC (Zen 5) it
// runs at about 235 GFLOP/s on L1-resident panels, as fast as the 14x32 and 6x64
// shapes that were also tried, and loses the least to packing and edges.
//
// A kc of 384 makes the B micro-panel (384 x 32 floats, 48 KiB) as large as L1, yet
// it measured a few percent faster than 256 for K = 384 and K = 1024: fewer k
// blocks mean fewer passes over C.
var avx512Kernel = &microKernel{
	name: "avx512",
	mr:   12, nr: 32,
	mc: 192, kc: 384, nc: 4096,
	fn: kernel12x32AVX512,
}

// avx2Kernel keeps a 6x16 tile in 12 of the 16 ymm registers, the classic shape for
// two FMA ports with a four-cycle latency.
var avx2Kernel = &microKernel{
	name: "avx2+fma",
	mr:   6, nr: 16,
	mc: 144, kc: 256, nc: 4096,
	fn: kernel6x16AVX2,
}

func hasAVX512() bool { return cpu.X86.HasAVX512F }
func hasAVX2() bool   { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }

// bestKernel picks the widest kernel the CPU and OS support.
func bestKernel() *microKernel {
	switch {
	case hasAVX512():
		return avx512Kernel
	case hasAVX2():
		return avx2Kernel
	}
	return genericKernel
}

// availableKernels lists every kernel this CPU can run, for the tests.
func availableKernels() []*microKernel {
	ks := []*microKernel{genericKernel}
	if hasAVX2() {
		ks = append(ks, avx2Kernel)
	}
	if hasAVX512() {
		ks = append(ks, avx512Kernel)
	}
	return ks
}
