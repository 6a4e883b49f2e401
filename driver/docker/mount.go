package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/devk-dev/devk/driver"
)

var _ driver.Mounter = (*Driver)(nil)

// Mount implements driver.Mounter. Docker cannot add a bind mount to a running
// container, so devk does what the engine would: it clones the host folder as a detached
// mount (open_tree) in its own mount namespace, enters the node's mount namespace on a
// locked OS thread and attaches the clone there (move_mount). That needs root and an
// engine on this machine whose containers' processes devk can see.
func (d *Driver) Mount(ctx context.Context, name, hostDir, nodeDir string) (func() error, error) {
	if host := d.api.DaemonHost(); !strings.HasPrefix(host, "unix://") {
		return nil, fmt.Errorf("%w: devk mount needs the Docker engine on this machine, but it is %s; "+
			"run devk where the engine runs", driver.ErrUnsupported, host)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: devk mount needs root to enter the node's mount namespace; run it with sudo", driver.ErrUnsupported)
	}
	info, err := d.inspect(ctx, name)
	if err != nil {
		return nil, err
	}
	if info.State == nil || !info.State.Running || info.State.Pid == 0 {
		return nil, fmt.Errorf("node container %s is not running; run `devk start -p %s` first", name, name)
	}
	pid := info.State.Pid
	if err := checkNodeProcess(pid, info.Config.Hostname); err != nil {
		return nil, err
	}
	tree, err := unix.OpenTree(unix.AT_FDCWD, hostDir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_RECURSIVE)
	if err != nil {
		return nil, mountSyscallError("clone "+hostDir, err)
	}
	defer unix.Close(tree)
	if err := inMountNamespace(pid, func() error {
		if err := os.MkdirAll(nodeDir, 0o755); err != nil {
			return fmt.Errorf("create %s in the node: %w", nodeDir, err)
		}
		if err := unix.MoveMount(tree, "", unix.AT_FDCWD, nodeDir, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return mountSyscallError("attach "+hostDir+" at "+nodeDir+" in the node", err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	unmount := func() error {
		// Runs after the caller's context is done (Ctrl-C), so it has its own.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		now, err := d.inspect(ctx, name)
		if errors.Is(err, driver.ErrNotFound) {
			return nil // the node is gone, and the mount with it
		}
		if err != nil {
			return err
		}
		if now.State == nil || !now.State.Running || now.State.Pid != pid {
			return nil // stopped or restarted: its new mount namespace never had the mount
		}
		return inMountNamespace(pid, func() error {
			err := unix.Unmount(nodeDir, unix.MNT_DETACH)
			if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: no longer a mount point
				return fmt.Errorf("unmount %s in node %s: %w", nodeDir, name, err)
			}
			return nil
		})
	}
	return unmount, nil
}

// checkNodeProcess makes sure pid, as the engine reported it, is the node's systemd in
// this PID namespace: an engine in another PID namespace reports numbers that mean
// nothing (or something else) here.
func checkNodeProcess(pid int, hostname string) error {
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err == nil {
		vars := bytes.Split(env, []byte{0})
		hasVar := func(v string) bool {
			for _, have := range vars {
				if string(have) == v {
					return true
				}
			}
			return false
		}
		if hasVar("container=docker") && hasVar("HOSTNAME="+hostname) {
			return nil
		}
	}
	return fmt.Errorf("%w: devk mount cannot see the node's processes (the engine runs in another PID namespace "+
		"or container); run devk where the engine runs, or use `devk start --mount-string` when creating the cluster", driver.ErrUnsupported)
}

// mountSyscallError explains the failures of the mount system calls a user can act on.
func mountSyscallError(what string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %s: %v; devk mount needs root with CAP_SYS_ADMIN on the host (run it with sudo)", driver.ErrUnsupported, what, err)
	case errors.Is(err, unix.ENOSYS):
		return fmt.Errorf("%w: %s: %v; devk mount needs Linux 5.2 or later (open_tree, move_mount); use `devk start --mount-string` instead", driver.ErrUnsupported, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// inMountNamespace runs fn in the mount namespace of process pid. It runs on a fresh OS
// thread that is never handed back: the goroutine stays locked to it, so the Go runtime
// ends the thread when the goroutine returns and no other goroutine ever runs in the
// node's namespace.
func inMountNamespace(pid int, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- func() error {
			// Go's threads share one filesystem context (CLONE_FS), and setns refuses to
			// move a thread that shares it into another mount namespace: give this thread
			// its own first.
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return mountSyscallError("unshare the filesystem context", err)
			}
			ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/mnt", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				return mountSyscallError("open the node's mount namespace", err)
			}
			defer unix.Close(ns)
			if err := unix.Setns(ns, unix.CLONE_NEWNS); err != nil {
				return mountSyscallError("enter the node's mount namespace", err)
			}
			return fn()
		}()
	}()
	return <-errc
}
