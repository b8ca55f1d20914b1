package serve

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
	gossh "golang.org/x/crypto/ssh"
)

// user is one person and their lab. The lab lives while the server runs
// (a guest's until they leave), whatever their connections do.
type user struct {
	name    string
	guest   bool
	key     string // a guest's key (Marshal): the one key that is this guest
	teacher bool
	limits  Limits

	lab   *trainer.Lab
	hub   *hub
	share *Share
	sess  *sessions.Session // nil for guests
	rec   *record.Recorder
	dir   string // users/<name>: everything of theirs on disk

	followable atomic.Bool
	warnings   []string
	dataOK     func(trainer.RunSpec) bool // the server's --data file check

	// Guarded by Server.mu.
	conns    map[*gossh.ServerConn]string // -> remote address
	paused   []trainer.RunID              // paused by PauseOnLeave, resumed on return
	mu       sync.Mutex                   // serialises limit checks with the calls they guard; guards key
	pmu      sync.Mutex                   // guards parked
	parked   *ownState                    // the own-lab screen of the last connection that left
	diskUsed atomic.Int64
}

// sessionName is the one session each person's lab records into.
const sessionName = "lab"

// openUser builds name's lab: a guest's in memory only, anyone else's
// recording into users/<name>/sessions/lab (and resumed from it).
func (s *Server) openUser(name string, guest bool) (*user, error) {
	if err := sessions.ValidateName(name); err != nil {
		return nil, err
	}
	u := &user{name: name, guest: guest, teacher: !guest && name == s.cfg.Teacher, conns: map[*gossh.ServerConn]string{}}
	u.limits = s.cfg.Limits
	if guest {
		u.limits = *s.cfg.GuestLimits
	}
	u.followable.Store(u.teacher)
	u.dataOK = s.dataFileAllowed
	weight := 1.0
	if u.teacher {
		weight = s.cfg.TeacherWeight
	}
	u.share = s.sched.Join(name, weight)
	opts := trainer.Options{Compute: s.cfg.Compute, Gate: u.share}
	existed := false
	if !guest {
		u.dir = filepath.Join(s.cfg.DataDir, "users", name)
		store, err := sessions.Open(filepath.Join(u.dir, "sessions"))
		if err != nil {
			return nil, err
		}
		sess, err := store.Load(sessionName)
		switch {
		case err == nil:
			existed = true
		case errors.Is(err, sessions.ErrNotFound):
			if sess, err = store.Create(sessionName); err != nil {
				return nil, err
			}
			if err := sess.SaveMeta(record.SessionMeta{Preset: s.cfg.Preset, Note: "mealab serve: " + name}); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
		u.sess, u.rec = sess, record.New(sess)
		opts.Sink, opts.OnCheckpoint, opts.CheckpointEvery = u.rec.Record, u.rec.Checkpoint, s.cfg.CheckpointEvery
		u.measureDisk()
	}
	u.lab = trainer.NewLab(opts)
	u.hub = newHub(u.lab)
	if existed {
		w, err := record.Resume(u.sess, u.lab, u.rec, false)
		u.warnings = append(u.warnings, w...)
		if err != nil {
			u.warnings = append(u.warnings, "could not reopen your lab: "+err.Error())
		}
		return u, nil
	}
	p, err := presets.Load(s.cfg.Preset)
	if err != nil {
		return u, nil
	}
	ex, err := p.Expand(presets.Options{Overrides: s.cfg.Overrides})
	if err != nil {
		u.warnings = append(u.warnings, err.Error())
		return u, nil
	}
	for _, sp := range ex.Runs {
		if err := u.check(sp, 1); err != nil {
			u.warnings = append(u.warnings, fmt.Sprintf("preset run %s not started: %v", sp.Name, err))
			continue
		}
		if _, err := u.lab.Add(sp); err != nil {
			u.warnings = append(u.warnings, fmt.Sprintf("preset run %s: %v", sp.Name, err))
		}
	}
	return u, nil
}

// close stops the lab and, for a recorded lab, checkpoints every run.
func (u *user) close() error {
	var err error
	if u.rec != nil {
		err = u.rec.SaveAll(u.lab)
	}
	u.lab.Close()
	<-u.hub.done
	if u.rec != nil {
		err = errors.Join(err, u.rec.Close())
	}
	return err
}

// measureDisk updates the size of the person's sessions directory.
func (u *user) measureDisk() {
	if u.dir == "" {
		return
	}
	var n int64
	_ = filepath.WalkDir(u.dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	u.diskUsed.Store(n)
}

// active counts runs that are not finished.
func (u *user) active() int {
	n := 0
	for _, in := range u.lab.Runs() {
		if !in.State.Finished() {
			n++
		}
	}
	return n
}

// errLimit wraps every refusal for a limit, so tests and logs can tell them.
var errLimit = errors.New("limit")

type limitError struct{ msg string }

func (e limitError) Error() string { return e.msg }
func (e limitError) Unwrap() error { return errLimit }

// check says whether a run of spec (adding newRuns runs) fits the limits.
func (u *user) check(spec trainer.RunSpec, newRuns int) error {
	l := u.limits
	spec = spec.Normalized()
	if spec.Data.Kind == "file" && (u.dataOK == nil || !u.dataOK(spec)) {
		return limitError{"this server trains on its built-in data (and its --data file) only; text files of the server are not open to runs"}
	}
	if l.Runs > 0 && newRuns > 0 {
		if n := u.active(); n+newRuns > l.Runs {
			return limitError{fmt.Sprintf("limit: %d unfinished runs per person (you have %d); stop (X) or remove (D) one first", l.Runs, n)}
		}
	}
	if l.Params > 0 {
		if err := spec.Model.Validate(); err == nil {
			if n := model.NewLayout(spec.Model).Size; n > l.Params {
				return limitError{fmt.Sprintf("limit: %d parameters per run, this run has %d; make it narrower or shallower", l.Params, n)}
			}
		}
	}
	if l.Context > 0 && spec.Model.Context > l.Context {
		return limitError{fmt.Sprintf("limit: context %d at most, this run asks %d", l.Context, spec.Model.Context)}
	}
	if l.Batch > 0 && spec.Batch > l.Batch {
		return limitError{fmt.Sprintf("limit: batch %d at most, this run asks %d", l.Batch, spec.Batch)}
	}
	if l.DiskBytes > 0 && u.dir != "" {
		u.measureDisk()
		if used := u.diskUsed.Load(); used > l.DiskBytes {
			return limitError{fmt.Sprintf("limit: your sessions use %d MiB of %d MiB; remove runs (D) to make room", used>>20, l.DiskBytes>>20)}
		}
	}
	return nil
}

// dataFileAllowed reports whether a file-data spec names the server's own
// --data file (the only file runs may read).
func (s *Server) dataFileAllowed(spec trainer.RunSpec) bool {
	if spec.Data.Kind != "file" || s.cfg.DataFile == "" {
		return false
	}
	a, err1 := filepath.Abs(spec.Data.Path)
	b, err2 := filepath.Abs(s.cfg.DataFile)
	if err1 != nil || err2 != nil {
		return false
	}
	sa, err1 := os.Stat(a)
	sb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}
