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
	"time"
)

// Removal records. See "Removed runs" in the package documentation.
const (
	RemovedFormat  = "mealab.removed"
	RemovedVersion = 1

	removedFile = "removed.json"
	removedDir  = "removed"
)

// removedDoc is the content of removed.json.
type removedDoc struct {
	Format  string          `json:"format"`
	Version int             `json:"version"`
	Run     string          `json:"run"`
	Removed time.Time       `json:"removed"`
	Record  json.RawMessage `json:"record,omitempty"`
}

// RemovedRun is a run removed from a session, as RemovedRuns lists it.
type RemovedRun struct {
	Name    string          // the run's name when it was removed
	Dir     string          // where its files are kept now
	Removed time.Time       // when
	Record  json.RawMessage // what the caller recorded with the removal
}

// isRemoved reports whether run directory dir holds a removal record.
func isRemoved(dir string) bool {
	_, err := os.Lstat(filepath.Join(dir, removedFile))
	return err == nil
}

// RemoveRun takes run name out of the session for good: it writes the
// removal record (record, encoded as JSON, is kept in it) into the run's
// directory, then moves the directory under removed/, where nothing lists
// or reopens it but its files stay for a person to inspect. Close the Run
// first so that its buffered lines are on disk. A crash between the two
// steps leaves the record in runs/<name>/, and readers treat that run as
// removed too (CreateRun of the same name finishes the move).
func (s *Session) RemoveRun(name string, record any) error {
	parent := filepath.Join(s.dir, runsDir)
	dir, err := child(parent, name)
	if err != nil {
		return fmt.Errorf("remove run: %w", err)
	}
	if _, err := os.Lstat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove run %q from session %q: %w", name, s.name, ErrNotFound)
		}
		return fmt.Errorf("remove run %q: %w", name, err)
	}
	raw, err := json.Marshal(record)
	if err != nil {
		return fmt.Errorf("remove run %q: encode the record: %w", name, err)
	}
	doc, err := json.MarshalIndent(removedDoc{Format: RemovedFormat, Version: RemovedVersion, Run: name,
		Removed: time.Now().UTC(), Record: raw}, "", "  ")
	if err != nil {
		return fmt.Errorf("remove run %q: %w", name, err)
	}
	if err := WriteFileAtomic(filepath.Join(dir, removedFile), append(doc, '\n'), 0o644); err != nil {
		return fmt.Errorf("remove run %q: %w", name, err)
	}
	// Like creating a run, removing one leaves session.json alone, so
	// several writers never race on it.
	return s.moveRemoved(name, dir)
}

// moveRemoved moves a run directory holding a removal record under
// removed/, with the time in its name so that runs removed under the same
// name never collide.
func (s *Session) moveRemoved(name, dir string) error {
	to := filepath.Join(s.dir, removedDir)
	if err := os.MkdirAll(to, 0o755); err != nil {
		return fmt.Errorf("remove run %q: %w", name, err)
	}
	dst := filepath.Join(to, fmt.Sprintf("%s.%d", name, time.Now().UnixNano()))
	if err := os.Rename(dir, dst); err != nil {
		return fmt.Errorf("remove run %q: the run is marked removed but stays in %s: %w", name, dir, err)
	}
	if err := syncDir(filepath.Join(s.dir, runsDir)); err != nil {
		return fmt.Errorf("remove run %q: %w", name, err)
	}
	return syncDir(to)
}

// readRemovedDoc reads and checks a removal record.
func readRemovedDoc(path string) (removedDoc, error) {
	var doc removedDoc
	data, err := os.ReadFile(path)
	if err != nil {
		return doc, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return doc, fmt.Errorf("%s is not valid: %w", path, err)
	}
	if doc.Format != RemovedFormat {
		return doc, fmt.Errorf("%s has format %q, not %q", path, doc.Format, RemovedFormat)
	}
	if doc.Version > RemovedVersion {
		return doc, &NewerVersionError{What: path, Version: doc.Version}
	}
	if doc.Version < 1 {
		return doc, fmt.Errorf("%s has invalid version %d", path, doc.Version)
	}
	return doc, nil
}

// RemovedRuns lists the runs removed from the session, oldest removal
// first. A record that cannot be read is listed by its directory name.
func (s *Session) RemovedRuns() ([]RemovedRun, error) {
	var out []RemovedRun
	add := func(dir string) {
		rr := RemovedRun{Name: filepath.Base(dir), Dir: dir}
		if doc, err := readRemovedDoc(filepath.Join(dir, removedFile)); err == nil {
			rr.Name, rr.Removed = doc.Run, doc.Removed
			var b bytes.Buffer
			if json.Compact(&b, doc.Record) == nil {
				rr.Record = b.Bytes()
			}
		}
		out = append(out, rr)
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, removedDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list removed runs of session %q: %w", s.name, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			add(filepath.Join(s.dir, removedDir, e.Name()))
		}
	}
	// Removals a crash left half done.
	live, err := os.ReadDir(filepath.Join(s.dir, runsDir))
	if err == nil {
		for _, e := range live {
			if dir := filepath.Join(s.dir, runsDir, e.Name()); e.IsDir() && isRemoved(dir) {
				add(dir)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Removed.Before(out[j].Removed) })
	return out, nil
}
