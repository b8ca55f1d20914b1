package cpu

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"
)

// TestPerfProbe prints, per benchmark shape and thread count, the best and median
// GFLOP/s over many single calls. On a machine shared with other jobs the best of
// many short calls is a steadier figure than a benchmark's mean. It runs only with
// CPU_PERF_PROBE=1.
func TestPerfProbe(t *testing.T) {
	if os.Getenv("CPU_PERF_PROBE") == "" {
		t.Skip("set CPU_PERF_PROBE=1 to run")
	}
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
		flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
		for _, nt := range []int{1, 2} {
			SetThreads(nt)
			var ds []time.Duration
			deadline := time.Now().Add(400 * time.Millisecond)
			for len(ds) < 5 || time.Now().Before(deadline) {
				t0 := time.Now()
				Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, s.n)
				ds = append(ds, time.Since(t0))
			}
			slices.Sort(ds)
			t.Logf("%-32s threads=%d best %6.1f  median %6.1f GFLOP/s (%d calls)", s.name, nt,
				flops/ds[0].Seconds()/1e9, flops/ds[len(ds)/2].Seconds()/1e9, len(ds))
		}
	}
}

// TestKernelProbe prints the best GFLOP/s of every kernel, alone on L1-resident
// panels and inside a single-threaded 2048x128x384 Sgemm. It runs only with
// CPU_PERF_PROBE=1.
func TestKernelProbe(t *testing.T) {
	if os.Getenv("CPU_PERF_PROBE") == "" {
		t.Skip("set CPU_PERF_PROBE=1 to run")
	}
	savedK, savedT := kernel, Threads()
	defer func() { kernel = savedK; SetThreads(savedT) }()
	SetThreads(1)
	rng := rand.New(rand.NewPCG(1, 1))
	best := func(f func(), flops float64) float64 {
		var bestD time.Duration = 1 << 62
		deadline := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(deadline) {
			t0 := time.Now()
			f()
			bestD = min(bestD, time.Since(t0))
		}
		return flops / bestD.Seconds() / 1e9
	}
	for _, kern := range availableKernels() {
		if kern == genericKernel {
			continue
		}
		const k = 256
		a := randMat(rng, kern.mr*k)
		bp := randMat(rng, kern.nr*k)
		c := make([]float32, kern.mr*kern.nr)
		micro := best(func() {
			for i := 0; i < 100; i++ {
				kern.fn(k, a, bp, c, kern.nr, 1, 1, true)
			}
		}, 100*2*float64(kern.mr*kern.nr*k))
		kernel = kern
		var line string
		for _, s := range benchShapes {
			if s.m*s.n*s.k > 1<<27 || s.m < 300 {
				continue
			}
			A, B, C := randMat(rng, s.m*s.k), randMat(rng, s.k*s.n), randMat(rng, s.m*s.n)
			lda, ldb := s.k, s.n
			if s.transA {
				lda = s.m
			}
			if s.transB {
				ldb = s.k
			}
			g := best(func() { Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, A, lda, B, ldb, 0, C, s.n) }, 2*float64(s.m*s.n*s.k))
			line += fmt.Sprintf(" %s=%.0f", s.name[:min(len(s.name), 12)], g)
		}
		t.Logf("%-9s micro %6.1f |%s", kern.name, micro, line)
	}
}

// TestSmallProbe compares the direct path with the packed one on small shapes, to
// place directMaxMNK. It runs only with CPU_PERF_PROBE=1.
func TestSmallProbe(t *testing.T) {
	if os.Getenv("CPU_PERF_PROBE") == "" {
		t.Skip("set CPU_PERF_PROBE=1 to run")
	}
	savedT := Threads()
	defer SetThreads(savedT)
	SetThreads(1)
	rng := rand.New(rand.NewPCG(1, 1))
	best := func(f func()) time.Duration {
		var bestD time.Duration = 1 << 62
		deadline := time.Now().Add(50 * time.Millisecond)
		for time.Now().Before(deadline) {
			t0 := time.Now()
			for i := 0; i < 10; i++ {
				f()
			}
			bestD = min(bestD, time.Since(t0)/10)
		}
		return bestD
	}
	for _, s := range [][3]int{{1, 1, 1}, {2, 2, 2}, {4, 4, 4}, {6, 6, 6}, {1, 64, 64}, {64, 1, 64}, {8, 8, 8}, {16, 16, 16}, {24, 24, 24}, {32, 32, 32}, {12, 32, 64}, {48, 48, 48}, {64, 64, 64}, {2, 512, 512}, {4, 512, 512}, {512, 2, 512}, {512, 4, 512}} {
		m, n, k := s[0], s[1], s[2]
		A, B, C := randMat(rng, m*k), randMat(rng, k*n), randMat(rng, m*n)
		for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}} {
			lda, ldb := k, n
			if tr[0] {
				lda = m
			}
			if tr[1] {
				ldb = k
			}
			d := best(func() { sgemmDirect(tr[0], tr[1], m, n, k, 1, A, lda, B, ldb, 0, C, n) })
			p := best(func() { sgemmPacked(kernel, tr[0], tr[1], m, n, k, 1, A, lda, B, ldb, 0, C, n) })
			fl := 2 * float64(m*n*k) / 1e9
			t.Logf("%v tA=%v tB=%v direct %6.2f GFLOP/s (%v)  packed %6.2f GFLOP/s (%v)", s, tr[0], tr[1], fl/d.Seconds(), d, fl/p.Seconds(), p)
		}
	}
}
