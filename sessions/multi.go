package sessions

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Files for sessions that several processes write at once (sweeps): see
// the package documentation, "Many writers".
const (
	TaskFormat  = "mealab.task"
	TaskVersion = 1

	taskFile = "task.json"
)

// SaveTask replaces the run's task.json with meta: what the process that
// owns the run (a Slurm array task, say) says about itself, such as its
// state, host, job id and exit status. Only the run's owner writes it, so it
// needs no lock. meta must encode to a JSON object without the reserved keys
// "format" and "version".
func (r *Run) SaveTask(meta any) error {
	doc, err := encodeDoc(TaskFormat, TaskVersion, meta)
	if err != nil {
		return fmt.Errorf("save task record of run %q: %w", r.name, err)
	}
	if err := WriteFileAtomic(filepath.Join(r.dir, taskFile), doc, 0o644); err != nil {
		return fmt.Errorf("save task record of run %q: %w", r.name, err)
	}
	return nil
}

// LoadTask decodes task.json into into. It reports false, with no error,
// when the run has none (runs that no task owns).
func (r *Run) LoadTask(into any) (bool, error) {
	path := filepath.Join(r.dir, taskFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	var h struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return false, fmt.Errorf("%s is not valid: %w", path, err)
	}
	if h.Format != TaskFormat {
		return false, fmt.Errorf("%s has format %q, not %q", path, h.Format, TaskFormat)
	}
	if h.Version > TaskVersion {
		return false, &NewerVersionError{What: path, Version: h.Version}
	}
	if err := json.Unmarshal(data, into); err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return true, nil
}

// auxPath checks a relative path of valid names and returns it inside the
// session directory. "runs" and session.json belong to the package.
func (s *Session) auxPath(rel string) (string, error) {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	for _, p := range parts {
		if err := ValidateName(p); err != nil {
			return "", fmt.Errorf("session file %q: %w", rel, err)
		}
	}
	if parts[0] == runsDir || parts[0] == sessionFile {
		return "", fmt.Errorf("session file %q: %s belongs to the sessions package", rel, parts[0])
	}
	return filepath.Join(append([]string{s.dir}, parts...)...), nil
}

// AuxDir creates (if needed) the directory rel inside the session, for
// files that belong to the session but not to a run, such as a sweep's
// batch scripts and scheduler logs, and returns its path. rel is a
// slash-separated path of names that pass ValidateName and does not start
// with "runs".
func (s *Session) AuxDir(rel string) (string, error) {
	p, err := s.auxPath(rel)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", fmt.Errorf("session %q: %w", s.name, err)
	}
	return p, nil
}

// WriteAux atomically writes the file rel (see AuxDir) inside the session
// and returns its path.
func (s *Session) WriteAux(rel string, data []byte, perm os.FileMode) (string, error) {
	p, err := s.auxPath(rel)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return "", fmt.Errorf("session %q: %w", s.name, err)
	}
	return p, WriteFileAtomic(p, data, perm)
}

// ReadAux reads the file rel (see AuxDir) of the session.
func (s *Session) ReadAux(rel string) ([]byte, error) {
	p, err := s.auxPath(rel)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("session %q has no %s: %w", s.name, rel, ErrNotFound)
	}
	return b, err
}

// lockFile holds the run's writer lock (see Run.Lock).
const lockFile = "writer.lock"

// ErrLocked is wrapped by Lock when another process writes the run.
var ErrLocked = errors.New("locked")
