package serve

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/mealab/mealab/trainer"

	"charm.land/ssh"
	"charm.land/wish/v2"
	gossh "golang.org/x/crypto/ssh"
)

// Server is a running classroom server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	keys   *keyring // nil when only guests come in
	srv    *ssh.Server
	sched  *Scheduler
	frames *frameBudget
	conns  atomic.Int64

	mu      sync.Mutex
	users   map[string]*user
	opening map[string]chan struct{} // labs being opened, so two connections share one
	closed  bool
}

// New checks cfg, reads the keys file and loads (or creates) the host key.
func New(cfg Config) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Log, sched: NewScheduler(cfg.Slots), frames: newFrameBudget(cfg.Frames), users: map[string]*user{}, opening: map[string]chan struct{}{}}
	if cfg.AuthorizedKeys != "" {
		if s.keys, err = newKeyring(cfg.AuthorizedKeys); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	hostKeyPath := filepath.Join(cfg.DataDir, "host_ed25519")
	signer, created, err := loadHostKey(hostKeyPath)
	if err != nil {
		return nil, err
	}
	s.log.Info("host key", "path", hostKeyPath, "created", created, "fingerprint", gossh.FingerprintSHA256(signer.PublicKey()))
	srv, err := wish.NewServer(
		wish.WithAddress(cfg.Addr),
		wish.WithVersion("mealab"),
		wish.WithPublicKeyAuth(s.auth),
		wish.WithMiddleware(s.middleware),
		func(srv *ssh.Server) error {
			srv.AddHostKey(signer)
			srv.HandshakeTimeout = cfg.HandshakeTimeout
			srv.ConnCallback = s.admit
			srv.ConnectionCloseCallback = func(net.Conn) { s.conns.Add(-1) }
			srv.ConnectionFailedCallback = func(c net.Conn, err error) {
				s.log.Info("refused", "why", "handshake failed", "remote", c.RemoteAddr().String(), "err", err.Error())
			}
			srv.ChannelHandlers = map[string]ssh.ChannelHandler{"session": s.sessionChannel, "default": s.refuseChannel}
			srv.RequestHandlers = map[string]ssh.RequestHandler{"default": s.refuseRequest}
			srv.SubsystemHandlers = map[string]ssh.SubsystemHandler{}
			srv.LocalPortForwardingCallback = nil
			srv.ReversePortForwardingCallback = nil
			return nil
		},
	)
	if err != nil {
		return nil, err
	}
	s.srv = srv
	return s, nil
}

// Serve accepts connections on l until Close.
func (s *Server) Serve(l net.Listener) error {
	s.log.Info("listening", "addr", l.Addr().String(), "open", s.cfg.Open, "teacher", s.cfg.Teacher, "max_conns", s.cfg.MaxConns)
	err := s.srv.Serve(l)
	if errors.Is(err, ssh.ErrServerClosed) {
		return nil
	}
	return err
}

// ListenAndServe listens on the configured address.
func (s *Server) ListenAndServe() error {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Close disconnects everyone, checkpoints every lab and stops them.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	err := s.srv.Close()
	s.mu.Lock()
	users := make([]*user, 0, len(s.users))
	for _, u := range s.users {
		users = append(users, u)
	}
	s.users = map[string]*user{}
	s.mu.Unlock()
	for _, u := range users {
		if cerr := u.close(); cerr != nil {
			s.log.Warn("saving lab", "user", u.name, "err", cerr.Error())
			err = errors.Join(err, cerr)
		}
	}
	return err
}

func fingerprint(k gossh.PublicKey) string { return gossh.FingerprintSHA256(k) }

// auth is the only way in: a public key. Known keys are their person;
// unknown ones are guests with Open, refused otherwise.
func (s *Server) auth(ctx ssh.Context, key ssh.PublicKey) bool {
	remote := ctx.RemoteAddr().String()
	if s.keys != nil {
		if err := s.keys.reload(false); err != nil {
			s.log.Warn("authorized keys", "err", err.Error())
		}
		if name, ok := s.keys.lookup(key); ok {
			s.log.Debug("auth", "result", "accepted", "user", name, "login", ctx.User(), "remote", remote, "key", fingerprint(key))
			return true
		}
	}
	if s.cfg.Open {
		s.log.Debug("auth", "result", "guest", "user", guestName(key), "remote", remote, "key", fingerprint(key))
		return true
	}
	s.log.Info("auth", "result", "rejected", "login", ctx.User(), "remote", remote, "key", fingerprint(key))
	return false
}

// who names the person behind an authenticated session's key.
func (s *Server) who(key gossh.PublicKey) (name string, guest bool, ok bool) {
	if key == nil {
		return "", false, false
	}
	if s.keys != nil {
		if name, ok := s.keys.lookup(key); ok {
			return name, false, true
		}
	}
	if s.cfg.Open {
		return guestName(key), true, true
	}
	return "", false, false
}

// sameGuest reports whether key is the key this guest's lab was opened
// for (the first one to come with that name), so two guests whose short
// names collide never share a lab.
func (u *user) sameGuest(key gossh.PublicKey) bool {
	if key == nil {
		return false
	}
	k := string(key.Marshal())
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.key == "" {
		u.key = k
	}
	return u.key == k
}

// admit turns connections beyond MaxConns away before any SSH work.
func (s *Server) admit(ctx ssh.Context, c net.Conn) net.Conn {
	if n := s.conns.Add(1); n > int64(s.cfg.MaxConns) {
		s.conns.Add(-1)
		s.log.Info("refused", "why", "max-conns", "remote", c.RemoteAddr().String(), "max_conns", s.cfg.MaxConns)
		_, _ = c.Write([]byte("SSH-2.0-mealab\r\nmealab: the server is full; try again later\r\n"))
		return nil
	}
	return c
}

// refuseChannel rejects every channel but sessions (port forwarding,
// agent and X11 channels) and logs it.
func (s *Server) refuseChannel(_ *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, _ ssh.Context) {
	s.log.Info("refused", "why", "channel "+ch.ChannelType(), "user", s.connUser(conn), "remote", conn.RemoteAddr().String())
	_ = ch.Reject(gossh.Prohibited, "mealab serve offers its lab only; "+ch.ChannelType()+" is not allowed")
}

// refuseRequest answers global requests (tcpip-forward and the like) with
// no; keepalives are answered without a log line.
func (s *Server) refuseRequest(ctx ssh.Context, _ *ssh.Server, req *gossh.Request) (bool, []byte) {
	if req.Type != "keepalive@openssh.com" && req.Type != "no-more-sessions@openssh.com" {
		s.log.Info("refused", "why", "request "+req.Type, "login", ctx.User(), "remote", ctx.RemoteAddr().String())
	}
	return false, nil
}

// sessionChannel accepts a session channel with its requests filtered:
// agent forwarding, X11 and subsystems (SFTP) are refused and logged before
// the session sees them.
func (s *Server) sessionChannel(srv *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
	ssh.DefaultSessionHandler(srv, conn, filtered{NewChannel: ch, s: s, conn: conn}, ctx)
}

type filtered struct {
	gossh.NewChannel
	s    *Server
	conn *gossh.ServerConn
}

func (f filtered) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := f.NewChannel.Accept()
	if err != nil {
		return ch, reqs, err
	}
	out := make(chan *gossh.Request)
	go func() {
		defer close(out)
		for r := range reqs {
			switch r.Type {
			case "auth-agent-req@openssh.com", "x11-req", "subsystem":
				what := r.Type
				if r.Type == "subsystem" && len(r.Payload) > 4 {
					what += " " + string(r.Payload[4:])
				}
				f.s.log.Info("refused", "why", what, "user", f.s.connUser(f.conn), "remote", f.conn.RemoteAddr().String())
				_ = r.Reply(false, nil)
				continue
			}
			out <- r
		}
	}()
	return ch, out, nil
}

// connUser names the person of an authenticated connection, for logs.
func (s *Server) connUser(conn *gossh.ServerConn) string {
	if conn.Permissions == nil {
		return ""
	}
	raw, err := base64.StdEncoding.DecodeString(conn.Permissions.Extensions["gliderlabs/ssh.PublicKey"])
	if err != nil {
		return ""
	}
	k, err := gossh.ParsePublicKey(raw)
	if err != nil {
		return ""
	}
	name, _, _ := s.who(k)
	return name
}

// getUser returns name's lab, opening it on first use. Two connections of
// one person share one lab.
func (s *Server) getUser(name string, guest bool) (*user, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errors.New("the server is shutting down")
		}
		if u := s.users[name]; u != nil {
			s.mu.Unlock()
			return u, nil
		}
		if wait := s.opening[name]; wait != nil {
			s.mu.Unlock()
			<-wait
			continue
		}
		done := make(chan struct{})
		s.opening[name] = done
		s.mu.Unlock()
		u, err := s.openUser(name, guest)
		s.mu.Lock()
		delete(s.opening, name)
		close(done)
		if err == nil {
			s.users[name] = u
		}
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		s.log.Info("lab opened", "user", name, "guest", guest, "runs", len(u.lab.Runs()), "warnings", len(u.warnings))
		return u, nil
	}
}

// lookupUser returns a person's open lab, or nil.
func (s *Server) lookupUser(name string) *user {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.users[name]
}

// attach counts conn as one of u's connections; it returns how many u has.
func (s *Server) attach(u *user, conn *gossh.ServerConn) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	u.conns[conn] = conn.RemoteAddr().String()
	if len(u.conns) == 1 && len(u.paused) > 0 {
		ids := u.paused
		u.paused = nil
		go func() {
			for _, id := range ids {
				_ = u.lab.Resume(id)
			}
		}()
	}
	return len(u.conns)
}

// detach forgets conn; after a person's last connection a guest's lab is
// closed and forgotten, and with PauseOnLeave a person's running runs are
// paused until they come back.
func (s *Server) detach(u *user, conn *gossh.ServerConn) {
	s.mu.Lock()
	delete(u.conns, conn)
	last := len(u.conns) == 0
	var closeGuest bool
	if last && u.guest && s.users[u.name] == u {
		delete(s.users, u.name)
		closeGuest = true
	}
	s.mu.Unlock()
	if !last {
		return
	}
	if closeGuest {
		_ = u.close()
		s.sched.Leave(u.name)
		s.log.Info("lab closed", "user", u.name, "guest", true)
		return
	}
	if s.cfg.PauseOnLeave {
		var ids []trainer.RunID
		for _, in := range u.lab.Runs() {
			if in.State == trainer.Running {
				if u.lab.Pause(in.ID) == nil {
					ids = append(ids, in.ID)
				}
			}
		}
		s.mu.Lock()
		if len(u.conns) == 0 {
			u.paused = ids
		}
		s.mu.Unlock()
	}
}

// kick disconnects every connection of name; it returns how many.
func (s *Server) kick(name, by string) int {
	s.mu.Lock()
	u := s.users[name]
	var conns []*gossh.ServerConn
	if u != nil {
		for c := range u.conns {
			conns = append(conns, c)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	s.log.Info("kick", "user", name, "by", by, "connections", len(conns))
	return len(conns)
}

// Person is one line of the admin view.
type Person struct {
	Name        string
	Guest       bool
	Conns       int
	Runs        int // in the lab
	Running     int
	Share       float64 // of the step time, last seconds
	Followable  bool
	Steps       int64
	DiskBytes   int64
	Connections []string   // remote addresses
	RunList     []RunBrief // the runs in the lab, in the lab's order
}

// RunBrief is one run as the admin view shows it: the numbers are the
// run's at Step.
type RunBrief struct {
	Name       string
	State      trainer.State
	Step       int
	Steps      int
	Loss       float64
	DivergedAt int
}

// People lists everyone with a lab open, by name.
func (s *Server) People() []Person {
	usage := map[string]Usage{}
	for _, u := range s.sched.Usage() {
		usage[u.User] = u
	}
	s.mu.Lock()
	users := make([]*user, 0, len(s.users))
	conns := map[*user][]string{}
	for _, u := range s.users {
		users = append(users, u)
		for _, a := range u.conns {
			conns[u] = append(conns[u], a)
		}
	}
	s.mu.Unlock()
	out := make([]Person, 0, len(users))
	for _, u := range users {
		p := Person{Name: u.name, Guest: u.guest, Conns: len(conns[u]), Followable: u.followable.Load(),
			Share: usage[u.name].Share, Steps: usage[u.name].Steps, DiskBytes: u.diskUsed.Load(), Connections: conns[u]}
		for _, in := range u.lab.Runs() {
			p.Runs++
			if in.State == trainer.Running {
				p.Running++
			}
			p.RunList = append(p.RunList, RunBrief{Name: in.Name, State: in.State, Step: in.Step, Steps: in.Steps, Loss: in.Loss, DivergedAt: in.DivergedAt})
		}
		sort.Strings(p.Connections)
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
