package cpu

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"
)

// The machine's own limits, measured rather than looked up: the FMA peak (the
// most single-precision flops per second the cores can issue, the denominator
// of model FLOPs utilisation), the memory bandwidth (the limit of decoding from
// a cache larger than the caches), and this package's SGEMM on a reference
// shape. mealab bench reports its rows against these, measured in the same run.

type fmaProbe struct {
	isa          string
	flopsPerIter float64 // per loop iteration of fn
	fn           func(n int)
}

// PeakISAs lists the instruction sets whose FMA peak this build can measure,
// widest first: "avx512", "avx2". It is empty in pure-Go builds.
func PeakISAs() []string {
	var s []string
	for _, p := range fmaProbes() {
		s = append(s, p.isa)
	}
	return s
}

// fmaIters is the loop count of one probe call: 12 FMAs per iteration, so
// about 10 ms at two FMAs a cycle and 3 GHz.
const fmaIters = 1 << 21

// MeasureFMAPeak returns the best GFLOP/s of reps runs of the isa probe
// ("avx512" or "avx2") on threads goroutines at once, each on its own OS
// thread and running twelve independent FMA chains on registers. Where the
// OS reports per-thread CPU time (Linux), each thread's rate is its flops
// over its own CPU time and the peak is their sum, so a thread that waited
// for a core busy with other work does not lower the figure (two threads
// sharing one core's FMA units, as SMT siblings do, still show half each);
// elsewhere it is the flops over the wall time. The best of several short
// runs is the figure least disturbed by a shared machine; it is what the
// hardware can issue, not what any real kernel gets.
func MeasureFMAPeak(isa string, threads, reps int) (float64, error) {
	var probe *fmaProbe
	for _, p := range fmaProbes() {
		if p.isa == isa {
			probe = &p
		}
	}
	if probe == nil {
		return 0, fmt.Errorf("cpu: no %s FMA probe in this build or on this CPU (have %v)", isa, PeakISAs())
	}
	if threads < 1 || reps < 1 {
		return 0, fmt.Errorf("cpu: MeasureFMAPeak needs threads and reps >= 1")
	}
	probe.fn(fmaIters / 8) // warm the vector unit up (licence change, page in)
	best := 0.0
	cpuSec := make([]float64, threads)
	for range reps {
		sec := onThreads(threads, func(t int) {
			c0 := threadCPUSeconds()
			probe.fn(fmaIters)
			cpuSec[t] = threadCPUSeconds() - c0
		})
		g := float64(threads) * fmaIters * probe.flopsPerIter / sec / 1e9
		sum := 0.0
		for _, c := range cpuSec {
			if c <= 0 {
				sum = 0
				break
			}
			sum += fmaIters * probe.flopsPerIter / c / 1e9
		}
		g = max(g, sum)
		best = max(best, g)
	}
	return best, nil
}

// MeasureBandwidth returns the best read bandwidth in GB/s (1e9 bytes) of
// reps passes over a buffer of bytes bytes split between threads goroutines.
// Make bytes several times the last-level cache for a main-memory figure.
func MeasureBandwidth(bytes int64, threads, reps int) (float64, error) {
	if threads < 1 || reps < 1 || bytes < int64(threads)*4096 {
		return 0, fmt.Errorf("cpu: MeasureBandwidth needs threads, reps >= 1 and at least 4 KiB per thread")
	}
	buf := make([]float32, bytes/4)
	for i := range buf { // fault every page in before timing
		buf[i] = 1
	}
	sums := make([]float32, threads)
	best := 0.0
	for range reps {
		sec := onThreads(threads, func(t int) {
			n := len(buf)
			sums[t] = readSum(buf[t*n/threads : (t+1)*n/threads])
		})
		best = max(best, float64(4*len(buf))/sec/1e9)
	}
	if sums[0] != float32(len(buf)/threads) && len(buf)/threads < 1<<24 {
		// The sum is exact below 2^24 ones; a mismatch means the probe read
		// the wrong memory.
		return 0, fmt.Errorf("cpu: bandwidth probe summed %v, want %d", sums[0], len(buf)/threads)
	}
	return best, nil
}

// MeasureSgemm returns the median GFLOP/s of Sgemm on an m x k times k x n
// product (no transposes) with the current thread count, over calls made for
// at least dur (and at least five).
func MeasureSgemm(m, k, n int, dur time.Duration) float64 {
	a, b, c := make([]float32, m*k), make([]float32, k*n), make([]float32, m*n)
	for i := range a {
		a[i] = float32(i%7) * 0.25
	}
	for i := range b {
		b[i] = float32(i%5) * 0.5
	}
	for range 3 {
		Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
	}
	var ds []time.Duration
	deadline := time.Now().Add(dur)
	for len(ds) < 5 || time.Now().Before(deadline) {
		t0 := time.Now()
		Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return 2 * float64(m) * float64(n) * float64(k) / ds[len(ds)/2].Seconds() / 1e9
}

// onThreads runs fn(0..threads-1) at once, each on a goroutine locked to its
// own OS thread, and returns the seconds from a common start to the last one
// finishing.
func onThreads(threads int, fn func(t int)) float64 {
	if runtime.GOMAXPROCS(0) < threads {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(threads))
	}
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(threads)
	done.Add(threads)
	for t := range threads {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			ready.Done()
			<-start
			fn(t)
			done.Done()
		}()
	}
	ready.Wait()
	t0 := time.Now()
	close(start)
	done.Wait()
	return time.Since(t0).Seconds()
}
