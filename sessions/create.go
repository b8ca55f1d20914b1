package sessions

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CreateFileAtomic writes a new file at path atomically and refuses to
// replace one that exists (the error wraps ErrExists): the contents go to a temporary file in the same
// directory, which is fsynced and then hard-linked to path (a link, unlike a
// rename, fails when path exists, so two writers cannot both win). Readers
// see no file or the whole file. The directory is created if needed.
func CreateFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return fmt.Errorf("create %q: the path names a directory; give a file name", path)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("create %s: %w", path, ErrExists)
	}
	f, err := os.CreateTemp(dir, "."+base+tempMarker+"*")
	if err != nil {
		return fmt.Errorf("create %s: temporary file: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := writeAll(f, data, perm); err != nil {
		_ = f.Close()
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create %s: %w", path, ErrExists)
		}
		return fmt.Errorf("create %s: %w", path, err)
	}
	return syncDir(dir)
}

func writeAll(f *os.File, data []byte, perm os.FileMode) error {
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("%w (is the disk full?)", err)
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	return f.Sync()
}
