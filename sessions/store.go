package sessions

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ErrNotFound is wrapped by errors for sessions, runs and checkpoints that
// do not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is wrapped by errors for sessions and runs that already exist.
var ErrExists = errors.New("already exists")

// Store is a directory of sessions, one subdirectory each.
type Store struct {
	root string // Absolute, with symlinks resolved.
}

// Info summarises one session for listings. A session whose session.json
// cannot be read still appears, with Err saying why.
type Info struct {
	Name         string
	Runs         int
	Bytes        int64     // Total size of the session's files.
	LastActivity time.Time // Newest modification time of any file in it.
	Err          error
}

// Open opens the store rooted at dir, creating the directory if needed.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("open session store: no directory given; pass a path or use DefaultDir()")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open session store: create %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open session store %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("open session store %s: %w", dir, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return nil, fmt.Errorf("open session store %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("open session store: %s is not a directory; choose another location", dir)
	}
	st2 := &Store{root: real}
	st2.cleanTrash()
	return st2, nil
}

// cleanTrash finishes removals that were interrupted after the rename step.
// It is best effort: leftovers only cost disk space.
func (s *Store) cleanTrash() {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".trash-") {
			_ = os.RemoveAll(filepath.Join(s.root, e.Name()))
		}
	}
}

// Dir returns the store's root directory.
func (s *Store) Dir() string { return s.root }

// child validates name and returns its path directly under parent.
func child(parent, name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	p := filepath.Join(parent, name)
	// ValidateName already rules out separators and "..", so this only
	// guards against future changes to the name rules.
	if filepath.Dir(p) != filepath.Clean(parent) {
		return "", fmt.Errorf("name %q escapes %s", name, parent)
	}
	return p, nil
}

// within resolves symlinks in p and checks that the result is still inside
// root, so a symlink planted in the store cannot lead outside it.
func within(root, p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%s points outside %s; mealab does not follow symlinks out of its session store", p, root)
	}
	return real, nil
}

// Create makes a new, empty session. It fails if the name is taken.
func (s *Store) Create(name string) (*Session, error) {
	dir, err := child(s.root, name)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	// The session is assembled in a hidden temporary directory and renamed
	// into place: two processes creating the same session at once get one
	// session and one ErrExists, and a reader never sees a session without
	// its session.json.
	if _, err := os.Lstat(dir); err == nil {
		return nil, fmt.Errorf("create session %q: %w; pick another name or load the existing session", name, ErrExists)
	}
	now := time.Now().UTC()
	sess := &Session{name: name, dir: dir, doc: sessionDoc{
		Format: SessionFormat, Version: SessionVersion, Name: name, Created: now, Updated: now,
	}}
	err = createDirAtomic(dir, func(tmp string) error {
		if err := os.Mkdir(filepath.Join(tmp, runsDir), 0o755); err != nil {
			return err
		}
		sess.dir = tmp
		defer func() { sess.dir = dir }()
		return sess.writeDoc()
	})
	if err != nil {
		if errors.Is(err, ErrExists) {
			return nil, fmt.Errorf("create session %q: %w; pick another name or load the existing session", name, ErrExists)
		}
		return nil, fmt.Errorf("create session %q: %w", name, err)
	}
	return sess, nil
}

// Load opens an existing session.
func (s *Store) Load(name string) (*Session, error) {
	dir, err := child(s.root, name)
	if err != nil {
		return nil, fmt.Errorf("load session: %w", err)
	}
	if _, err := os.Lstat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("load session %q: %w in %s; list sessions to see the names", name, ErrNotFound, s.root)
		}
		return nil, fmt.Errorf("load session %q: %w", name, err)
	}
	real, err := within(s.root, dir)
	if err != nil {
		return nil, fmt.Errorf("load session %q: %w", name, err)
	}
	doc, err := readSessionDoc(filepath.Join(real, sessionFile))
	if err != nil {
		return nil, fmt.Errorf("load session %q: %w", name, err)
	}
	return &Session{name: name, dir: real, doc: doc}, nil
}

// List returns every session in the store, most recently active first. A
// session that cannot be read is listed with Err set rather than hiding it
// or failing the whole listing.
func (s *Store) List() ([]Info, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("list sessions in %s: %w", s.root, err)
	}
	var out []Info
	for _, e := range entries {
		name := e.Name()
		if ValidateName(name) != nil {
			continue // Temporary files, trash and foreign files.
		}
		if !e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		info := Info{Name: name}
		sess, err := s.Load(name)
		if err != nil {
			info.Err = err
		} else {
			info.LastActivity = sess.doc.Updated
		}
		dir := filepath.Join(s.root, name)
		if real, err := within(s.root, dir); err == nil {
			dir = real
			s.measure(dir, &info)
		}
		out = append(out, info)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].LastActivity.Equal(out[j].LastActivity) {
			return out[i].LastActivity.After(out[j].LastActivity)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// measure fills in the size, run count and last activity of a session
// directory. Errors only make the numbers smaller; they never fail a listing.
func (s *Store) measure(dir string, info *Info) {
	if runs, err := os.ReadDir(filepath.Join(dir, runsDir)); err == nil {
		for _, r := range runs {
			if r.IsDir() && ValidateName(r.Name()) == nil {
				info.Runs++
			}
		}
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		info.Bytes += fi.Size()
		if fi.ModTime().After(info.LastActivity) {
			info.LastActivity = fi.ModTime()
		}
		return nil
	})
}

// Remove deletes a session and everything in it. The directory is first
// renamed to a hidden name so that an interrupted removal never leaves a
// half-deleted session that still lists.
func (s *Store) Remove(name string) error {
	dir, err := child(s.root, name)
	if err != nil {
		return fmt.Errorf("remove session: %w", err)
	}
	st, err := os.Lstat(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove session %q: %w in %s", name, ErrNotFound, s.root)
		}
		return fmt.Errorf("remove session %q: %w", name, err)
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		// Removing the link, never what it points at.
		if err := os.Remove(dir); err != nil {
			return fmt.Errorf("remove session %q: %w", name, err)
		}
		return nil
	}
	if !st.IsDir() {
		return fmt.Errorf("remove session %q: %s is not a session directory; remove it by hand if it is unwanted", name, dir)
	}
	trash := filepath.Join(s.root, fmt.Sprintf(".trash-%s-%d", name, time.Now().UnixNano()))
	if err := os.Rename(dir, trash); err != nil {
		return fmt.Errorf("remove session %q: %w", name, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("remove session %q: the session is gone but %s is left over: %w; delete it by hand", name, trash, err)
	}
	return syncDir(s.root)
}
