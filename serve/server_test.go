package serve

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mealab/mealab/trainer"
	gossh "golang.org/x/crypto/ssh"
)

func TestAuthPublicKeyOnly(t *testing.T) {
	ts := startServer(t, nil)
	// A known key gets in, whatever login name it gives.
	c := ts.dial(t, "alice")
	_ = c.Close()
	// An unknown key, a password and keyboard-interactive do not.
	stranger := newKey(t, "mallory")
	if _, err := dial(ts.addr, "alice", stranger.signer); err == nil {
		t.Fatal("an unknown key got in")
	}
	for name, m := range map[string]gossh.AuthMethod{
		"password": gossh.Password("alice"),
		"keyboard-interactive": gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
			return []string{"alice"}, nil
		}),
	} {
		_, err := gossh.Dial("tcp", ts.addr, &gossh.ClientConfig{User: "alice", Auth: []gossh.AuthMethod{m},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
		if err == nil {
			t.Fatalf("%s authentication got in", name)
		}
	}
	ts.waitLog(t, "result=rejected", 2*time.Second)
}

func TestHostKeyCreatedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "host_ed25519")
	k1, created, err := loadHostKey(p)
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != 0o600 {
		t.Fatalf("host key mode %v, want 0600", got)
	}
	k2, created, err := loadHostKey(p)
	if err != nil || created {
		t.Fatalf("second start: created=%v err=%v", created, err)
	}
	if gossh.FingerprintSHA256(k1.PublicKey()) != gossh.FingerprintSHA256(k2.PublicKey()) {
		t.Fatal("the host key changed across restarts")
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadHostKey(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable host key was accepted: %v", err)
	}
}

func TestAuthorizedKeysNames(t *testing.T) {
	a, b := newKey(t, "x"), newKey(t, "y")
	pub := func(k keyPair) string {
		return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k.signer.PublicKey())))
	}
	names, err := parseAuthorizedKeys([]byte("# class\n\n" + pub(a) + " alice@laptop\n" + pub(b) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := names[string(a.signer.PublicKey().Marshal())]; got != "alice" {
		t.Fatalf("comment alice@laptop named %q, want alice", got)
	}
	if got := names[string(b.signer.PublicKey().Marshal())]; !strings.HasPrefix(got, "key-") {
		t.Fatalf("a key without comment named %q, want key-<hex>", got)
	}
	for _, bad := range []string{pub(a) + " ../../etc", pub(a) + " .hidden", pub(a) + " guest-1", "ssh-ed25519 notbase64 x"} {
		if _, err := parseAuthorizedKeys([]byte(bad + "\n")); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
}

// TestIsolation: a person's key reaches their own lab only, whatever login
// name, command or crafted name they use.
func TestIsolation(t *testing.T) {
	ts := startServer(t, nil)
	// bob logs in claiming to be alice: he gets bob's lab.
	c, err := dial(ts.addr, "alice", ts.keys["bob"].signer)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := openScreen(t, c, "", 100, 30)
	sc.waitFor(t, "bob's lab", 10*time.Second)
	if strings.Contains(sc.text(), "alice's lab") {
		t.Fatal("bob saw alice's lab")
	}
	alice := ts.dial(t, "alice")
	openScreen(t, alice, "", 100, 30).waitFor(t, "alice's lab", 10*time.Second)
	// alice does not share: bob cannot follow her, and the answer is the
	// same as for someone who is not here.
	for _, cmd := range []string{"follow alice", "follow nobody", "follow ../alice", "follow ../../data/users/alice", "follow .", "follow ''"} {
		s := openScreen(t, c, cmd, 80, 24)
		if code := s.exit(t, 10*time.Second); code == 0 && strings.Contains(s.text(), "· alice's lab") {
			t.Fatalf("%q showed alice's lab", cmd)
		}
		if strings.Contains(s.text(), "following alice (") {
			t.Fatalf("%q followed alice", cmd)
		}
	}
	if !strings.Contains(ts.log.String(), `why=follow user=bob target=alice`) {
		t.Fatal("the refused follow was not logged")
	}
	// Commands other than the server's own are refused, exit status 2.
	for _, cmd := range []string{"ls", "sh -c id", "cat /etc/passwd", "admin", "follow"} {
		s := openScreen(t, c, cmd, 80, 24)
		code := s.exit(t, 10*time.Second)
		if code == 0 {
			t.Fatalf("%q exited 0; output %q", cmd, s.text())
		}
	}
	// Without a terminal: refused with a hint.
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.CombinedOutput("")
	if err == nil || !strings.Contains(string(out), "ssh -t") {
		t.Fatalf("a session without a PTY got %q, %v", out, err)
	}
	// On disk, each person has their own directory and nothing else.
	entries, _ := os.ReadDir(filepath.Join(ts.dir, "data", "users"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "alice,bob" {
		t.Fatalf("users on disk: %v, want alice,bob", names)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "data", "users", "bob", "sessions", "lab", "session.json")); err != nil {
		t.Fatalf("bob's session: %v", err)
	}
	// Runs may not read the server's files.
	u := ts.lookupUser("bob")
	spec := u.lab.Runs()[0].Spec
	spec.Data = trainer.DataSpec{Kind: "file", Path: "/etc/passwd"}
	v := &ownView{Lab: u.lab, u: u}
	if _, err := v.Add(spec); err == nil || !strings.Contains(err.Error(), "not open to runs") {
		t.Fatalf("a run on /etc/passwd: %v", err)
	}
}

// TestRefusals: no port forwarding, agent forwarding, X11 or SFTP; every
// refusal is logged.
func TestRefusals(t *testing.T) {
	ts := startServer(t, nil)
	c := ts.dial(t, "alice")
	if _, err := c.Dial("tcp", "127.0.0.1:22"); err == nil {
		t.Fatal("local port forwarding was allowed")
	}
	ts.waitLog(t, "why=\"channel direct-tcpip\"", 2*time.Second)
	if _, err := c.Listen("tcp", "127.0.0.1:22299"); err == nil {
		t.Fatal("remote port forwarding was allowed")
	}
	ts.waitLog(t, "why=\"request tcpip-forward\"", 2*time.Second)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.SendRequest("auth-agent-req@openssh.com", true, nil); ok {
		t.Fatal("agent forwarding was accepted")
	}
	ts.waitLog(t, "why=auth-agent-req@openssh.com", 2*time.Second)
	if ok, _ := s.SendRequest("x11-req", true, gossh.Marshal(struct {
		Single        bool
		Proto, Cookie string
		Screen        uint32
	}{false, "MIT-MAGIC-COOKIE-1", "00", 0})); ok {
		t.Fatal("X11 forwarding was accepted")
	}
	if err := s.RequestSubsystem("sftp"); err == nil {
		t.Fatal("the sftp subsystem was accepted")
	}
	ts.waitLog(t, "why=\"subsystem", 2*time.Second)
	_ = s.Close()
	s2 := openScreen(t, c, "rm -rf /", 80, 24)
	if code := s2.exit(t, 5*time.Second); code != 2 {
		t.Fatalf("exec of a command: exit %d, want 2; output %q", code, s2.text())
	}
	if !strings.Contains(s2.text(), "no shell") {
		t.Fatalf("the refusal does not say why: %q", s2.text())
	}
	ts.waitLog(t, "why=command", 2*time.Second)
}

// TestMaxConns: connections beyond --max-conns are closed at once, logged,
// and the ones inside keep working.
func TestMaxConns(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxConns = 2 })
	a := ts.dial(t, "alice")
	b := ts.dial(t, "bob")
	for i := 0; i < 20; i++ {
		t0 := time.Now()
		_, err := dial(ts.addr, "teacher", ts.keys["teacher"].signer)
		if err == nil {
			t.Fatal("a connection beyond --max-conns got in")
		}
		if d := time.Since(t0); d > 2*time.Second {
			t.Fatalf("refusing took %v", d)
		}
	}
	ts.waitLog(t, "why=max-conns", 2*time.Second)
	openScreen(t, a, "", 80, 24).waitFor(t, "alice's lab", 10*time.Second)
	_ = b.Close()
	waitUntil(t, "a free slot after bob left", 5*time.Second, func() bool {
		c, err := dial(ts.addr, "teacher", ts.keys["teacher"].signer)
		if err == nil {
			_ = c.Close()
			return true
		}
		return false
	})
}

// TestGarbageAndHandshake: bytes that are not SSH, and a peer that never
// finishes the handshake, are dropped and logged; others are unaffected.
func TestGarbageAndHandshake(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.HandshakeTimeout = time.Second })
	garbage, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	_, _ = garbage.Write([]byte("GET / HTTP/1.1\r\n\r\n\x00\xff\xfe garbage \x1b[2J"))
	silent, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ts.waitLog(t, "why=\"handshake failed\"", 5*time.Second)
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1024)
	for {
		if _, err := silent.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("a silent peer was kept past the handshake timeout")
			}
			break
		}
	}
	openScreen(t, ts.dial(t, "alice"), "", 80, 24).waitFor(t, "alice's lab", 10*time.Second)
}
