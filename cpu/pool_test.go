package cpu

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestParallelForCoverage(t *testing.T) {
	saved := Threads()
	defer SetThreads(saved)
	for _, nt := range []int{1, 2, 3, 5} {
		SetThreads(nt)
		if Threads() != nt {
			t.Fatalf("Threads() = %d after SetThreads(%d)", Threads(), nt)
		}
		for _, n := range []int{0, 1, 2, 3, 7, 100, 1001} {
			hits := make([]int32, n)
			var calls atomic.Int32
			ParallelFor(n, func(lo, hi int) {
				calls.Add(1)
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&hits[i], 1)
				}
			})
			for i, h := range hits {
				if h != 1 {
					t.Fatalf("threads=%d n=%d: index %d visited %d times", nt, n, i, h)
				}
			}
			if want := min(nt, n); int(calls.Load()) != want {
				t.Fatalf("threads=%d n=%d: %d chunks, want %d", nt, n, calls.Load(), want)
			}
		}
	}
	SetThreads(0)
	if Threads() != 1 {
		t.Fatalf("SetThreads(0) gave %d threads", Threads())
	}
}

// TestParallelForChunks checks that the chunk boundaries are the documented ones,
// both when the pool runs them and when a busy pool makes them run inline.
func TestParallelForChunks(t *testing.T) {
	saved := Threads()
	defer SetThreads(saved)
	SetThreads(3)
	want := map[[2]int]bool{{0, 3}: true, {3, 6}: true, {6, 10}: true}
	check := func(name string) {
		var mu sync.Mutex
		got := map[[2]int]bool{}
		ParallelFor(10, func(lo, hi int) {
			mu.Lock()
			got[[2]int{lo, hi}] = true
			mu.Unlock()
		})
		if len(got) != len(want) {
			t.Fatalf("%s: chunks %v, want %v", name, got, want)
		}
		for c := range want {
			if !got[c] {
				t.Fatalf("%s: chunks %v, want %v", name, got, want)
			}
		}
	}
	check("pool")
	// Nested: the inner call finds the pool busy and runs inline.
	ParallelFor(1, func(lo, hi int) { check("inline") })
	ParallelFor(3, func(lo, hi int) { check("nested") })
}

// TestParallelForConcurrent calls ParallelFor from many goroutines at once, with
// nesting, and checks that every index is visited exactly once.
func TestParallelForConcurrent(t *testing.T) {
	saved := Threads()
	defer SetThreads(saved)
	SetThreads(2)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 200; rep++ {
				var sum atomic.Int64
				ParallelFor(50, func(lo, hi int) {
					for i := lo; i < hi; i++ {
						ParallelFor(4, func(lo2, hi2 int) {
							for j := lo2; j < hi2; j++ {
								sum.Add(int64(i*4 + j))
							}
						})
					}
				})
				if s := sum.Load(); s != 199*200/2 {
					t.Errorf("goroutine %d: sum %d, want %d", g, s, 199*200/2)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestParallelForAllocs(t *testing.T) {
	saved := Threads()
	defer SetThreads(saved)
	var sink [100]int64
	fn := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			sink[i] += int64(i)
		}
	}
	for _, nt := range []int{1, 2, 3} {
		SetThreads(nt)
		ParallelFor(100, fn)
		if a := testing.AllocsPerRun(100, func() { ParallelFor(100, fn) }); a != 0 {
			t.Errorf("threads=%d: %v allocations per ParallelFor", nt, a)
		}
	}
}

// TestParallelForPanic checks that a panic in the caller's chunk reaches the
// caller and leaves the pool usable.
func TestParallelForPanic(t *testing.T) {
	saved := Threads()
	defer SetThreads(saved)
	SetThreads(2)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic did not propagate")
			}
		}()
		ParallelFor(2, func(lo, hi int) {
			if lo == 0 {
				panic("boom")
			}
		})
	}()
	var ran atomic.Int32
	ParallelFor(2, func(lo, hi int) { ran.Add(1) })
	if ran.Load() != 2 {
		t.Fatalf("%d chunks ran after the panic", ran.Load())
	}
	// The pool must have been released: a region from another goroutine gets it.
	if nt := pool.acquire(2); nt != 2 {
		t.Fatalf("pool still held after a panic")
	} else {
		pool.release()
	}
}
