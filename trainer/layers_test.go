package trainer

import (
	"math"
	"strings"
	"testing"
)

// TestLabLayerStats: every step records each layer's largest logit and
// gradient norm; the largest layer logit is the step's MaxLogit.
func TestLabLayerStats(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	s := tinySpec("r", "mea", 0)
	s.Sched.Total = 8
	id, err := l.Add(s)
	if err != nil {
		t.Fatal(err)
	}
	waitFinished(t, l)
	st, err := l.LayerStats(id)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := l.History(id)
	if st.Layers != 2 || len(st.Steps) != 8 || len(st.MaxLogit) != 2 || len(st.GradNorm) != 2 {
		t.Fatalf("layers %d, %d steps, %d/%d series; want 2 layers x 8 steps", st.Layers, len(st.Steps), len(st.MaxLogit), len(st.GradNorm))
	}
	for i, step := range st.Steps {
		if step != i+1 {
			t.Fatalf("steps %v", st.Steps)
		}
		p := h.Points[i]
		top, sq := 0.0, 0.0
		for layer := range 2 {
			top = max(top, float64(st.MaxLogit[layer][i]))
			g := float64(st.GradNorm[layer][i])
			if !(g > 0) {
				t.Errorf("step %d layer %d grad norm %v", step, layer, g)
			}
			sq += g * g
		}
		if math.Abs(top-p.MaxLogit) > 1e-6*p.MaxLogit {
			t.Errorf("step %d: largest layer logit %v, point's max logit %v", step, top, p.MaxLogit)
		}
		// Before clipping (clip is 1 here): the layers' part of the norm
		// cannot exceed the whole, and is not clipped to 1.
		if math.Sqrt(sq) > p.GradNorm*(1+1e-5) {
			t.Errorf("step %d: layer norms %v exceed the global %v", step, math.Sqrt(sq), p.GradNorm)
		}
	}
	if _, err := l.LayerStats(99); err == nil || !strings.Contains(err.Error(), "no run") {
		t.Errorf("unknown run: %v", err)
	}
}

func TestHalve(t *testing.T) {
	for _, c := range []struct{ in, want []int }{
		{[]int{1, 2, 3, 4}, []int{2, 4}}, {[]int{1, 2, 3, 4, 5}, []int{1, 3, 5}}, {nil, nil},
	} {
		got := halve(append([]int(nil), c.in...))
		if len(got) != len(c.want) {
			t.Fatalf("halve(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("halve(%v) = %v, want %v", c.in, got, c.want)
			}
		}
	}
}

// TestLabSpikeEvents: the lab sends the detector's events on the stream
// and its RunInfo counts them. The run's detector is primed with a recent
// minimum and mean far below anything a real step gives, so its next step
// is certainly a loss spike and a grad-norm spike.
func TestLabSpikeEvents(t *testing.T) {
	l := NewLab(Options{})
	defer l.Close()
	s := tinySpec("r", "mha", 0)
	s.Sched.Total = 30
	s.EvalEvery = 0
	id, err := l.Add(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.exec(func() error {
		r, err := l.find(id)
		if err != nil {
			return err
		}
		if r.step >= s.Sched.Total {
			return nil
		}
		for range SpikeWindow {
			r.spikes.loss.push(1e-6)
			r.spikes.grad.push(1e-9)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ups := waitFinished(t, l)
	var loss, grad int
	for _, u := range ups {
		if e, ok := u.(Event); ok && e.Run == id {
			switch e.Kind {
			case LossSpike:
				loss++
			case GradSpike:
				grad++
			}
		}
	}
	in := l.Runs()[0]
	if in.LossSpikes != loss || in.GradSpikes != grad {
		t.Errorf("RunInfo counts %d/%d, stream has %d/%d events", in.LossSpikes, in.GradSpikes, loss, grad)
	}
	if loss < 1 || grad < 1 {
		t.Errorf("%d loss and %d grad-norm spike events after priming the detector; want at least one of each", loss, grad)
	}
}
