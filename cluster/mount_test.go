package cluster

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/devk-dev/devk/driver"
)

func TestParseMount(t *testing.T) {
	dir := t.TempDir()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(dir, link); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	colon := filepath.Join(dir, "a:b")
	if err := os.Mkdir(colon, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in      string
		want    driver.Mount
		wantErr string // substring; empty means success
	}{
		{dir + ":/data", driver.Mount{HostPath: real, NodePath: "/data"}, ""},
		{dir + ":/mnt/src/", driver.Mount{HostPath: real, NodePath: "/mnt/src"}, ""},
		{dir + ":/mnt//a/../b", driver.Mount{HostPath: real, NodePath: "/mnt/b"}, ""},
		{link + ":/data", driver.Mount{HostPath: real, NodePath: "/data"}, ""},
		{colon + ":/data", driver.Mount{HostPath: filepath.Join(real, "a:b"), NodePath: "/data"}, ""},
		{"", driver.Mount{}, "HOST_DIR:NODE_DIR"},
		{dir, driver.Mount{}, "HOST_DIR:NODE_DIR"},
		{dir + ":", driver.Mount{}, "HOST_DIR:NODE_DIR"},
		{":/data", driver.Mount{}, "HOST_DIR:NODE_DIR"},
		{filepath.Join(dir, "missing") + ":/data", driver.Mount{}, "does not exist"},
		{file + ":/data", driver.Mount{}, "not a folder"},
		{dir + ":data", driver.Mount{}, "must be absolute"},
		{dir + ":/", driver.Mount{}, "hide the node's own files"},
		{dir + ":/etc", driver.Mount{}, "hide the node's own files"},
		{dir + ":/var/", driver.Mount{}, "hide the node's own files"},
		{dir + ":/proc/x", driver.Mount{}, "inside /proc"},
		{dir + ":/var/lib/kubelet/pods", driver.Mount{}, "inside /var/lib/kubelet"},
		{dir + ":/etc/kubernetes", driver.Mount{}, "inside /etc/kubernetes"},
		{dir + ":/run/x", driver.Mount{}, "inside /run"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMount(tt.in)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseMount = %+v, %v; want %+v", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseMount error = %v, want ErrInvalid mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseMountRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	real, _ := filepath.EvalSymlinks(dir)
	got, err := ParseMount(".:/src")
	if err != nil || got.HostPath != real {
		t.Fatalf("ParseMount(.:/src) = %+v, %v; want host path %s", got, err, real)
	}
}

func TestCheckUnchangedMounts(t *testing.T) {
	p := testProfile("devk")
	p.Mounts = []driver.Mount{{HostPath: "/home/u/src", NodePath: "/src"}}
	tests := []struct {
		name    string
		mounts  []driver.Mount
		wantErr bool
	}{
		{"not given", nil, false},
		{"same", []driver.Mount{{HostPath: "/home/u/src", NodePath: "/src"}}, false},
		{"other node path", []driver.Mount{{HostPath: "/home/u/src", NodePath: "/data"}}, true},
		{"other host path", []driver.Mount{{HostPath: "/tmp", NodePath: "/src"}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkUnchanged(p, StartOptions{Profile: "devk", Mounts: tt.mounts})
			if tt.wantErr != (err != nil) {
				t.Fatalf("checkUnchanged = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--mount-string")) {
				t.Errorf("error %q: want ErrInvalid mentioning --mount-string", err)
			}
		})
	}
}

func TestStartKeepsMounts(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	pki := newTestPKI(t, e.m.Home.CertsDir("devk"), "devk", testNodeIP)
	srv, _ := fakeAPIServer(t, pki)
	e.node.hostPorts[APIServerPort] = srv.Listener.Addr().(*net.TCPAddr).Port
	e.node.respond = func(cmdline string) (string, error) {
		if cmdline == "systemctl is-system-running" {
			return "running", nil
		}
		return "", nil
	}
	mounts := []driver.Mount{{HostPath: t.TempDir(), NodePath: "/src"}}
	if _, err := e.m.Start(ctx, StartOptions{Profile: "devk", Mounts: mounts}); err != nil {
		t.Fatalf("Start: %v\nreport: %v", err, e.report.events)
	}
	if !slices.Equal(e.drv.spec.Mounts, mounts) {
		t.Errorf("node spec mounts = %+v, want %+v", e.drv.spec.Mounts, mounts)
	}
	saved, err := e.m.Home.Load("devk")
	if err != nil || !slices.Equal(saved.Mounts, mounts) {
		t.Fatalf("saved mounts = %+v (%v), want %+v", saved, err, mounts)
	}
	// The node is gone behind devk's back: the profile recreates it with the same mounts.
	e.drv.state = driver.StateNonexistent
	e.drv.spec = driver.NodeSpec{}
	if _, err := e.m.Start(ctx, StartOptions{Profile: "devk"}); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if !slices.Equal(e.drv.spec.Mounts, mounts) {
		t.Errorf("recreated node spec mounts = %+v, want %+v", e.drv.spec.Mounts, mounts)
	}
}

// mountingDriver is a fakeDriver that can also mount.
type mountingDriver struct {
	*fakeDriver
	got       []string
	unmounted bool
}

func (d *mountingDriver) Mount(ctx context.Context, name, hostDir, nodeDir string) (func() error, error) {
	d.got = []string{name, hostDir, nodeDir}
	return func() error { d.unmounted = true; return nil }, nil
}

func TestManagerMount(t *testing.T) {
	mnt := driver.Mount{HostPath: "/home/u/src", NodePath: "/src"}
	tests := []struct {
		name      string
		noProfile bool
		state     driver.State
		mounter   bool
		wantErr   error
	}{
		{"running, driver mounts", false, driver.StateRunning, true, nil},
		{"driver cannot mount", false, driver.StateRunning, false, driver.ErrUnsupported},
		{"stopped", false, driver.StateStopped, true, ErrNotRunning},
		{"paused", false, driver.StatePaused, true, ErrNotRunning},
		{"no profile", true, driver.StateRunning, true, ErrNoProfile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.drv.state = tt.state
			if !tt.noProfile {
				if err := e.m.Home.Save(testProfile("devk")); err != nil {
					t.Fatal(err)
				}
			}
			md := &mountingDriver{fakeDriver: e.drv}
			if tt.mounter {
				e.m.Driver = md
			}
			unmount, err := e.m.Mount(context.Background(), "devk", mnt)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Mount = %v, want %v", err, tt.wantErr)
				}
				if md.got != nil {
					t.Errorf("the driver mounted anyway: %v", md.got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(md.got, []string{"devk", "/home/u/src", "/src"}) {
				t.Errorf("driver got %v", md.got)
			}
			if err := unmount(); err != nil || !md.unmounted {
				t.Errorf("unmount = %v, unmounted %v", err, md.unmounted)
			}
		})
	}
}
