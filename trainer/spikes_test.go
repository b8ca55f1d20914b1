package trainer

import (
	"fmt"
	"math"
	"testing"
)

// steps makes points from losses and grad norms (NaN: leave the other
// signal at a steady 2.0 / 1.0).
func spikePoints(loss, grad []float64) []Point {
	n := max(len(loss), len(grad))
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{Run: 1, Step: i + 1, Loss: 2, GradNorm: 1}
		if i < len(loss) {
			pts[i].Loss = loss[i]
		}
		if i < len(grad) {
			pts[i].GradNorm = grad[i]
		}
	}
	return pts
}

// descent is a training curve from hi down to lo with 10% batch noise.
func descent(n int, hi, lo float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = (lo + (hi-lo)*math.Exp(-float64(i)/40)) * (1 + 0.1*float64(1-2*(i%2)))
	}
	return out
}

// noisy is n values around v, alternating v*(1+f) and v*(1-f).
func noisy(n int, v, f float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v * (1 + f*float64(1-2*(i%2)))
	}
	return out
}

func flat(n int, v float64, then ...float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return append(out, then...)
}

func spikeEventsOf(pts []Point) (string, *spikeDetector) {
	var d spikeDetector
	s := ""
	for _, p := range pts {
		for _, e := range d.observe(p) {
			s += fmt.Sprintf("%s@%d ", e.Kind, e.Step)
		}
	}
	return s, &d
}

// TestSpikeRules checks the documented rules: thresholds, the warm-up,
// one event per episode, and that non-finite values are skipped.
func TestSpikeRules(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name       string
		loss, grad []float64
		want       string
	}{
		{"steady", flat(60, 2), flat(60, 1), ""},
		// The smoothed loss needs 5 steps at +50% to pass +20%:
		// 2 + 1*(1 - 0.9^k) > 2.4 from k = 5.
		{"loss up by half for a while", flat(20, 2, 3, 3, 3, 3, 3, 3), nil, "loss-spike@25 "},
		{"one step at 5x", flat(20, 2, 10), nil, "loss-spike@21 "},
		{"one noisy batch is not a spike", flat(20, 2, 4), nil, ""},
		{"batch noise of 30% is not a spike", append(flat(20, 2), noisy(80, 2, 0.3)...), nil, ""},
		{"minimum, not the mean", append(flat(20, 2, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6, 1.6), flat(10, 2.5)...), nil, "loss-spike@36 "},
		{"one episode until it comes back", append(flat(20, 2, 4, 4, 4, 4, 4), flat(30, 2, 10)...), nil, "loss-spike@22 loss-spike@56 "},
		{"no spike in the first steps", []float64{2, 2, 2, 90, 2, 2, 2, 2, 2}, nil, ""},
		{"a falling loss never spikes", descent(300, 5, 0.3), nil, ""},
		{"NaN and Inf are skipped", flat(20, 2, nan, math.Inf(1), 2.0), flat(20, 1, nan, math.Inf(1), 1), ""},
		{"grad norm 3.1x its mean", nil, flat(20, 1, 3.1), "grad-spike@21 "},
		{"grad norm 2.9x is noise", nil, flat(20, 1, 2.9), ""},
		{"grad episodes", nil, flat(20, 1, 3.1, 2.9, 3.6), "grad-spike@21 grad-spike@23 "},
		{"both at once", flat(20, 2, 10), flat(20, 1, 5), "loss-spike@21 grad-spike@21 "},
	}
	for _, c := range cases {
		got, d := spikeEventsOf(spikePoints(c.loss, c.grad))
		if got != c.want {
			t.Errorf("%s: events %q, want %q", c.name, got, c.want)
		}
		ln, gn := d.lossN, d.gradN
		var wl, wg int
		for i := 0; i+len(LossSpike) <= len(c.want); i++ {
			if c.want[i:i+len(LossSpike)] == LossSpike {
				wl++
			}
			if c.want[i:i+len(GradSpike)] == GradSpike {
				wg++
			}
		}
		if ln != wl || gn != wg {
			t.Errorf("%s: counts %d/%d, want %d/%d", c.name, ln, gn, wl, wg)
		}
	}
}

// TestSpikeReplay: a detector rebuilt from a history continues exactly as
// one that saw every step (what a resumed run relies on).
func TestSpikeReplay(t *testing.T) {
	loss := append(flat(20, 2, 9, 2.6, 2.0), flat(30, 2.1, 12, 2.0)...)
	grad := append(flat(25, 1, 4), flat(10, 1, 5)...)
	pts := spikePoints(loss, grad)
	want, full := spikeEventsOf(pts)
	for cut := 0; cut <= len(pts); cut++ {
		var d spikeDetector
		d.replay(pts[:cut])
		got := ""
		for _, p := range pts[cut:] {
			for _, e := range d.observe(p) {
				got += fmt.Sprintf("%s@%d ", e.Kind, e.Step)
			}
		}
		wantTail := ""
		var w spikeDetector
		for _, p := range pts {
			for _, e := range w.observe(p) {
				if e.Step > cut {
					wantTail += fmt.Sprintf("%s@%d ", e.Kind, e.Step)
				}
			}
		}
		if got != wantTail || d.lossN != full.lossN || d.gradN != full.gradN {
			t.Fatalf("replayed at %d: events %q counts %d/%d, want %q %d/%d (all: %q)", cut, got, d.lossN, d.gradN, wantTail, full.lossN, full.gradN, want)
		}
	}
}
