package cpu

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The worker pool is a fixed set of goroutines, each fed by its own channel. A
// parallel region hands one chunk to each worker, runs chunk 0 on the calling
// goroutine and waits for the others. Nothing in that path allocates: tasks travel
// by value and the channels live as long as the pool.
//
// Waking a parked goroutine costs tens of microseconds on a virtual machine, which
// is a large share of a millisecond GEMM, so both sides spin before they park: an
// idle worker polls its channel for a while after each task, and the caller polls
// the count of unfinished chunks before it sleeps on the wake channel. Spinning
// calls runtime.Gosched, so it never keeps other goroutines (or more threads than
// cores) from running.
//
// Only one parallel region runs at a time. A caller that finds the pool busy
// (another goroutine's region, or its own when fn itself calls ParallelFor or
// Sgemm) runs its chunks one after another on its own goroutine instead of
// waiting, which is what makes nested calls safe from deadlock.

type task struct {
	fn     func(lo, hi int)
	lo, hi int
}

type workerPool struct {
	mu        sync.Mutex   // held for the whole of a parallel region.
	workers   []chan task  // one per extra thread; threads-1 of them.
	remaining atomic.Int64 // chunks of the current region not yet finished by workers.
	sleeping  atomic.Bool  // the caller is (about to be) parked on wake.
	wake      chan struct{}
	threads   atomic.Int64 // the configured thread count.
}

// How long spinning lasts: an idle worker keeps polling for workerSpin after its
// last task, and a caller waits up to callerSpin for the workers before parking.
const (
	workerSpin = 200 * time.Microsecond
	callerSpin = 2 * time.Millisecond
)

var pool workerPool

func init() {
	pool.threads.Store(int64(max(1, runtime.GOMAXPROCS(0))))
}

// SetThreads sets the number of threads Sgemm and ParallelFor use, counting the
// calling goroutine; n < 1 means 1. It waits for any running parallel region and
// must not be called from inside one.
func SetThreads(n int) {
	n = max(n, 1)
	pool.mu.Lock()
	pool.threads.Store(int64(n))
	pool.resize(n)
	pool.mu.Unlock()
}

// Threads returns the number of threads Sgemm and ParallelFor use.
func Threads() int { return int(pool.threads.Load()) }

// resize starts or stops workers so that there are n-1 of them. The caller holds mu,
// so no task is in flight.
func (p *workerPool) resize(n int) {
	if p.wake == nil {
		p.wake = make(chan struct{}, 1)
	}
	for len(p.workers) > n-1 {
		last := len(p.workers) - 1
		close(p.workers[last])
		p.workers = p.workers[:last]
	}
	for len(p.workers) < n-1 {
		ch := make(chan task, 1)
		p.workers = append(p.workers, ch)
		go p.work(ch)
	}
}

// afterLastDecrement, when set by a test, runs between a worker's final
// decrement of a region and its wake-up, where the scheduler may pause it.
var afterLastDecrement func()

// work is the body of one worker goroutine; it exits when its channel is closed.
func (p *workerPool) work(ch chan task) {
	for {
		t, ok := p.next(ch)
		if !ok {
			return
		}
		t.fn(t.lo, t.hi)
		if p.remaining.Add(-1) == 0 {
			if afterLastDecrement != nil {
				afterLastDecrement()
			}
			if p.sleeping.CompareAndSwap(true, false) {
				p.wake <- struct{}{}
			}
		}
	}
}

// next returns the worker's next task, polling for up to workerSpin before it
// blocks; ok is false when the channel has been closed.
func (p *workerPool) next(ch chan task) (task, bool) {
	var start time.Time
	for i := 0; ; i++ {
		select {
		case t, ok := <-ch:
			return t, ok
		default:
		}
		if i&63 == 0 {
			if i == 0 {
				start = time.Now()
			} else if time.Since(start) > workerSpin {
				t, ok := <-ch
				return t, ok
			}
		}
		runtime.Gosched()
	}
}

// acquire tries to take the pool for a parallel region of up to want threads and
// returns how many threads the region may use; 1 means the pool was busy (or one
// thread was asked for) and the caller must run alone without calling release.
func (p *workerPool) acquire(want int) int {
	if min(want, int(p.threads.Load())) <= 1 || !p.mu.TryLock() {
		return 1
	}
	// SetThreads may have run between the load above and the lock.
	threads := int(p.threads.Load())
	if len(p.workers) != threads-1 {
		p.resize(threads)
	}
	nt := min(want, threads)
	if nt <= 1 {
		p.mu.Unlock()
		return 1
	}
	return nt
}

func (p *workerPool) release() { p.mu.Unlock() }

// run splits [0, n) into nt contiguous chunks, chunk i being
// [i*n/nt, (i+1)*n/nt), runs them on nt threads and waits. The caller holds the
// pool and nt is at most the acquired thread count.
func (p *workerPool) run(nt, n int, fn func(lo, hi int)) {
	p.remaining.Store(int64(nt - 1))
	for i := 1; i < nt; i++ {
		p.workers[i-1] <- task{fn: fn, lo: i * n / nt, hi: (i + 1) * n / nt}
	}
	// Deferred so that a panic in chunk 0 still waits for the workers: the next
	// region must not start while they run.
	defer p.wait()
	fn(0, n/nt)
}

// wait returns when every worker chunk of the current region has finished. The
// last worker to finish sends on wake only if it wins the sleeping flag from the
// caller, so exactly one side consumes it and no token is left over.
//
// A token is only a hint, never proof that this region is done: a worker can
// finish a region, be descheduled between its decrement and its flag swap for
// longer than callerSpin, and then wake the caller of the next region. So after
// every wake-up the counter is checked again (this once let a caller return and
// recycle a GEMM job while a worker still computed on it).
func (p *workerPool) wait() {
	for !p.spinUntilDone() {
		p.sleeping.Store(true)
		if p.remaining.Load() == 0 && p.sleeping.CompareAndSwap(true, false) {
			return
		}
		<-p.wake
		if p.remaining.Load() == 0 {
			return
		}
	}
}

// spinUntilDone polls the region's counter for up to callerSpin and reports
// whether it reached zero.
func (p *workerPool) spinUntilDone() bool {
	var start time.Time
	for i := 0; p.remaining.Load() != 0; i++ {
		if i&63 == 0 {
			if i == 0 {
				start = time.Now()
			} else if time.Since(start) > callerSpin {
				return false
			}
		}
		runtime.Gosched()
	}
	return true
}

// runInline runs the same chunks as run would, one after another on the calling
// goroutine, so that code which depends on the chunk boundaries sees the same
// ones whether or not the pool was free.
func runInline(nt, n int, fn func(lo, hi int)) {
	for i := 0; i < nt; i++ {
		fn(i*n/nt, (i+1)*n/nt)
	}
}

// ParallelFor calls fn(lo, hi) over contiguous chunks that cover [0, n) and returns
// when all have finished. With t = min(Threads(), n) there are t chunks, chunk i
// being [i*n/t, (i+1)*n/t), whoever runs them.
//
// It is safe to call from several goroutines at once and from inside fn: when the
// pool is busy the chunks run one after another on the calling goroutine. It does
// not allocate, but fn is handed to other goroutines, so a closure built afresh for
// each call escapes to the heap; build it once where that matters. A panic in fn
// on the calling goroutine propagates once the other chunks have finished; on a
// worker goroutine it crashes the program.
func ParallelFor(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	want := min(Threads(), n)
	if want <= 1 {
		fn(0, n)
		return
	}
	nt := pool.acquire(want)
	if nt <= 1 {
		runInline(want, n, fn)
		return
	}
	defer pool.release()
	pool.run(nt, n, fn)
}
