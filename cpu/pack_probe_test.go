package cpu

import (
	"os"
	"runtime"
	"testing"
)

// TestTransposeProbe prints the thread CPU time of the 4x4 and the 8x8
// transposing packers on the panels Sgemm packs (CPU time, not wall time,
// so that other work on a shared machine counts less). CPU_PERF_PROBE=1.
func TestTransposeProbe(t *testing.T) {
	if os.Getenv("CPU_PERF_PROBE") == "" || transpose4 == nil {
		t.Skip("set CPU_PERF_PROBE=1 to run")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	threadCPU := threadCPUSeconds
	for _, w := range []int{12, 32} {
		const kc, ld = 384, 512
		src := make([]float32, w*ld)
		dst := make([]float32, kc*w)
		for _, f := range []struct {
			name string
			fn   func(dst, src []float32, ld, w, rows, kc int)
		}{{"4x4", transpose4Asm4}, {"8x8+4x4", transpose4Asm}, {"4x4", transpose4Asm4}, {"8x8+4x4", transpose4Asm}} {
			c0 := threadCPU()
			const n = 20000
			for range n {
				f.fn(dst, src, ld, w, w, kc)
			}
			t.Logf("w %d: %-8s %.1f ns per panel (thread CPU time)", w, f.name, (threadCPU()-c0)/n*1e9)
		}
	}
}
