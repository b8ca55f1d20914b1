//go:build cuda || cudaemu

package gpu

import (
	"strings"
	"testing"

	"github.com/mealab/mealab/model"
)

// TestBlockStopsAtFirstFailure: when a kernel of a forward or backward
// pass fails to launch, nothing after it is launched (the old code
// evaluated every call of a block and joined the errors, so every later
// kernel ran on what the failed one never wrote), the error is the
// failure itself, and the next pass works again.
func TestBlockStopsAtFirstFailure(t *testing.T) {
	cfg := model.Config{Vocab: 16, Context: 8, Layers: 2, Width: 16, Heads: 2, MLP: 32, Seed: 1}.Normalized()
	cpu, err := model.New[float32](cfg, model.Naive{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := NewModel(cfg, cpu.Params)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	const B, T = 2, 8
	x, y := make([]int32, B*T), make([]int32, B*T)
	for i := range x {
		x[i], y[i] = int32(i%16), int32((i+1)%16)
	}
	// Count the launches of a whole forward pass.
	if _, err := g.Forward(x, y, B, T); err != nil {
		t.Fatal(err)
	}
	full := g.rt.launches
	for _, at := range []int{2, 3, full / 2} {
		g.rt.testFailAt = at
		_, err := g.Forward(x, y, B, T)
		launched := g.rt.launches
		g.rt.testFailAt = 0
		if err == nil || !strings.Contains(err.Error(), "injected failure") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("failure at launch %d: error %v, want only the injected failure", at, err)
		}
		if launched != at {
			t.Fatalf("failure at launch %d of %d: %d launches were made, want %d", at, full, launched, at)
		}
	}
	if _, err := g.Forward(x, y, B, T); err != nil {
		t.Fatalf("the pass after a failed one: %v", err)
	}
	if err := g.Backward(); err != nil {
		t.Fatal(err)
	}
	g.rt.testFailAt = 3
	err = g.Backward()
	launched := g.rt.launches
	g.rt.testFailAt = 0
	if err == nil || launched != 3 {
		t.Fatalf("backward failing at launch 3: %v after %d launches", err, launched)
	}
}
