package serve

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/mealab/mealab/cpu"
	"github.com/mealab/mealab/presets"
	gossh "golang.org/x/crypto/ssh"
)

// Tests listen on loopback ports 22210-22299 only.
func listenLoopback(t testing.TB) net.Listener {
	t.Helper()
	for p := 22210; p < 22300; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			return l
		}
	}
	t.Fatal("no free loopback port in 22210-22299")
	return nil
}

// syncBuf is a log sink tests can read while the server writes.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type keyPair struct {
	name   string
	signer gossh.Signer
}

func newKey(t testing.TB, name string) keyPair {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return keyPair{name: name, signer: s}
}

func (k keyPair) line() string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k.signer.PublicKey()))) + " " + k.name + "@laptop\n"
}

type testServer struct {
	*Server
	addr string
	log  *syncBuf
	dir  string
	keys map[string]keyPair
}

// quickLong is the quick preset with enough steps that runs train for the
// whole test.
var quickLong = []presets.Setting{{Key: "steps", Value: "100000"}, {Key: "eval_every", Value: "20"}, {Key: "sample_every", Value: "0"}}

// startServer runs a server on loopback with keys for teacher, alice and
// bob; edit changes the config first.
func startServer(t testing.TB, edit func(*Config)) *testServer {
	t.Helper()
	cpu.SetThreads(1)
	dir := t.TempDir()
	ts := &testServer{log: &syncBuf{}, dir: dir, keys: map[string]keyPair{}}
	var file strings.Builder
	for _, n := range []string{"teacher", "alice", "bob"} {
		k := newKey(t, n)
		ts.keys[n] = k
		file.WriteString(k.line())
	}
	keysPath := filepath.Join(dir, "class_keys")
	if err := os.WriteFile(keysPath, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	l := listenLoopback(t)
	cfg := Config{
		Addr: l.Addr().String(), AuthorizedKeys: keysPath, DataDir: filepath.Join(dir, "data"),
		Preset: "quick", Overrides: quickLong, Compute: cpu.Compute{}, FPS: 10,
		Log: slog.New(slog.NewTextHandler(ts.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server, ts.addr = srv, l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", ts.log.String())
		}
	})
	return ts
}

func (ts *testServer) waitLog(t testing.TB, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(ts.log.String(), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("log never said %q", want)
}

func dial(addr string, login string, signers ...gossh.Signer) (*gossh.Client, error) {
	return gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            login,
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signers...)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         5 * time.Second,
	})
}

func (ts *testServer) dial(t testing.TB, who string) *gossh.Client {
	t.Helper()
	c, err := dial(ts.addr, who, ts.keys[who].signer)
	if err != nil {
		t.Fatalf("%s: %v", who, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// clientScreen is a client terminal: a session with a PTY whose output is kept.
type clientScreen struct {
	sess  *gossh.Session
	stdin io.WriteCloser
	mu    sync.Mutex
	out   bytes.Buffer
	done  chan error
}

func openScreen(t testing.TB, c *gossh.Client, cmd string, w, h int) *clientScreen {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	sc := &clientScreen{sess: s, done: make(chan error, 1)}
	if err := s.RequestPty("xterm-256color", h, w, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if sc.stdin, err = s.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	s.Stdout = sc
	s.Stderr = sc
	if cmd == "" {
		err = s.Shell()
	} else {
		err = s.Start(cmd)
	}
	if err != nil {
		t.Fatal(err)
	}
	go func() { sc.done <- s.Wait() }()
	t.Cleanup(func() { _ = s.Close() })
	return sc
}

func (s *clientScreen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.Write(p)
}

// text is everything drawn so far, without escape sequences.
func (s *clientScreen) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ansi.Strip(s.out.String())
}

func (s *clientScreen) waitFor(t testing.TB, want string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(s.text(), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("screen never showed %q; it showed:\n%s", want, tail(s.text(), 2000))
}

func (s *clientScreen) keys(t testing.TB, k string) {
	t.Helper()
	if _, err := s.stdin.Write([]byte(k)); err != nil {
		t.Fatal(err)
	}
}

// exit waits for the session to end and returns its exit status (-1 when
// it ended without one).
func (s *clientScreen) exit(t testing.TB, d time.Duration) int {
	t.Helper()
	select {
	case err := <-s.done:
		var ee *gossh.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.ExitStatus()
		default:
			return -1
		}
	case <-time.After(d):
		t.Fatalf("session did not end within %v", d)
		return 0
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// waitUntil polls cond.
func waitUntil(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func newTestLogger(b *syncBuf) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
