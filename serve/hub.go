package serve

import (
	"sync"
)

// Source is the lab a hub watches: viewers pull its state themselves
// (trainer.Lab.Since, each at its own frame rate and with its own cursor),
// so the hub only counts them and ends their screens when the lab stops.
type Source interface {
	Done() <-chan struct{}
}

// hub keeps the viewers of one lab (the owner's connections and
// followers). It reads nothing: each viewer's screen pulls what changed
// from the lab at its own pace, so a viewer that falls behind or stops
// reading costs the lab and the others nothing.
type hub struct {
	mu     sync.Mutex
	subs   map[*sub]struct{}
	closed bool
	done   chan struct{}
}

func newHub(src Source) *hub {
	h := &hub{subs: map[*sub]struct{}{}, done: make(chan struct{})}
	go h.run(src.Done())
	return h
}

func (h *hub) run(stopped <-chan struct{}) {
	defer close(h.done)
	<-stopped
	h.mu.Lock()
	h.closed = true
	for s := range h.subs {
		s.close()
	}
	h.subs = nil
	h.mu.Unlock()
}

// subscribe registers a new viewer; unsubscribe ends it.
func (h *hub) subscribe() *sub {
	s := &sub{done: make(chan struct{})}
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

// viewers counts the subscribed viewers.
func (h *hub) viewers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// sub is one viewer; done is closed when it ends.
type sub struct {
	once sync.Once
	done chan struct{}
}

func (s *sub) close() { s.once.Do(func() { close(s.done) }) }
