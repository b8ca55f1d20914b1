//go:build linux

package cpu

import "golang.org/x/sys/unix"

// threadCPUSeconds is the CPU time of the calling OS thread
// (CLOCK_THREAD_CPUTIME_ID, exact to the scheduler's accounting, not to
// ticks), or 0 if it cannot be read.
func threadCPUSeconds() float64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return 0
	}
	return float64(ts.Nano()) / 1e9
}
