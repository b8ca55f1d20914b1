package trainer

import (
	"sync"
	"testing"
	"time"

	"github.com/mealab/mealab/model"
)

// manualGate grants a slot only when told to.
type manualGate struct {
	mu      sync.Mutex
	pending []chan struct{}
	done    int
}

func (g *manualGate) Request() (<-chan struct{}, func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.pending = append(g.pending, ch)
	g.mu.Unlock()
	return ch, func() {}
}

func (g *manualGate) grant() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.pending) == 0 {
		return false
	}
	close(g.pending[0])
	g.pending = g.pending[1:]
	return true
}

func (g *manualGate) Done(time.Duration) {
	g.mu.Lock()
	g.done++
	g.mu.Unlock()
}

// TestGateHoldsSteps: with a gate a lab steps only when granted, and a
// command (pause) is served while it waits for a slot.
func TestGateHoldsSteps(t *testing.T) {
	g := &manualGate{}
	lab := NewLab(Options{Compute: model.Naive{}, Gate: g})
	defer lab.Close()
	spec := tinySpec("g", "mha", 0)
	id, err := lab.Add(spec)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if s := lab.Runs()[0].Step; s != 0 {
		t.Fatalf("stepped %d times without a slot", s)
	}
	for i := 0; i < 3; i++ {
		deadline := time.Now().Add(5 * time.Second)
		for !g.grant() {
			if time.Now().After(deadline) {
				t.Fatal("the lab never asked for a slot")
			}
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for lab.Runs()[0].Step < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := lab.Runs()[0].Step; s != 3 {
		t.Fatalf("3 slots granted, %d steps", s)
	}
	// It waits for the 4th slot; a pause still goes through at once.
	done := make(chan error, 1)
	go func() { done <- lab.Pause(id) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("a pause waited for a step slot")
	}
	g.mu.Lock()
	if g.done != 3 {
		t.Fatalf("Done called %d times, want 3", g.done)
	}
	g.mu.Unlock()
}
