package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"
)

// On-disk names and versions. See the package documentation for the layout.
const (
	SessionFormat  = "mealab.session"
	SessionVersion = 1
	RunFormat      = "mealab.run"
	RunVersion     = 1

	sessionFile = "session.json"
	runsDir     = "runs"
	runFile     = "run.json"
	metricsFile = "metrics.jsonl"
	eventsFile  = "events.jsonl"
	samplesFile = "samples.jsonl"
	ckptDir     = "ckpt"
)

// sessionDoc is the content of session.json.
type sessionDoc struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	Name    string          `json:"name"`
	Created time.Time       `json:"created"`
	Updated time.Time       `json:"updated"`
	Meta    json.RawMessage `json:"meta,omitempty"`
}

func parseSessionDoc(data []byte, what string) (sessionDoc, error) {
	var doc sessionDoc
	if len(bytes.TrimSpace(data)) == 0 {
		return doc, fmt.Errorf("%s is empty; the session is damaged (restore it from a backup or remove it)", what)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return sessionDoc{}, fmt.Errorf("%s is not valid: %w; the session is damaged (restore it from a backup or remove it)", what, err)
	}
	if doc.Format != SessionFormat {
		return sessionDoc{}, fmt.Errorf("%s has format %q, not %q; this directory is not a mealab session", what, doc.Format, SessionFormat)
	}
	if doc.Version > SessionVersion {
		return sessionDoc{}, &NewerVersionError{What: what, Version: doc.Version}
	}
	if doc.Version < 1 {
		return sessionDoc{}, fmt.Errorf("%s has invalid version %d; the session is damaged", what, doc.Version)
	}
	if bytes.Equal(bytes.TrimSpace(doc.Meta), []byte("null")) {
		doc.Meta = nil
	}
	return doc, nil
}

func readSessionDoc(path string) (sessionDoc, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return sessionDoc{}, fmt.Errorf("%s is missing; the directory is not a mealab session (remove it or restore the file)", path)
		}
		return sessionDoc{}, fmt.Errorf("read %s: %w", path, err)
	}
	return parseSessionDoc(data, path)
}

// Session is one directory in a Store: a named experiment holding runs.
// Its methods are safe for concurrent use.
type Session struct {
	mu   sync.Mutex
	name string
	dir  string
	doc  sessionDoc
}

// Name returns the session's name.
func (s *Session) Name() string { return s.name }

// Dir returns the session's directory.
func (s *Session) Dir() string { return s.dir }

// Created returns when the session was created.
func (s *Session) Created() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doc.Created
}

// Updated returns when session.json was last written.
func (s *Session) Updated() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.doc.Updated
}

func (s *Session) writeDoc() error {
	b, err := json.MarshalIndent(s.doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", sessionFile, err)
	}
	return WriteFileAtomic(filepath.Join(s.dir, sessionFile), append(b, '\n'), 0o644)
}

// SaveMeta stores meta, encoded as JSON, as the session's free-form
// metadata, replacing what was there.
func (s *Session) SaveMeta(meta any) error {
	b, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("save metadata of session %q: encode: %w", s.name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.doc
	s.doc.Meta = b
	s.doc.Updated = time.Now().UTC()
	if err := s.writeDoc(); err != nil {
		s.doc = old
		return fmt.Errorf("save metadata of session %q: %w", s.name, err)
	}
	return nil
}

// Meta decodes the session's metadata into into. If none was saved, into is
// left unchanged and Meta returns nil.
func (s *Session) Meta(into any) error {
	s.mu.Lock()
	raw := s.doc.Meta
	s.mu.Unlock()
	if len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("decode metadata of session %q: %w", s.name, err)
	}
	return nil
}

// RawMeta returns the session's metadata as stored, or nil.
func (s *Session) RawMeta() json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(json.RawMessage(nil), s.doc.Meta...)
}

// Runs returns the names of the session's runs, sorted.
func (s *Session) Runs() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, runsDir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list runs of session %q: %w", s.name, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && ValidateName(e.Name()) == nil {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// CreateRun makes a new run directory and writes runMeta to its run.json.
// runMeta must encode to a JSON object (or be nil); see Run.SaveMeta.
//
// The run appears complete or not at all: it is assembled in a hidden
// temporary directory and renamed into place, so a reader listing the
// session while another process creates a run never sees a run without its
// run.json. Creating a run writes nothing outside its own directory (not
// session.json), so many processes can add runs to one session at once.
func (s *Session) CreateRun(name string, runMeta any) (*Run, error) {
	parent := filepath.Join(s.dir, runsDir)
	dir, err := child(parent, name)
	if err != nil {
		return nil, fmt.Errorf("create run: %w", err)
	}
	doc, err := encodeRunDoc(runMeta)
	if err != nil {
		return nil, fmt.Errorf("create run %q: %w", name, err)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create run %q: %w", name, err)
	}
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("create run %q in session %q: %w; pick another name or open it with OpenRun", name, s.name, ErrExists)
	}
	if err := createDirAtomic(dir, func(tmp string) error {
		return WriteFileAtomic(filepath.Join(tmp, runFile), doc, 0o644)
	}); err != nil {
		if errors.Is(err, ErrExists) {
			return nil, fmt.Errorf("create run %q in session %q: %w; pick another name or open it with OpenRun", name, s.name, ErrExists)
		}
		return nil, fmt.Errorf("create run %q: %w", name, err)
	}
	return newRun(s, name, dir), nil
}

// OpenRun opens an existing run, for reading or to continue appending.
func (s *Session) OpenRun(name string) (*Run, error) {
	parent := filepath.Join(s.dir, runsDir)
	dir, err := child(parent, name)
	if err != nil {
		return nil, fmt.Errorf("open run: %w", err)
	}
	if _, err := os.Lstat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open run %q in session %q: %w", name, s.name, ErrNotFound)
		}
		return nil, fmt.Errorf("open run %q: %w", name, err)
	}
	real, err := within(s.dir, dir)
	if err != nil {
		return nil, fmt.Errorf("open run %q: %w", name, err)
	}
	r := newRun(s, name, real)
	if _, err := r.readDoc(); err != nil {
		return nil, fmt.Errorf("open run %q: %w", name, err)
	}
	return r, nil
}
