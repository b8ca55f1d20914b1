package serve

import (
	"sync"
	"time"
)

// frameBudget is the server's total of redraws per second for new data,
// shared by every viewer (a token bucket): thirty viewers of one lab cost
// what the budget allows, not thirty times one viewer. A key press always
// redraws at once; only redraws for new data wait their turn.
type frameBudget struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newFrameBudget(perSecond int) *frameBudget {
	r := float64(perSecond)
	return &frameBudget{rate: r, burst: max(r/4, 1), tokens: max(r/4, 1), now: time.Now}
}

// take spends one frame if the budget has one.
func (b *frameBudget) take() bool {
	if b == nil || b.rate <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
