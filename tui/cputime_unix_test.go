//go:build unix

package tui

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time this process has used (all threads, the GC's
// included), for benchmarks on machines shared with other work, where wall
// time measures the queue for a core as much as the frame.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
