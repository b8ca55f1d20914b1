package serve

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mealab/mealab/trainer"
	gossh "golang.org/x/crypto/ssh"
)

func totalSteps(u *user) int {
	n := 0
	for _, in := range u.lab.Runs() {
		n += in.Step
	}
	return n
}

// TestReconnectKeepsTraining: a person's runs train on while they are away
// and the screen comes back; after a restart of the server the lab comes
// back from its session on disk, under the same host key.
func TestReconnectKeepsTraining(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, "alice")
	first := openScreen(t, c, "", 100, 30)
	first.waitFor(t, "alice's lab", 10*time.Second)
	first.keys(t, "2") // the KV tab: it must come back
	first.waitFor(t, "[2 KV cache]", 10*time.Second)
	u := ts.lookupUser("alice")
	_ = c.Close()
	ts.waitLog(t, "msg=disconnect user=alice", 5*time.Second)
	s0 := totalSteps(u)
	waitUntil(t, "training while alice is away", 20*time.Second, func() bool { return totalSteps(u) > s0+5 })
	sc := openScreen(t, ts.dial(t, "alice"), "", 100, 30)
	sc.waitFor(t, "alice's lab", 10*time.Second)
	sc.waitFor(t, "[2 KV cache]", 10*time.Second) // the screen as she left it
	sc.waitFor(t, "running", 10*time.Second)
	if ts.lookupUser("alice") != u {
		t.Fatal("reconnecting made a new lab")
	}

	// Restart: the same data dir gives the same host key and alice's runs
	// from their checkpoints.
	var fp1 string
	ts.waitLog(t, "fingerprint=", time.Second)
	for _, l := range strings.Split(ts.log.String(), "\n") {
		if i := strings.Index(l, "fingerprint="); i >= 0 {
			fp1 = l[i:]
			break
		}
	}
	cfg := ts.cfg
	_ = sc.sess.Close()
	saved := totalSteps(u)
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	l := listenLoopback(t)
	cfg.Addr = l.Addr().String()
	log2 := &syncBuf{}
	cfg.Log = newTestLogger(log2)
	srv2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv2.Serve(l) }()
	defer srv2.Close()
	if !strings.Contains(log2.String(), fp1) || !strings.Contains(log2.String(), "created=false") {
		t.Fatalf("the host key changed across a restart:\n%s\nwant %s", log2.String(), fp1)
	}
	c2, err := dial(cfg.Addr, "alice", ts.keys["alice"].signer)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	openScreen(t, c2, "", 100, 30).waitFor(t, "alice's lab", 10*time.Second)
	u2 := srv2.lookupUser("alice")
	if got := totalSteps(u2); got < saved-2*len(u2.lab.Runs()) || got == 0 {
		t.Fatalf("after the restart alice's runs are at %d steps in all, they were at %d", got, saved)
	}
}

// TestPauseOnLeave: with the server flag, runs pause when their person's
// last connection ends and resume when they come back.
func TestPauseOnLeave(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.PauseOnLeave = true })
	c := ts.dial(t, "bob")
	openScreen(t, c, "", 100, 30).waitFor(t, "bob's lab", 10*time.Second)
	u := ts.lookupUser("bob")
	_ = c.Close()
	waitUntil(t, "runs paused", 10*time.Second, func() bool {
		for _, in := range u.lab.Runs() {
			if in.State != trainer.Paused {
				return false
			}
		}
		return true
	})
	s0 := totalSteps(u)
	time.Sleep(300 * time.Millisecond)
	if s := totalSteps(u); s != s0 {
		t.Fatalf("paused runs trained: %d -> %d steps", s0, s)
	}
	openScreen(t, ts.dial(t, "bob"), "", 100, 30).waitFor(t, "bob's lab", 10*time.Second)
	waitUntil(t, "runs resumed", 10*time.Second, func() bool { return totalSteps(u) > s0 })
}

// TestGuestsAndKick: with --open an unknown key is a guest with their own
// lab, nothing on disk; the teacher's admin view kicks them and their lab
// is dropped.
func TestGuestsAndKick(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Open = true })
	g := newKey(t, "x")
	gc, err := dial(ts.addr, "whoever", g.signer)
	if err != nil {
		t.Fatal(err)
	}
	defer gc.Close()
	name := guestName(g.signer.PublicKey())
	gs := openScreen(t, gc, "", 100, 30)
	gs.waitFor(t, name+"'s lab", 10*time.Second)
	admin := openScreen(t, ts.dial(t, "teacher"), "admin", 100, 30)
	admin.waitFor(t, "Classroom: who is here", 10*time.Second)
	admin.waitFor(t, name, 5*time.Second)
	admin.keys(t, "k")
	admin.waitFor(t, "Kick "+name+"?", 5*time.Second)
	admin.keys(t, "y")
	ts.waitLog(t, "msg=kick user="+name+" by=teacher connections=1", 5*time.Second)
	gs.exit(t, 10*time.Second)
	ts.waitLog(t, "msg=\"lab closed\" user="+name+" guest=true", 5*time.Second)
	if ts.lookupUser(name) != nil {
		t.Fatal("the guest's lab is still open")
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "data", "users", name)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a guest left files: %v", err)
	}
	// Students cannot open the admin view.
	if code := openScreen(t, ts.dial(t, "alice"), "admin", 80, 24).exit(t, 10*time.Second); code == 0 {
		t.Fatal("a student opened the admin view")
	}
}

// TestHugeWindowAndResizeFlood: a 100000x100000 window is clamped and the
// lab shows; a thousand resizes in a burst are coalesced and the screen
// still answers keys while training goes on.
func TestHugeWindowAndResizeFlood(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, "alice")
	sc := openScreen(t, c, "", 100000, 100000)
	sc.waitFor(t, "alice's lab", 10*time.Second)
	ts.waitLog(t, "msg=\"window clamped\" user=alice", 2*time.Second)
	u := ts.lookupUser("alice")
	s0 := totalSteps(u)
	t0 := time.Now()
	for i := 0; i < 1000; i++ {
		if err := sc.sess.WindowChange(20+i%50, 60+i%100); err != nil {
			t.Fatal(err)
		}
	}
	_ = sc.sess.WindowChange(30, 100)
	t.Logf("1000 window changes sent in %v", time.Since(t0))
	sc.keys(t, "4")
	sc.waitFor(t, "[4 Samples]", 10*time.Second)
	waitUntil(t, "training during the resize flood", 20*time.Second, func() bool { return totalSteps(u) > s0 })
}

// TestClientThatNeverReads: a client that takes no output is cut off after
// WriteTimeout; meanwhile training and other viewers go on.
func TestClientThatNeverReads(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.WriteTimeout = time.Second })
	teacher := openScreen(t, ts.dial(t, "teacher"), "", 100, 30)
	teacher.waitFor(t, "teacher's lab", 10*time.Second)
	tu := ts.lookupUser("teacher")

	c := ts.dial(t, "alice")
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestPty("xterm-256color", 200, 400, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.StdoutPipe(); err != nil { // never read
		t.Fatal(err)
	}
	if err := s.Start("follow teacher"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Wait() }()
	// Full repaints fill the SSH window quickly.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(60 * time.Millisecond):
				_ = s.WindowChange(150+i%2*50, 300+i%2*100)
			}
		}
	}()
	s0 := totalSteps(tu)
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("a client that never reads was never disconnected")
	}
	ts.waitLog(t, "why=\"client not reading\"", 2*time.Second)
	if totalSteps(tu) <= s0 {
		t.Fatal("training stalled while a client did not read")
	}
	// The teacher's own screen still answers.
	teacher.keys(t, "2")
	teacher.waitFor(t, "[2 KV cache]", 10*time.Second)
}

// TestIdleTimeout: no key press for IdleTimeout ends the session (the lab
// goes on); typing keeps it.
func TestIdleTimeout(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.IdleTimeout = 1500 * time.Millisecond })
	busy := openScreen(t, ts.dial(t, "bob"), "", 100, 30)
	idle := openScreen(t, ts.dial(t, "alice"), "", 100, 30)
	idle.waitFor(t, "alice's lab", 10*time.Second)
	stop := time.After(3 * time.Second)
	for typing := true; typing; {
		select {
		case <-stop:
			typing = false
		case <-time.After(300 * time.Millisecond):
			busy.keys(t, "1")
		}
	}
	idle.exit(t, 5*time.Second)
	ts.waitLog(t, "msg=kick user=alice", time.Second)
	if strings.Contains(ts.log.String(), "msg=kick user=bob") {
		t.Fatal("a person who was typing was disconnected as idle")
	}
	if ts.lookupUser("alice") == nil {
		t.Fatal("alice's lab closed with her idle connection")
	}
}

// TestLimits: refusals are clear and nothing is started.
func TestLimits(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Limits = Limits{Runs: 2, Params: 200_000, Context: 128, Batch: 16, DiskBytes: 1 << 30}
	})
	u, err := ts.getUser("alice", false)
	if err != nil {
		t.Fatal(err)
	}
	v := &ownView{Lab: u.lab, u: u}
	spec := u.lab.Runs()[0].Spec
	if _, err := v.Add(spec); err == nil || !strings.Contains(err.Error(), "2 unfinished runs") {
		t.Fatalf("a third run: %v", err)
	}
	_ = u.lab.Stop(u.lab.Runs()[0].ID)
	cases := []struct {
		edit func(*trainer.RunSpec)
		want string
	}{
		{func(s *trainer.RunSpec) { s.Model.Width = 512; s.Model.MLP = 0 }, "parameters per run"},
		{func(s *trainer.RunSpec) { s.Model.Context = 512; s.SeqLen = 0 }, "context 128"},
		{func(s *trainer.RunSpec) { s.Batch = 64 }, "batch 16"},
	}
	for _, c := range cases {
		s := spec
		c.edit(&s)
		if _, err := v.Add(s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("want a refusal saying %q, got %v", c.want, err)
		}
	}
	if _, err := v.Add(spec); err != nil {
		t.Fatalf("a run within the limits: %v", err)
	}
	// Disk.
	_ = u.lab.Stop(u.lab.Runs()[1].ID)
	u.limits.DiskBytes = 1
	if _, err := v.Add(spec); err == nil || !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("over the disk limit: %v", err)
	}
}

// TestGuestNamesNeverShareALab: two keys whose short guest names collide
// do not get the same lab.
func TestGuestNamesNeverShareALab(t *testing.T) {
	a, b := newKey(t, "a"), newKey(t, "b")
	u := &user{guest: true}
	if !u.sameGuest(a.signer.PublicKey()) {
		t.Fatal("a guest's own key was refused")
	}
	if u.sameGuest(b.signer.PublicKey()) {
		t.Fatal("another key got the guest's lab")
	}
}
