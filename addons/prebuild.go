package addons

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/devk-dev/devk/internal/filelock"
)

// PrebuildLockPath is held by the one prebuild that runs at a time in a devk home's cache.
func PrebuildLockPath(cacheDir string) string {
	return filepath.Join(cacheDir, "images", "addons-prebuild.lock")
}

// prebuildRunning reports whether a prebuild holds the cache's prebuild lock now.
func prebuildRunning(cacheDir string) bool {
	l, err := filelock.Acquire(context.Background(), PrebuildLockPath(cacheDir), 0)
	if err != nil {
		return errors.Is(err, filelock.ErrBusy)
	}
	l.Release()
	return false
}

// RunPrebuild is Prebuild holding the cache's prebuild lock, waiting up to wait for
// another prebuild to end (a waiter then finds the images built). With a zero wait it
// returns false, doing nothing, when another prebuild runs.
func (m *Manager) RunPrebuild(ctx context.Context, cacheDir string, wait time.Duration) (ran bool, err error) {
	lock, err := filelock.Acquire(ctx, PrebuildLockPath(cacheDir), wait)
	if wait == 0 && errors.Is(err, filelock.ErrBusy) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer lock.Release()
	return true, m.Prebuild(ctx)
}

// StartPrebuild starts exe with args (a command that runs RunPrebuild) in the background
// when an optional addon's image is still to be built and no prebuild runs; it reports
// whether it started one.
func (m *Manager) StartPrebuild(cacheDir, exe string, args []string, logPath string) (bool, error) {
	if m.Images == nil || !m.PrebuildNeeded() || prebuildRunning(cacheDir) {
		return false, nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return false, nil // the builds need Go; without it a first enable says so itself
	}
	return true, startBackground(exe, args, logPath)
}

// startBackground starts exe with args detached from this process: in a session of its
// own (a Ctrl-C or a closed terminal does not stop it), at the lowest CPU priority when
// `nice` is there (the machine is the user's), its output appended to logPath.
func startBackground(exe string, args []string, logPath string) error {
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil {
		return fmt.Errorf("background build log: %w", err)
	}
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("background build log: %w", err)
	}
	defer log.Close() // the child keeps its own copy
	argv := append([]string{exe}, args...)
	if nice, err := exec.LookPath("nice"); err == nil {
		argv = append([]string{nice, "-n", "19"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the background build: %w", err)
	}
	return cmd.Process.Release()
}
