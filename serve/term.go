package serve

import (
	"io"
	"sync"
	"sync/atomic"
	"time"

	tea "charm.land/bubbletea/v2"
	"charm.land/ssh"
	"github.com/charmbracelet/colorprofile"
)

// Window sizes beyond these are clamped: a client announcing 100000x100000
// gets a large screen, not a server that draws ten billion cells.
const (
	maxCols = 400
	maxRows = 200
)

// resizeEvery coalesces window changes: a client resizing a thousand times
// a second costs at most one redraw per interval.
const resizeEvery = 50 * time.Millisecond

// term is one SSH session's terminal, shared by the screens shown one after
// the other (own lab, follow, admin): one reader of the client's bytes that
// hands them to the current screen, a writer that notes when writes stall,
// and the window size.
type term struct {
	sess ssh.Session
	env  []string
	fps  int

	mu   sync.Mutex
	in   *io.PipeWriter // the current screen's input
	prog *tea.Program
	w, h int

	lastInput  atomic.Int64 // unix nanoseconds of the last byte from the client
	writeStart atomic.Int64 // unix nanoseconds a pending write began, 0 when none
	clamped    atomic.Bool
	exitCode   int // the session's exit status (a refused follow or admin: 1)
}

func newTerm(sess ssh.Session, pty ssh.Pty, fps int) *term {
	t := &term{sess: sess, fps: fps}
	t.env = append(sess.Environ(), "TERM="+pty.Term)
	t.w, t.h = clampSize(pty.Window.Width, pty.Window.Height, &t.clamped)
	t.lastInput.Store(time.Now().UnixNano())
	return t
}

func clampSize(w, h int, clamped *atomic.Bool) (int, int) {
	if w > maxCols || h > maxRows {
		clamped.Store(true)
	}
	return min(max(w, 1), maxCols), min(max(h, 1), maxRows)
}

// pump reads the client until the session ends, feeding the current screen.
func (t *term) pump() {
	buf := make([]byte, 4096)
	for {
		n, err := t.sess.Read(buf)
		if n > 0 {
			t.lastInput.Store(time.Now().UnixNano())
			t.mu.Lock()
			in := t.in
			t.mu.Unlock()
			if in != nil {
				_, _ = in.Write(buf[:n]) // fails only when that screen ended
			}
		}
		if err != nil {
			t.mu.Lock()
			if t.in != nil {
				_ = t.in.Close()
			}
			t.mu.Unlock()
			return
		}
	}
}

// windows applies window changes, at most one per resizeEvery.
func (t *term) windows(winch <-chan ssh.Window, done <-chan struct{}) {
	var timer <-chan time.Time
	for {
		select {
		case <-done:
			return
		case w, ok := <-winch:
			if !ok {
				return
			}
			t.mu.Lock()
			t.w, t.h = clampSize(w.Width, w.Height, &t.clamped)
			t.mu.Unlock()
			if timer == nil {
				timer = time.After(resizeEvery)
			}
		case <-timer:
			timer = nil
			t.mu.Lock()
			p, w, h := t.prog, t.w, t.h
			t.mu.Unlock()
			if p != nil {
				p.Send(tea.WindowSizeMsg{Width: w, Height: h})
			}
		}
	}
}

// Write sends a frame to the client, noting when it started so a client
// that never reads can be found (stalled).
func (t *term) Write(p []byte) (int, error) {
	t.writeStart.Store(time.Now().UnixNano())
	n, err := t.sess.Write(p)
	t.writeStart.Store(0)
	return n, err
}

// stalled reports how long the pending write has waited.
func (t *term) stalled(now time.Time) time.Duration {
	s := t.writeStart.Load()
	if s == 0 {
		return 0
	}
	return now.Sub(time.Unix(0, s))
}

// idle is the time since the client's last byte.
func (t *term) idle(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, t.lastInput.Load()))
}

// run shows model until it quits or the session ends.
func (t *term) run(model tea.Model) error {
	pr, pw := io.Pipe()
	t.mu.Lock()
	w, h := t.w, t.h
	t.in = pw
	t.mu.Unlock()
	p := tea.NewProgram(model,
		tea.WithInput(pr),
		tea.WithOutput(t),
		tea.WithEnvironment(t.env),
		tea.WithColorProfile(colorprofile.Env(t.env)),
		tea.WithWindowSize(w, h),
		tea.WithContext(t.sess.Context()),
		tea.WithoutSignalHandler(),
		tea.WithFPS(t.fps),
		tea.WithFilter(func(_ tea.Model, msg tea.Msg) tea.Msg {
			if _, ok := msg.(tea.SuspendMsg); ok {
				return nil // ctrl+z cannot suspend a server
			}
			return msg
		}),
	)
	t.mu.Lock()
	t.prog = p
	t.mu.Unlock()
	_, err := p.Run()
	t.mu.Lock()
	t.prog = nil
	t.in = nil
	t.mu.Unlock()
	_ = pw.Close()
	_ = pr.Close()
	return err
}

// quit ends the current screen.
func (t *term) quit() {
	t.mu.Lock()
	p := t.prog
	t.mu.Unlock()
	if p != nil {
		p.Quit()
	}
}
