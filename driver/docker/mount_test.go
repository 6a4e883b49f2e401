package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"golang.org/x/sys/unix"

	"github.com/devk-dev/devk/driver"
)

func TestNodeHostConfigUserMounts(t *testing.T) {
	spec := driver.NodeSpec{CPUs: 1, MemoryMB: 2048, Mounts: []driver.Mount{
		{HostPath: "/home/u/src", NodePath: "/src"}, {HostPath: "/srv/data", NodePath: "/data"},
	}}
	want := []mount.Mount{
		{Type: mount.TypeBind, Source: "/home/u/src", Target: "/src"},
		{Type: mount.TypeBind, Source: "/srv/data", Target: "/data"},
	}
	for _, privileged := range []bool{true, false} {
		h := NodeHostConfig(spec, true, privileged)
		var got []mount.Mount
		for _, m := range h.Mounts {
			if m.Target == "/src" || m.Target == "/data" {
				got = append(got, m)
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("privileged=%v: user mounts = %+v, want %+v (read-write binds)", privileged, got, want)
		}
	}
}

func TestMountRefusesRemoteEngine(t *testing.T) {
	api, err := client.NewClientWithOpts(client.WithHost("tcp://192.0.2.1:2376"))
	if err != nil {
		t.Fatal(err)
	}
	d := &Driver{api: api}
	_, err = d.Mount(context.Background(), "devk", t.TempDir(), "/data")
	if !errors.Is(err, driver.ErrUnsupported) || !strings.Contains(err.Error(), "tcp://192.0.2.1:2376") {
		t.Fatalf("Mount on a remote engine = %v, want ErrUnsupported naming the engine", err)
	}
}

func TestCheckNodeProcess(t *testing.T) {
	// A stand-in for the node's systemd: a process with the environment Docker gives it.
	node := exec.Command("sleep", "30")
	node.Env = []string{"PATH=/usr/bin:/bin", "HOSTNAME=node-x", "container=docker"}
	if err := node.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { _ = node.Process.Kill(); _ = node.Wait() })
	// Start returns once execve is past its point of no return, but the kernel sets up
	// the new environment a moment later: until then /proc/PID/environ reads empty.
	// A real node has been running for seconds, so only the test has to wait.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		env, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", node.Process.Pid))
		if bytes.Contains(env, []byte("container=docker")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stand-in node never showed its environment: %q", env)
		}
	}
	tests := []struct {
		name     string
		pid      int
		hostname string
		ok       bool
	}{
		{"the node", node.Process.Pid, "node-x", true},
		{"another container's hostname", node.Process.Pid, "node-y", false},
		{"not a container", os.Getpid(), "node-x", false},
		{"no such process", 1 << 30, "node-x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkNodeProcess(tt.pid, tt.hostname)
			if tt.ok != (err == nil) {
				t.Fatalf("checkNodeProcess = %v, want ok %v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, driver.ErrUnsupported) {
				t.Errorf("error %v does not wrap ErrUnsupported", err)
			}
		})
	}
}

func TestMountSyscallError(t *testing.T) {
	tests := []struct {
		err         error
		unsupported bool
		mention     string
	}{
		{unix.EPERM, true, "needs root"},
		{unix.EACCES, true, "needs root"},
		{unix.ENOSYS, true, "Linux 5.2"},
		{unix.ENOENT, false, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			err := mountSyscallError("clone /x", fmt.Errorf("wrapped: %w", tt.err))
			if errors.Is(err, driver.ErrUnsupported) != tt.unsupported || !strings.Contains(err.Error(), tt.mention) ||
				!strings.HasPrefix(strings.TrimPrefix(err.Error(), driver.ErrUnsupported.Error()+": "), "clone /x") {
				t.Errorf("mountSyscallError = %v; want unsupported %v, mentioning %q", err, tt.unsupported, tt.mention)
			}
			if !errors.Is(err, tt.err) && !tt.unsupported {
				t.Errorf("the system error is not kept: %v", err)
			}
		})
	}
}
