//go:build unix

package sessions

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Lock makes this process the run's only writer until the returned
// release is called or the process ends (the operating system drops the
// lock of a killed process, so a crash never leaves a run locked). A second
// process that tries gets an error naming the holder. The lock is an flock
// on writer.lock in the run directory, which NFS (v4, or v3 with lockd)
// carries across machines.
func (r *Run) Lock() (release func(), err error) {
	path := filepath.Join(r.dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock run %q: %w", r.name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			h := strings.TrimSpace(string(holder))
			if h == "" {
				h = "another process"
			}
			return nil, fmt.Errorf("run %q is being written by %s; wait for it or stop it first: %w", r.name, h, ErrLocked)
		}
		return nil, fmt.Errorf("lock run %q: %w", r.name, err)
	}
	host, _ := os.Hostname()
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(fmt.Sprintf("pid %d on %s\n", os.Getpid(), host)), 0)
	return func() { _ = f.Close() }, nil
}
