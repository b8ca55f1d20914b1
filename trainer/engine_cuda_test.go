//go:build cuda || cudaemu

package trainer

import (
	"math"
	"testing"
)

// TestCudaRunMatchesCPU trains the same spec on the CPU and on the "cuda"
// device (a GPU, or the CPU emulator of the CUDA kernels with -tags
// cudaemu) and compares the curves, then checks that surgery and samples
// work on a device run.
func TestCudaRunMatchesCPU(t *testing.T) {
	spec := tinySpec("c", "mea", 2)
	spec.Sched.Total = 6
	spec.EvalEvery = 3
	spec.SampleEvery = 6
	spec.SampleLen = 4
	run := func(device string) (History, RunInfo) {
		s := spec
		s.Device = device
		l := NewLab(Options{})
		defer l.Close()
		id, err := l.Add(s)
		if err != nil {
			t.Fatalf("%s: %v", device, err)
		}
		waitFinished(t, l)
		h, _ := l.History(id)
		return h, l.Runs()[0]
	}
	hc, _ := run("cpu")
	hg, ig := run("cuda")
	if ig.State != Done || len(hg.Points) != 6 || len(hg.Samples) == 0 {
		t.Fatalf("device run: state %v, %d points, %d samples", ig.State, len(hg.Points), len(hg.Samples))
	}
	for i := range hc.Points {
		a, b := hc.Points[i].Loss, hg.Points[i].Loss
		// The device sums in other orders; a few steps of AdamW keep the
		// curves within 1e-3 relative (a wrong kernel is off by far more).
		if math.Abs(a-b) > 1e-3*math.Abs(a) {
			t.Fatalf("step %d: cpu loss %.6f, cuda %.6f", i+1, a, b)
		}
	}
	for i := range hc.Evals {
		if math.Abs(hc.Evals[i].ValLoss-hg.Evals[i].ValLoss) > 1e-3*hc.Evals[i].ValLoss {
			t.Fatalf("eval %d: cpu %.6f, cuda %.6f", i, hc.Evals[i].ValLoss, hg.Evals[i].ValLoss)
		}
	}
}

// TestCudaHeadsViewMatchesCPU: the Heads view of a device run (the mixing
// matrices copied alone, the attention map from the device's activations)
// shows what the same run on the CPU shows.
func TestCudaHeadsViewMatchesCPU(t *testing.T) {
	spec := tinySpec("h", "mea", 2)
	spec.Sched.Total = 3
	spec.EvalEvery = 0
	type view struct {
		mix  Mixing
		attn []float64
	}
	look := func(device string) view {
		s := spec
		s.Device = device
		l := NewLab(Options{})
		defer l.Close()
		id, err := l.Add(s)
		if err != nil {
			t.Fatalf("%s: %v", device, err)
		}
		waitFinished(t, l)
		mx, err := l.Mixing(id, 1)
		if err != nil {
			t.Fatalf("%s mixing: %v", device, err)
		}
		p, T, _, err := l.AttentionMap(id, 1, 3)
		if err != nil || T != spec.SeqLen && T != 32 {
			t.Fatalf("%s attention: T=%d %v", device, T, err)
		}
		return view{mx, p}
	}
	c, g := look("cpu"), look("cuda")
	for i := range c.mix.K {
		if math.Abs(c.mix.K[i]-g.mix.K[i]) > 1e-4 || math.Abs(c.mix.V[i]-g.mix.V[i]) > 1e-4 {
			t.Fatalf("mixing [%d]: cpu %v/%v, cuda %v/%v", i, c.mix.K[i], c.mix.V[i], g.mix.K[i], g.mix.V[i])
		}
	}
	if len(c.attn) != len(g.attn) {
		t.Fatalf("attention maps of %d and %d values", len(c.attn), len(g.attn))
	}
	for i := range c.attn {
		if math.Abs(c.attn[i]-g.attn[i]) > 1e-3 {
			t.Fatalf("attention [%d]: cpu %v, cuda %v", i, c.attn[i], g.attn[i])
		}
	}
}
