package trainer

import (
	"slices"
	"time"
)

// StepGate shares the machine among labs (the classroom server runs one lab
// per person): a lab asks the gate before every training step and reports
// how long the step took. The gate decides whose step runs next, so one
// person with many runs gets one person's share, not one share per run.
type StepGate interface {
	// Request asks for one step slot. granted is closed when the slot is
	// given; cancel withdraws the request, or gives back a slot that was
	// granted but not used. Calling cancel after Done is harmless.
	Request() (granted <-chan struct{}, cancel func())
	// Done gives back a granted slot after a step that took d.
	Done(d time.Duration)
}

// gatedStep steps r once it holds a slot of Options.Gate. While it waits,
// commands still run (a pause must not wait for the whole class), and a
// command that stops or removes r withdraws the request. It returns false
// when the lab is closing.
func (l *Lab) gatedStep(r *run) bool {
	g := l.opts.Gate
	if g == nil {
		l.step(r)
		return true
	}
	granted, cancel := g.Request()
	for {
		select {
		case <-granted:
			t0 := time.Now()
			l.step(r)
			g.Done(time.Since(t0))
			return true
		case c := <-l.cmds:
			c()
			if r.state != Running || !slices.Contains(l.runs, r) {
				cancel()
				return true
			}
		case <-l.quit:
			cancel()
			return false
		}
	}
}
