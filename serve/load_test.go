package serve

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mealab/mealab/presets"
	gossh "golang.org/x/crypto/ssh"
)

func tokens(u *user) int64 {
	var n int64
	for _, in := range u.lab.Runs() {
		n += in.Tokens
	}
	return n
}

// viewer is a client following someone and reading everything.
type viewer struct {
	c     *gossh.Client
	s     *gossh.Session
	in    io.WriteCloser
	bytes atomic.Int64
}

func follow(tb testing.TB, addr string, k keyPair, whom string, w, h int) *viewer {
	tb.Helper()
	c, err := dial(addr, k.name, k.signer)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := c.NewSession()
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.RequestPty("xterm-256color", h, w, gossh.TerminalModes{}); err != nil {
		tb.Fatal(err)
	}
	out, err := s.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	in, err := s.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd := ""
	if whom != "" {
		cmd = "follow " + whom
	}
	if err := s.Start(cmd); err != nil {
		tb.Fatal(err)
	}
	v := &viewer{c: c, s: s, in: in}
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := out.Read(buf)
			v.bytes.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return v
}

func (v *viewer) close() { _ = v.s.Close(); _ = v.c.Close() }

// cpuSeconds is the CPU time this process has used (user + system).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// window measures the teacher's tokens per second and the process's CPU
// seconds per second over secs.
func window(u *user, secs int) (tokPerSec, cpuPerSec float64) {
	t0, k0, c0 := time.Now(), tokens(u), cpuSeconds()
	time.Sleep(time.Duration(secs) * time.Second)
	dt := time.Since(t0).Seconds()
	return float64(tokens(u)-k0) / dt, (cpuSeconds() - c0) / dt
}

// BenchmarkViewers measures the teacher's training throughput with 1, 10
// and 30 followers (each at 100x30, the server's default 4 frames per
// second each and 40 in all) against the same server with the same
// clients connected but not following (each in their own empty lab, which
// draws nothing): the two states alternate in rounds so that a busy
// machine's drift cancels in the ratio (the median of the rounds is
// reported). tok/cpu-s-ratio compares tokens per CPU second of the
// process with and without followers: on a machine whose CPU is all the
// server's, it is the share of training throughput kept (the clients'
// decryption runs in this process too, so it overstates the cost). Run
// with -benchtime=1x; each window lasts
// MEALAB_BENCH_SECONDS (default 4), MEALAB_BENCH_ROUNDS rounds (default 3).
func BenchmarkViewers(b *testing.B) {
	secs, rounds := 4, 3
	if s, err := strconv.Atoi(os.Getenv("MEALAB_BENCH_SECONDS")); err == nil && s > 0 {
		secs = s
	}
	if s, err := strconv.Atoi(os.Getenv("MEALAB_BENCH_ROUNDS")); err == nil && s > 0 {
		rounds = s
	}
	frames := 0
	if s, err := strconv.Atoi(os.Getenv("MEALAB_BENCH_FRAMES")); err == nil && s != 0 {
		frames = s
	}
	for _, n := range []int{1, 10, 30} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			ts := startServer(b, func(c *Config) {
				c.FPS = 4
				c.Frames = frames
				c.Open = true
				c.GuestLimits = &Limits{Runs: 0}
				c.MaxConns = 100
				c.Overrides = append(c.Overrides, presets.Setting{Key: "eval_every", Value: "0"})
			})
			teacher, err := ts.getUser("teacher", false)
			if err != nil {
				b.Fatal(err)
			}
			var vs []*viewer
			for i := 0; i < n; i++ {
				vs = append(vs, follow(b, ts.addr, newKey(b, "v"), "", 100, 30))
			}
			waitUntil(b, "every viewer's lab", 30*time.Second, func() bool { return len(ts.People()) == n+1 })
			for _, p := range ts.People() {
				if u := ts.lookupUser(p.Name); u != nil && u != teacher {
					for _, in := range u.lab.Runs() {
						_ = u.lab.Remove(in.ID)
					}
				}
			}
			press := func(k string) {
				for _, v := range vs {
					_, _ = v.in.Write([]byte(k))
				}
			}
			for i := 0; i < b.N; i++ {
				var with, without, ratios, bps, effs, vcpu []float64
				for r := 0; r < rounds; r++ {
					press("F") // the picker
					time.Sleep(300 * time.Millisecond)
					press("\r") // follow the teacher (the only one who shares)
					time.Sleep(time.Second)
					var b0 int64
					for _, v := range vs {
						b0 += v.bytes.Load()
					}
					w, wc := window(teacher, secs)
					var b1 int64
					for _, v := range vs {
						b1 += v.bytes.Load()
					}
					press("b") // back to the empty own lab
					time.Sleep(time.Second)
					wo, woc := window(teacher, secs)
					with, without = append(with, w), append(without, wo)
					ratios = append(ratios, w/wo)
					effs = append(effs, (w/wc)/(wo/woc))
					// CPU not spent on training while following: what the
					// process used beyond what its tokens cost without.
					vcpu = append(vcpu, wc-w/(wo/woc))
					bps = append(bps, float64(b1-b0)/float64(secs)/float64(n))
				}
				if v := ts.lookupUser("teacher").hub.viewers(); v != 0 {
					b.Fatalf("%d viewers still on the teacher's lab after the last round", v)
				}
				b.ReportMetric(median(with), "tok/s")
				b.ReportMetric(median(without), "tok/s-without")
				b.ReportMetric(median(ratios), "ratio")
				b.ReportMetric(median(effs), "tok/cpu-s-ratio")
				b.ReportMetric(1000*median(vcpu), "viewer-cpu-ms/s")
				b.ReportMetric(median(bps), "B/s/viewer")
			}
			for _, v := range vs {
				v.close()
			}
		})
	}
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// TestLoad30 is the bounded load test: 30 guests for 60 s (MEALAB_LOAD=1;
// MEALAB_LOAD_SECONDS changes the time): 20 in labs of their own pressing
// keys and resizing, 10 following the teacher. The server keeps training
// the whole time; after they leave, goroutines and heap come back to their
// baseline.
func TestLoad30(t *testing.T) {
	if os.Getenv("MEALAB_LOAD") == "" {
		t.Skip("set MEALAB_LOAD=1 to run the 60 s load test with 30 clients")
	}
	secs := 60
	if s, err := strconv.Atoi(os.Getenv("MEALAB_LOAD_SECONDS")); err == nil && s > 0 {
		secs = s
	}
	ts := startServer(t, func(c *Config) { c.Open = true; c.MaxConns = 40; c.GuestLimits = &Limits{Runs: 1} })
	teacher, err := ts.getUser("teacher", false)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	runtime.GC()
	var m0 runtime.MemStats
	runtime.ReadMemStats(&m0)
	g0 := runtime.NumGoroutine()
	k0 := tokens(teacher)
	t.Logf("baseline: %d goroutines, heap %d KiB", g0, m0.HeapAlloc>>10)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var total atomic.Int64
	var mu sync.Mutex
	var errs []error
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			whom := ""
			if i >= 20 {
				whom = "teacher"
			}
			v := follow(t, ts.addr, newKey(t, "g"), whom, 80+i, 24+i%10)
			defer v.close()
			keys := []string{"1", "2", "3", "4", "j", "k", "x", "e", "L", "?", "?", "\x1b[A", "\x1b[B"}
			tk := time.NewTicker(time.Duration(200+i*10) * time.Millisecond)
			defer tk.Stop()
			for j := 0; ; j++ {
				select {
				case <-stop:
					total.Add(v.bytes.Load())
					return
				case <-tk.C:
					if j%10 == 0 {
						_ = v.s.WindowChange(24+j%20, 80+j%40)
					}
					if _, err := v.in.Write([]byte(keys[(i+j)%len(keys)])); err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("client %d: %w", i, err))
						mu.Unlock()
						return
					}
				}
			}
		}(i)
	}
	mid := time.After(time.Duration(secs/2) * time.Second)
	<-mid
	people := ts.People()
	kMid := tokens(teacher)
	t.Logf("half-way: %d people with labs, teacher trained %d tokens so far", len(people), kMid-k0)
	time.Sleep(time.Duration(secs-secs/2) * time.Second)
	close(stop)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	k1 := tokens(teacher)
	for _, u := range ts.sched.Usage() {
		t.Logf("%s: %d steps, share %.2f", u.User, u.Steps, u.Share)
	}
	if k1 <= kMid || kMid <= k0 {
		buf := make([]byte, 1<<22)
		buf = buf[:runtime.Stack(buf, true)]
		os.WriteFile("/tmp/i14/stacks.txt", buf, 0o644)
		t.Fatalf("the teacher's training did not go on under load: %d, %d, %d tokens", k0, kMid, k1)
	}
	t.Logf("30 clients for %d s: %d bytes of screens, teacher trained %d tokens (%.0f tok/s)", secs, total.Load(), k1-k0, float64(k1-k0)/float64(secs))
	// Everyone left: the guests' labs close, and the goroutines end.
	waitUntil(t, "guest labs closed", 20*time.Second, func() bool { return len(ts.People()) == 1 })
	var g1 int
	waitUntil(t, "goroutines back to baseline", 20*time.Second, func() bool {
		g1 = runtime.NumGoroutine()
		return g1 <= g0+2
	})
	runtime.GC()
	var m1 runtime.MemStats
	runtime.ReadMemStats(&m1)
	t.Logf("after: %d goroutines, heap %d KiB (baseline %d, %d KiB)", g1, m1.HeapAlloc>>10, g0, m0.HeapAlloc>>10)
	if m1.HeapAlloc > m0.HeapAlloc+64<<20 {
		t.Fatalf("heap grew from %d to %d KiB", m0.HeapAlloc>>10, m1.HeapAlloc>>10)
	}
}
