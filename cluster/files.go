package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/devk-dev/devk/internal/filelock"
)

// WriteFileAtomic writes data to a temporary file beside path and renames it into place,
// so a reader never sees a half-written file and a crash never leaves one.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// ErrLocked means another devk command holds the lock.
var ErrLocked = errors.New("another devk command is working on this profile")

// Lock takes an exclusive advisory lock on path, waiting up to wait. The lock is released
// by the returned function or when the process exits, so a crash never leaves it held.
func Lock(path string, wait time.Duration) (unlock func(), err error) {
	l, err := lockFile(path, wait)
	if err != nil {
		return nil, err
	}
	return l.Release, nil
}

// lockFile takes an exclusive flock on path, waiting up to wait; a lock still held then
// is ErrLocked.
func lockFile(path string, wait time.Duration) (*filelock.Lock, error) {
	l, err := filelock.Acquire(context.Background(), path, wait)
	if errors.Is(err, filelock.ErrBusy) {
		return nil, fmt.Errorf("%w (lock %s); wait for it to finish and retry", ErrLocked, path)
	}
	return l, err
}

// LockTransient is Lock for a lock file that must not outlive its use (one beside the
// user's kubeconfig): unlock removes it. A waiter that then acquires the removed file
// sees that the path names another file, or none, and tries again.
func LockTransient(path string, wait time.Duration) (unlock func(), err error) {
	deadline := time.Now().Add(wait)
	for {
		l, err := lockFile(path, time.Until(deadline))
		if err != nil {
			return nil, err
		}
		mine, err1 := l.File().Stat()
		named, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(mine, named) {
			return func() {
				_ = os.Remove(path) // while still held: waiters then see the path changed
				l.Release()
			}, nil
		}
		l.Release()
	}
}
