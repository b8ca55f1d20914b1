package serve

import (
	"sync"

	"github.com/mealab/mealab/trainer"
)

// Source is what a hub reads: a lab's single update stream. It is the small
// interface follow is built on until the lab offers a pull API for any
// number of viewers; then hub.go is the one file to adapt.
type Source interface {
	Updates() <-chan trainer.Update
}

// hub reads a lab's stream once and hands every update to any number of
// viewers (the owner's connections and followers), each through its own
// queue: a viewer that falls behind gets its training points coalesced
// (the newest per run is kept) and never slows the lab or the others.
type hub struct {
	mu     sync.Mutex
	subs   map[*sub]struct{}
	closed bool
	done   chan struct{}
}

// maxQueue bounds a viewer's queue of updates that are never coalesced
// (evaluations, events, samples, state changes); a viewer this far behind
// is not reading at all and loses its oldest ones (its screen refetches the
// history of runs with gaps).
const maxQueue = 4096

func newHub(src Source) *hub {
	h := &hub{subs: map[*sub]struct{}{}, done: make(chan struct{})}
	go h.run(src.Updates())
	return h
}

func (h *hub) run(in <-chan trainer.Update) {
	defer close(h.done)
	for u := range in {
		h.mu.Lock()
		for s := range h.subs {
			s.push(u)
		}
		h.mu.Unlock()
	}
	h.mu.Lock()
	h.closed = true
	for s := range h.subs {
		s.close()
	}
	h.subs = nil
	h.mu.Unlock()
}

// subscribe returns a new viewer's stream; cancel ends it (its channel is
// closed).
func (h *hub) subscribe() *sub {
	s := newSub()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.close()
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

func (h *hub) unsubscribe(s *sub) {
	h.mu.Lock()
	if h.subs != nil {
		delete(h.subs, s)
	}
	h.mu.Unlock()
	s.close()
}

// viewers counts the subscribed streams.
func (h *hub) viewers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// sub is one viewer's queue and the channel its screen reads.
type sub struct {
	ch      chan trainer.Update
	done    chan struct{}
	mu      sync.Mutex
	cond    *sync.Cond
	q       []trainer.Update
	closed  bool
	dropped int
}

func newSub() *sub {
	s := &sub{ch: make(chan trainer.Update, 64), done: make(chan struct{})}
	s.cond = sync.NewCond(&s.mu)
	go s.forward()
	return s
}

func (s *sub) push(u trainer.Update) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	if p, ok := u.(trainer.Point); ok {
		for i := len(s.q) - 1; i >= 0; i-- {
			if q, ok := s.q[i].(trainer.Point); ok && q.Run == p.Run {
				s.q[i] = p
				return
			}
			if _, ok := s.q[i].(trainer.RunInfo); ok {
				break // keep order relative to state changes
			}
		}
	}
	if len(s.q) >= maxQueue {
		s.q = s.q[1:]
		s.dropped++
	}
	s.q = append(s.q, u)
	s.cond.Signal()
}

func (s *sub) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	close(s.done)
	s.cond.Broadcast()
}

// forward feeds the channel from the queue and closes it when the sub is
// closed. A send blocks only this viewer's goroutine.
func (s *sub) forward() {
	defer close(s.ch)
	for {
		s.mu.Lock()
		for len(s.q) == 0 && !s.closed {
			s.cond.Wait()
		}
		if s.closed {
			s.q = nil
			s.mu.Unlock()
			return
		}
		u := s.q[0]
		s.q = s.q[1:]
		s.mu.Unlock()
		select {
		case s.ch <- u:
		case <-s.done:
			return
		}
	}
}
