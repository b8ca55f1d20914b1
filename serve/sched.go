package serve

import (
	"sort"
	"sync"
	"time"
)

// Scheduler is the one step scheduler of a server: every lab asks it before
// each training step (it is their trainer.StepGate, through a Share). With
// Slots steps at a time (1 on a small machine: each step already uses every
// core), it grants the next slot to the waiting person whose weighted
// training time is lowest, so each person gets a fair share of the CPU
// whatever the number of their runs (weighted fair queueing on step time).
type Scheduler struct {
	mu    sync.Mutex
	slots int
	busy  int
	queue []*request
	// accounts by user, and the window used for the share shown on screens.
	accts  map[string]*account
	vnow   float64 // virtual time of the last granted step (never decreases)
	window time.Duration
	now    func() time.Time
}

type account struct {
	user   string
	weight float64
	vtime  float64 // seconds of step time divided by weight
	busy   bool    // holds or waits for a slot
	// used is step time in the current and the previous window, for Share.
	used, prev time.Duration
	winStart   time.Time
	steps      int64
}

type request struct {
	a       *account
	granted chan struct{}
	state   int // 0 waiting, 1 granted, 2 finished
}

// NewScheduler returns a scheduler running slots steps at a time (at least 1).
func NewScheduler(slots int) *Scheduler {
	return &Scheduler{slots: max(slots, 1), accts: map[string]*account{}, window: 5 * time.Second, now: time.Now}
}

// Share is one person's handle on the scheduler; it implements
// trainer.StepGate for that person's lab.
type Share struct {
	s *Scheduler
	a *account
	// cur is the request whose slot is held (Done gives it back).
	mu  sync.Mutex
	cur *request
}

// Join returns user's share, creating the account with weight (1 if not
// positive) or updating the weight of an existing one.
func (s *Scheduler) Join(user string, weight float64) *Share {
	if !(weight > 0) {
		weight = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accts[user]
	if a == nil {
		a = &account{user: user, winStart: s.now()}
		s.accts[user] = a
	}
	a.weight = weight
	return &Share{s: s, a: a}
}

// Leave forgets user (a guest who left).
func (s *Scheduler) Leave(user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.accts, user)
}

// Request implements trainer.StepGate.
func (sh *Share) Request() (<-chan struct{}, func()) {
	s := sh.s
	r := &request{a: sh.a, granted: make(chan struct{})}
	s.mu.Lock()
	a := sh.a
	if !a.busy {
		// New, or back from idle: no credit for the time away, or a
		// person who paused for ten minutes (or a newcomer) would then own
		// the machine until they caught up.
		a.vtime = max(a.vtime, s.vnow)
		a.busy = true
	}
	s.queue = append(s.queue, r)
	s.dispatchLocked()
	s.mu.Unlock()
	sh.mu.Lock()
	sh.cur = r
	sh.mu.Unlock()
	return r.granted, func() { sh.cancel(r) }
}

// Done implements trainer.StepGate.
func (sh *Share) Done(d time.Duration) {
	sh.mu.Lock()
	r := sh.cur
	sh.cur = nil
	sh.mu.Unlock()
	if r == nil {
		return
	}
	s := sh.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.state != 1 {
		return
	}
	r.state = 2
	a := r.a
	a.vtime += d.Seconds() / a.weight
	a.steps++
	s.roll(a)
	a.used += d
	a.busy = false
	s.busy--
	s.dispatchLocked()
}

func (sh *Share) cancel(r *request) {
	s := sh.s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch r.state {
	case 0:
		for i, q := range s.queue {
			if q == r {
				s.queue = append(s.queue[:i:i], s.queue[i+1:]...)
				break
			}
		}
	case 1:
		s.busy--
	default:
		return
	}
	r.state = 2
	r.a.busy = false
	s.dispatchLocked()
}

func (s *Scheduler) dispatchLocked() {
	for s.busy < s.slots && len(s.queue) > 0 {
		best := 0
		for i, q := range s.queue {
			if q.a.vtime < s.queue[best].a.vtime {
				best = i
			}
		}
		r := s.queue[best]
		s.queue = append(s.queue[:best:best], s.queue[best+1:]...)
		r.state = 1
		s.vnow = max(s.vnow, r.a.vtime)
		s.busy++
		close(r.granted)
	}
}

// roll starts a new share window for a when the current one is over.
func (s *Scheduler) roll(a *account) {
	now := s.now()
	for now.Sub(a.winStart) >= s.window {
		a.prev, a.used = a.used, 0
		a.winStart = a.winStart.Add(s.window)
		if now.Sub(a.winStart) >= s.window {
			a.prev = 0
			a.winStart = now
		}
	}
}

// Usage is one person's part of the machine.
type Usage struct {
	User   string
	Weight float64
	Share  float64 // fraction of all step time over the last window (0..1)
	Steps  int64   // steps granted so far
}

// Usage returns everyone's share of the step time of the last complete
// window plus the current one, sorted by user.
func (s *Scheduler) Usage() []Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total time.Duration
	for _, a := range s.accts {
		s.roll(a)
		total += a.used + a.prev
	}
	out := make([]Usage, 0, len(s.accts))
	for _, a := range s.accts {
		u := Usage{User: a.user, Weight: a.weight, Steps: a.steps}
		if total > 0 {
			u.Share = float64(a.used+a.prev) / float64(total)
		}
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

// UsageOf returns user's usage and how many people are training now.
func (s *Scheduler) UsageOf(user string) (Usage, int) {
	var me Usage
	n := 0
	for _, u := range s.Usage() {
		if u.User == user {
			me = u
		}
		if u.Share > 0 {
			n++
		}
	}
	return me, n
}
