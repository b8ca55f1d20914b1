package serve

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"charm.land/ssh"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
	"github.com/mealab/mealab/tui"
	gossh "golang.org/x/crypto/ssh"
)

const commandsHelp = `mealab serve: commands
  ssh -p PORT HOST                   your own lab
  ssh -t -p PORT HOST follow NAME    NAME's lab, read-only (when NAME lets you)
  ssh -t -p PORT HOST admin          who is here, their runs, their share of the machine, kick (the teacher)
`

// middleware is the whole SSH application: it never calls next (there is
// no shell behind it).
func (s *Server) middleware(ssh.Handler) ssh.Handler { return s.handle }

// screen shows one thing on a terminal and returns what to show next (nil:
// the session ends).
type screen func(t *term) screen

func (s *Server) handle(sess ssh.Session) {
	remote := sess.RemoteAddr().String()
	conn, _ := sess.Context().Value(ssh.ContextKeyConn).(*gossh.ServerConn)
	name, guest, ok := s.who(sess.PublicKey())
	if !ok || conn == nil {
		s.log.Info("refused", "why", "key no longer authorized", "remote", remote)
		fmt.Fprintln(sess.Stderr(), "mealab: your key is not (or no longer) in the class's keys")
		_ = sess.Exit(1)
		return
	}
	log := s.log.With("user", name, "remote", remote)
	args := sess.Command()
	pty, winch, hasPty := sess.Pty()
	if !hasPty {
		log.Info("refused", "why", "no terminal", "command", sess.RawCommand())
		fmt.Fprint(sess.Stderr(), "mealab: this server shows a terminal UI; connect with a terminal (ssh -t)\n"+commandsHelp)
		_ = sess.Exit(2)
		return
	}
	var first screen
	switch {
	case len(args) == 0:
	case len(args) == 2 && args[0] == "follow":
	case len(args) == 1 && args[0] == "admin":
	default:
		log.Info("refused", "why", "command", "command", sess.RawCommand())
		fmt.Fprintf(sess.Stderr(), "mealab: %q is not a command of this server (there is no shell)\n%s", sess.RawCommand(), commandsHelp)
		_ = sess.Exit(2)
		return
	}
	u, err := s.getUser(name, guest)
	if err == nil && guest && !u.sameGuest(sess.PublicKey()) {
		err = errors.New("another guest's key has the same short name; use another key")
	}
	if err != nil {
		log.Error("opening lab", "err", err.Error())
		fmt.Fprintf(sess.Stderr(), "mealab: could not open your lab: %v\n", err)
		_ = sess.Exit(1)
		return
	}
	n := s.attach(u, conn)
	defer s.detach(u, conn)
	log.Info("connect", "guest", guest, "login", sess.User(), "key", fingerprint(sess.PublicKey()), "connections", n,
		"command", sess.RawCommand(), "cols", pty.Window.Width, "rows", pty.Window.Height)
	start := time.Now()
	defer func() { log.Info("disconnect", "after", time.Since(start).Round(time.Millisecond).String()) }()

	t := newTerm(sess, pty, s.cfg.FPS)
	if t.clamped.Load() {
		log.Info("window clamped", "cols", pty.Window.Width, "rows", pty.Window.Height)
	}
	done := make(chan struct{})
	defer close(done)
	go t.pump()
	go t.windows(winch, done)
	go s.watch(t, func() { _ = conn.Close() }, log, done)

	switch {
	case len(args) == 0:
		first = s.ownScreen(u)
	case args[0] == "follow":
		first = s.followScreen(u, args[1], true)
	default:
		first = s.adminScreen(u)
	}
	for sc := first; sc != nil; {
		if sess.Context().Err() != nil {
			return
		}
		sc = sc(t)
	}
	_ = sess.Exit(t.exitCode)
}

// watch disconnects a session that has been idle for IdleTimeout, or whose
// client has not taken a frame for WriteTimeout (a client that never reads
// must not keep a connection and its queue forever).
func (s *Server) watch(t *term, kill func(), log interface {
	Info(string, ...any)
}, done <-chan struct{}) {
	every := min(s.cfg.IdleTimeout, s.cfg.WriteTimeout) / 4
	every = max(min(every, time.Second), 10*time.Millisecond)
	tk := time.NewTicker(every)
	defer tk.Stop()
	for {
		select {
		case <-done:
			return
		case now := <-tk.C:
			if d := t.idle(now); d > s.cfg.IdleTimeout {
				log.Info("kick", "why", "idle", "idle", d.Round(time.Second).String())
				_, _ = t.sess.Stderr().Write([]byte("\r\nmealab: disconnected after " + s.cfg.IdleTimeout.String() + " without a key press; your lab goes on\r\n"))
				kill()
				return
			}
			if d := t.stalled(now); d > s.cfg.WriteTimeout {
				log.Info("kick", "why", "client not reading", "stalled", d.Round(time.Millisecond).String())
				kill()
				return
			}
		}
	}
}

// labSaver checkpoints a person's lab from the save key.
type labSaver struct{ u *user }

func (l labSaver) Save() error { return l.u.rec.SaveAll(l.u.lab) }

// ownScreen is a person's own lab. The screen's state (tab, selection,
// chart settings, dialogs) is parked in the person when they leave and
// comes back when they return; a second connection at the same time gets
// a fresh screen.
func (s *Server) ownScreen(u *user) screen {
	return func(t *term) screen {
		sc := u.takeParked()
		if sc == nil {
			sc = s.newOwnScreen(u, t)
		}
		sc.next = nil
		sc.view.sub = u.hub.subscribe()
		defer func() {
			u.hub.unsubscribe(sc.view.sub)
			u.park(sc)
		}()
		if err := t.run(sc.m); err != nil && !errors.Is(err, errEnded) {
			s.log.Debug("screen", "user", u.name, "err", err.Error())
		}
		sc.mu.Lock()
		defer sc.mu.Unlock()
		return sc.next
	}
}

// ownState is a person's own-lab screen, kept across connections.
type ownState struct {
	m    *tui.Model
	view *ownView
	mu   sync.Mutex
	next screen // set by the host keys (on the program's Cmd goroutines)
}

func (sc *ownState) setNext(n screen) {
	sc.mu.Lock()
	sc.next = n
	sc.mu.Unlock()
}

func (u *user) takeParked() *ownState {
	u.pmu.Lock()
	defer u.pmu.Unlock()
	sc := u.parked
	u.parked = nil
	return sc
}

func (u *user) park(sc *ownState) {
	u.pmu.Lock()
	u.parked = sc
	u.pmu.Unlock()
}

func (s *Server) newOwnScreen(u *user, t *term) *ownState {
	sc := &ownState{view: &ownView{Lab: u.lab, u: u}}
	opts := tui.Options{
		FPS:     s.cfg.FPS,
		Title:   u.name + "'s lab",
		NoColor: hasEnv(t.env, "NO_COLOR"),
		Detach:  true,
		// The server's own preset files are nobody's to read or write.
		NoPresetFiles: "presets are built-in here: saving a lab as a preset file is for mealab on your own machine",
	}
	opts.FrameGate = s.frames.take
	if u.guest {
		opts.SaveHint = "a guest's lab is not kept after you leave"
	} else {
		opts.Saver = labSaver{u}
	}
	opts.HostLine = func() string { return s.hostLine(u) }
	opts.Presets = presets.Names() // the built-in ones: no file of the server is listed
	opts.HostKeys = []tui.HostKey{
		{Key: "F", Help: "follow someone", Do: func(trainer.RunID) (string, bool, error) {
			sc.setNext(s.pickScreen(u))
			return "", true, nil
		}},
		{Key: "O", Help: "let others follow", Do: func(trainer.RunID) (string, bool, error) {
			on := !u.followable.Load()
			u.followable.Store(on)
			s.log.Info("followable", "user", u.name, "on", on)
			if on {
				return "others can follow your lab now (ssh ... follow " + u.name + ")", false, nil
			}
			return "others can no longer follow your lab", false, nil
		}},
	}
	if u.teacher {
		opts.HostKeys = append(opts.HostKeys, tui.HostKey{Key: "A", Help: "admin", Do: func(trainer.RunID) (string, bool, error) {
			sc.setNext(s.adminScreen(u))
			return "", true, nil
		}})
	}
	sc.m = tui.New(sc.view, opts)
	if len(u.warnings) > 0 {
		sc.m.Notice(strings.Join(u.warnings, "; "), true)
	}
	return sc
}

var errEnded = errors.New("ended")

func hasEnv(env []string, k string) bool {
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, k+"="); ok && v != "" {
			return true
		}
	}
	return false
}

// hostLine is the status-line corner of a person's screen: their share of
// the machine and how many are training.
func (s *Server) hostLine(u *user) string {
	me, n := s.sched.UsageOf(u.name)
	followers := u.hub.viewers() - s.connCount(u)
	line := fmt.Sprintf("%s · CPU share %.0f%% · %d training", u.name, 100*me.Share, n)
	if followers > 0 {
		line += fmt.Sprintf(" · %d following", followers)
	}
	if u.followable.Load() {
		line += " · followable"
	}
	return line
}

func (s *Server) connCount(u *user) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(u.conns)
}

// followScreen shows whom's lab read-only to u. direct is a session that
// started with `follow NAME`: errors end it rather than going to u's lab.
func (s *Server) followScreen(u *user, whom string, direct bool) screen {
	return func(t *term) screen {
		back := s.ownScreen(u)
		target, err := s.followable(u, whom)
		if err != nil {
			s.log.Info("refused", "why", "follow", "user", u.name, "target", whom, "err", err.Error())
			if direct {
				_, _ = t.sess.Stderr().Write([]byte("mealab: " + err.Error() + "\r\n"))
				t.exitCode = 1
				return nil
			}
			return s.pickScreenNote(u, err.Error())
		}
		s.log.Info("follow", "user", u.name, "target", target.name)
		sub := target.hub.subscribe()
		defer target.hub.unsubscribe(sub)
		// next is set by key handlers and by the watcher below, from
		// different goroutines.
		var mu sync.Mutex
		var next screen
		setNext := func(sc screen) {
			mu.Lock()
			next = sc
			mu.Unlock()
		}
		opts := tui.Options{
			FPS:      s.cfg.FPS,
			Title:    "following " + target.name + " (read-only)",
			NoColor:  hasEnv(t.env, "NO_COLOR"),
			Detach:   true,
			ReadOnly: "read-only: this is " + target.name + "'s lab; T takes a copy of the selected run into yours",
			SaveHint: "this is " + target.name + "'s lab",
		}
		opts.FrameGate = s.frames.take
		opts.HostLine = func() string { return "following " + target.name + " · you are " + u.name }
		opts.HostKeys = []tui.HostKey{
			{Key: "T", Help: "take a copy", Do: func(id trainer.RunID) (string, bool, error) {
				if id == 0 {
					return "", false, errors.New("select a run to take")
				}
				name, err := take(target, u, id)
				if err != nil {
					s.log.Info("refused", "why", "take", "user", u.name, "target", target.name, "run", int(id), "err", err.Error())
					return "", false, fmt.Errorf("take failed: %w", err)
				}
				s.log.Info("take", "user", u.name, "from", target.name, "run", int(id), "as", name)
				return "took " + name + " into your lab (b goes back to it)", false, nil
			}},
			{Key: "b", Help: "back to my lab", Do: func(trainer.RunID) (string, bool, error) {
				setNext(back)
				return "", true, nil
			}},
		}
		// Stop following as soon as the person stops sharing.
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			tk := time.NewTicker(250 * time.Millisecond)
			defer tk.Stop()
			ended := false
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					if !target.followable.Load() || s.lookupUser(target.name) != target {
						if !ended {
							s.log.Info("follow ended", "user", u.name, "target", target.name, "why", "not shared any more")
							setNext(back)
							ended = true
						}
						t.quit() // again at each tick until the screen is gone
					}
				}
			}
		}()
		_ = t.run(tui.New(&followView{lab: target.lab, sub: sub, whom: target.name}, opts))
		mu.Lock()
		defer mu.Unlock()
		return next
	}
}

// followable returns whom's lab if u may follow it.
func (s *Server) followable(u *user, whom string) (*user, error) {
	if err := sessions.ValidateName(whom); err != nil {
		return nil, fmt.Errorf("no one is called %q here", whom)
	}
	if whom == u.name {
		return nil, errors.New("that is your own lab; connect without a command to open it")
	}
	target := s.lookupUser(whom)
	if target == nil || !target.followable.Load() {
		// The same answer for "not here" and "does not share", so no one
		// can probe who is in the class.
		return nil, fmt.Errorf("%s's lab cannot be followed (not connected, or not sharing: they press O to share)", whom)
	}
	return target, nil
}
