package cpu

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestStaleWakeDoesNotEndNextRegion pauses a worker between finishing one
// region and waking its caller, long enough for the caller of the next region
// to go to sleep; the late wake-up must not end that next region early.
func TestStaleWakeDoesNotEndNextRegion(t *testing.T) {
	if Threads() < 2 {
		SetThreads(2)
		defer SetThreads(1)
	}
	var pauseOnce atomic.Bool
	pauseOnce.Store(true)
	afterLastDecrement = func() {
		if pauseOnce.CompareAndSwap(true, false) {
			time.Sleep(4 * callerSpin)
		}
	}
	defer func() { afterLastDecrement = nil }()
	ParallelFor(2, func(lo, hi int) {}) // region 1: its worker pauses after finishing
	var done atomic.Bool
	ParallelFor(2, func(lo, hi int) { // region 2: the worker's chunk is slow
		if lo == 1 {
			time.Sleep(10 * callerSpin)
			done.Store(true)
		}
	})
	if !done.Load() {
		t.Fatal("ParallelFor returned before its worker chunk finished (woken by the previous region's worker)")
	}
}
