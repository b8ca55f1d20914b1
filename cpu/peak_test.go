package cpu

import (
	"testing"
	"time"
)

// TestFMAPeakIsSane checks the probe's figure against what any CPU this code
// runs on can physically do: at least a tenth of a GFLOP/s per thread, and at
// most 64 lanes x 2 flops x 4 FMA ports x 6 GHz per thread. It times nothing
// against a threshold that a busy machine could miss.
func TestFMAPeakIsSane(t *testing.T) {
	isas := PeakISAs()
	if len(isas) == 0 {
		t.Skip("no FMA probe in this build")
	}
	for _, isa := range isas {
		for _, th := range []int{1, 2} {
			g, err := MeasureFMAPeak(isa, th, 2)
			if err != nil {
				t.Fatal(err)
			}
			if g < 0.1*float64(th) || g > 3072*float64(th) {
				t.Errorf("%s, %d threads: %.1f GFLOP/s is outside any physical range", isa, th, g)
			}
			t.Logf("%s, %d threads: %.1f GFLOP/s", isa, th, g)
		}
	}
	if _, err := MeasureFMAPeak("sse9", 1, 1); err == nil {
		t.Error("an unknown ISA must be an error")
	}
}

// The 512-bit probe's width against the 256-bit one is a timing comparison,
// which a busy machine can flip (a CI neighbour slowed avx512 to 23 GFLOP/s
// against avx2's 110 in one run): it is a benchmark, not a test.
func BenchmarkFMAPeak(b *testing.B) {
	for _, isa := range PeakISAs() {
		b.Run(isa, func(b *testing.B) {
			var g float64
			for range b.N {
				g, _ = MeasureFMAPeak(isa, 1, 1)
			}
			b.ReportMetric(g, "GFLOP/s")
		})
	}
}

func TestBandwidthProbe(t *testing.T) {
	g, err := MeasureBandwidth(32<<20, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if g < 0.1 || g > 10000 {
		t.Errorf("%.1f GB/s is outside any physical range", g)
	}
	if _, err := MeasureBandwidth(100, 2, 1); err == nil {
		t.Error("a buffer smaller than a page per thread must be an error")
	}
	if s := MeasureSgemm(64, 32, 64, time.Millisecond); s <= 0 {
		t.Errorf("MeasureSgemm %v", s)
	}
}
