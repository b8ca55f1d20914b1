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

// TestFMAPeakAVX512Wider checks that the 512-bit probe issues at least as
// many flops as the 256-bit one on a CPU that has both (best of a few tries,
// since a neighbour can slow either down): a probe that is not really
// running the wide instructions would come out at half.
func TestFMAPeakAVX512Wider(t *testing.T) {
	if len(PeakISAs()) < 2 {
		t.Skip("needs both AVX-512 and AVX2")
	}
	w, _ := MeasureFMAPeak("avx512", 1, 3)
	n, _ := MeasureFMAPeak("avx2", 1, 3)
	if w < 0.9*n {
		t.Errorf("avx512 %.1f GFLOP/s below avx2 %.1f", w, n)
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
