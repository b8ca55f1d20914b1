package serve

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mealab/mealab/cpu"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
)

// labWith starts a gated lab with n runs of the quick preset's MHA run.
func labWith(t *testing.T, sh *Share, n int) *trainer.Lab {
	t.Helper()
	spec, err := presets.Build("quick", []presets.Setting{{Key: "steps", Value: "100000"}, {Key: "eval_every", Value: "0"}, {Key: "sample_every", Value: "0"}, {Key: "layers", Value: "2"}, {Key: "width", Value: "32"}, {Key: "heads", Value: "2"}, {Key: "context", Value: "32"}, {Key: "batch", Value: "4"}})
	if err != nil {
		t.Fatal(err)
	}
	lab := trainer.NewLab(trainer.Options{Compute: cpu.Compute{}, Gate: sh})
	t.Cleanup(lab.Close)
	for i := 0; i < n; i++ {
		if _, err := lab.Add(spec); err != nil {
			t.Fatal(err)
		}
	}
	return lab
}

func steps(l *trainer.Lab) int {
	n := 0
	for _, in := range l.Runs() {
		n += in.Step
	}
	return n
}

// TestFairSharePerPerson: a person with four runs gets about the same
// number of (equal) steps as a person with one: the share is per person,
// not per run.
func TestFairSharePerPerson(t *testing.T) {
	cpu.SetThreads(1)
	s := NewScheduler(1)
	many := labWith(t, s.Join("many", 1), 4)
	one := labWith(t, s.Join("one", 1), 1)
	time.Sleep(3 * time.Second)
	a, b := steps(many), steps(one)
	t.Logf("steps: 4 runs %d, 1 run %d", a, b)
	if r := float64(a) / float64(b); math.Abs(r-1) > 0.35 {
		t.Fatalf("four runs got %.2fx the steps of one run's person; want about 1", r)
	}
}

// TestSchedulerWeights: with weight 2 the teacher gets about twice a
// student's step time, and Usage says so. Steps here are sleeps, so the
// result does not depend on how busy the machine is.
func TestSchedulerWeights(t *testing.T) {
	s := NewScheduler(1)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	count := map[string]*atomic.Int64{}
	for _, p := range []struct {
		name string
		w    float64
	}{{"teacher", 2}, {"s1", 1}, {"s2", 1}} {
		sh := s.Join(p.name, p.w)
		n := &atomic.Int64{}
		count[p.name] = n
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				g, cancel := sh.Request()
				select {
				case <-stop:
					cancel()
					return
				case <-g:
				}
				t0 := time.Now()
				time.Sleep(2 * time.Millisecond)
				sh.Done(time.Since(t0))
				n.Add(1)
			}
		}()
	}
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	tc, s1, s2 := count["teacher"].Load(), count["s1"].Load(), count["s2"].Load()
	t.Logf("steps: teacher %d, s1 %d, s2 %d", tc, s1, s2)
	if r := 2 * float64(tc) / float64(s1+s2); r < 1.6 || r > 2.5 {
		t.Fatalf("the teacher with weight 2 got %.2fx a student's steps; want about 2", r)
	}
	use := map[string]Usage{}
	for _, u := range s.Usage() {
		use[u.User] = u
	}
	if sh := use["teacher"].Share; sh < 0.4 || sh > 0.6 {
		t.Fatalf("teacher's CPU share %.2f, want about 0.5", sh)
	}
}

// TestSchedulerCancel: a withdrawn request, granted or not, frees its slot.
func TestSchedulerCancel(t *testing.T) {
	s := NewScheduler(1)
	a, b := s.Join("a", 1), s.Join("b", 1)
	ga, cancelA := a.Request()
	<-ga // a holds the only slot
	gb, cancelB := b.Request()
	select {
	case <-gb:
		t.Fatal("two steps granted with one slot")
	case <-time.After(50 * time.Millisecond):
	}
	cancelA() // gives the granted slot back
	select {
	case <-gb:
	case <-time.After(time.Second):
		t.Fatal("a cancelled grant did not free the slot")
	}
	cancelB()
	ga2, _ := a.Request()
	select {
	case <-ga2:
	case <-time.After(time.Second):
		t.Fatal("the slot was lost")
	}
	a.Done(time.Millisecond)
}

// TestSchedulerNoCreditForNewcomers: someone who arrives after another
// trained alone for a while shares from then on; they do not get the
// machine to themselves until they "catch up" (which starved the teacher
// under 30 guests before).
func TestSchedulerNoCreditForNewcomers(t *testing.T) {
	s := NewScheduler(1)
	a := s.Join("a", 1)
	for i := 0; i < 100; i++ {
		g, _ := a.Request()
		<-g
		a.Done(10 * time.Millisecond)
	}
	b, c, d := s.Join("b", 1), s.Join("c", 1), s.Join("d", 1)
	gd, _ := d.Request()
	<-gd // d holds the slot while a, b and c queue
	pending := map[*Share]<-chan struct{}{}
	for _, sh := range []*Share{a, b, c} {
		pending[sh], _ = sh.Request()
	}
	d.Done(10 * time.Millisecond)
	grantsA := 0
	for i := 0; i < 12; i++ {
		var got *Share
		select {
		case <-pending[a]:
			got = a
		case <-pending[b]:
			got = b
		case <-pending[c]:
			got = c
		case <-time.After(time.Second):
			t.Fatal("no grant")
		}
		if got == a {
			grantsA++
		}
		got.Done(10 * time.Millisecond) // gives back the slot it held
		pending[got], _ = got.Request()
	}
	if grantsA < 3 {
		t.Fatalf("the one who trained first got %d of 12 steps against two newcomers; want about 4", grantsA)
	}
}
