package serve

import (
	"testing"
	"time"
)

func TestFrameBudget(t *testing.T) {
	now := time.Unix(100, 0)
	b := newFrameBudget(40)
	b.now = func() time.Time { return now }
	n := 0
	for i := 0; i < 100; i++ { // a burst: at most a quarter second's worth
		if b.take() {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("a burst got %d frames, want 10", n)
	}
	// Over 10 s, 30 viewers asking 4 times a second get 40 frames a second
	// in all, not 120.
	n = 0
	for tick := 0; tick < 40; tick++ {
		now = now.Add(250 * time.Millisecond)
		for v := 0; v < 30; v++ {
			if b.take() {
				n++
			}
		}
	}
	if n < 390 || n > 410 {
		t.Fatalf("10 s of 30 viewers at 4 fps got %d frames, want about 400", n)
	}
	var none *frameBudget
	if !none.take() || !newFrameBudget(-1).take() {
		t.Fatal("no budget must allow every frame")
	}
}
