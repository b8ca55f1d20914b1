package sessions

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// tempMarker is part of every temporary file name so that crashed writes can
// be recognised and cleaned up later. Temporary files also start with '.',
// which ValidateName forbids, so they can never be mistaken for a session,
// run or checkpoint.
const tempMarker = ".tmp-"

// WriteFileAtomic replaces path with data so that readers see either the old
// contents or the new contents, never a mix, even if the process is killed
// or the machine loses power part-way through.
//
// It writes a temporary file in the same directory (rename is only atomic
// within one file system), fsyncs it, renames it over path and then fsyncs
// the directory so that the rename itself is durable.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	return writeAtomic(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// writeAtomic is WriteFileAtomic for callers that stream their output, such
// as checkpoints that are too large to build in memory a second time.
func writeAtomic(path string, perm os.FileMode, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return fmt.Errorf("write %q: the path names a directory; give a file name", path)
	}
	f, err := os.CreateTemp(dir, "."+base+tempMarker+"*")
	if err != nil {
		return fmt.Errorf("write %s: create temporary file: %w (check that the directory exists and is writable)", path, err)
	}
	tmp := f.Name()
	inFlight.Store(tmp, struct{}{})
	defer inFlight.Delete(tmp)
	defer func() {
		if err != nil {
			// The close error is irrelevant once the write already failed;
			// removing the temporary file is what matters.
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w (is the disk full?)", path, err)
	}
	// CreateTemp always uses 0600; apply the requested mode before the file
	// becomes visible under its real name.
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: set permissions: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: flush to disk: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: close temporary file: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: rename temporary file into place: %w (the old file, if any, is unchanged)", path, err)
	}
	if err := syncDir(dir); err != nil {
		// The new contents are in place; only their durability across a
		// power cut is in doubt, so report it without undoing the write.
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory so that renames and creations inside it survive
// a power cut.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		// Windows cannot open directories for syncing and NTFS journals
		// renames itself.
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	err = d.Sync()
	cerr := d.Close()
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	if cerr != nil {
		return fmt.Errorf("sync directory %s: %w", dir, cerr)
	}
	return nil
}

// inFlight holds the temporary files this process is writing now: clean-ups
// (a checkpoint save prunes leftovers) must not take them from a save of
// the same run that is still under way, whose rename would then fail.
var inFlight sync.Map

// inProgress reports whether path is a temporary file this process is
// still writing.
func inProgress(path string) bool {
	_, ok := inFlight.Load(path)
	return ok
}

// isTempName reports whether a directory entry is a leftover temporary file
// from an interrupted atomic write.
func isTempName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, tempMarker)
}

// createDirAtomic makes directory dir with its first contents, filled in by
// fill, so that it appears complete or not at all: fill works in a hidden
// temporary sibling, which is then renamed to dir. When dir already exists
// (another process won the race), the temporary directory is removed and
// the error wraps ErrExists.
func createDirAtomic(dir string, fill func(tmp string) error) error {
	parent, base := filepath.Split(dir)
	tmp, err := os.MkdirTemp(parent, "."+base+tempMarker+"*")
	if err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := fill(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	if err := syncDir(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return err
	}
	// On POSIX, renaming a directory onto a non-empty directory fails
	// (EEXIST or ENOTEMPTY), and dir is never created empty by this
	// package; Link-free and safe on NFS, where rename is atomic at the server.
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		if _, serr := os.Lstat(dir); serr == nil {
			return fmt.Errorf("%s: %w", dir, ErrExists)
		}
		return err
	}
	return syncDir(parent)
}
