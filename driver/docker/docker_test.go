package docker

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/client"
	"github.com/docker/go-connections/nat"

	"github.com/devk-dev/devk/driver"
)

func TestNodeHostConfig(t *testing.T) {
	spec := driver.NodeSpec{Name: "devk", CPUs: 2, MemoryMB: 4096}
	cgroupMount := mount.Mount{Type: mount.TypeBind, Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"}
	// /lib/modules is bound read-only when the host has it.
	var modules []mount.Mount
	if _, err := os.Stat("/lib/modules"); err == nil {
		modules = []mount.Mount{{Type: mount.TypeBind, Source: "/lib/modules", Target: "/lib/modules", ReadOnly: true}}
	}
	tests := []struct {
		name                 string
		cgroupV2, privileged bool
		wantMounts           []mount.Mount
		wantCgroupns         container.CgroupnsMode
	}{
		{"v1 privileged", false, true, append(slices.Clone(modules), cgroupMount), ""},
		{"v1 capabilities", false, false, append(slices.Clone(modules), cgroupMount), ""},
		{"v2 privileged", true, true, modules, container.CgroupnsModePrivate},
		{"v2 capabilities", true, false, modules, container.CgroupnsModePrivate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NodeHostConfig(spec, tt.cgroupV2, tt.privileged)
			if !slices.Equal(h.Mounts, tt.wantMounts) {
				t.Errorf("mounts = %+v, want %+v", h.Mounts, tt.wantMounts)
			}
			if h.CgroupnsMode != tt.wantCgroupns {
				t.Errorf("cgroupns = %q, want %q", h.CgroupnsMode, tt.wantCgroupns)
			}
			if h.Privileged != tt.privileged {
				t.Errorf("privileged = %v", h.Privileged)
			}
			for _, opt := range []string{"seccomp=unconfined", "apparmor=unconfined", "label=disable"} {
				if !slices.Contains(h.SecurityOpt, opt) {
					t.Errorf("security options %v lack %s", h.SecurityOpt, opt)
				}
			}
			for _, tmpfs := range []string{"/run", "/run/lock", "/tmp"} {
				if _, ok := h.Tmpfs[tmpfs]; !ok {
					t.Errorf("no tmpfs on %s (systemd needs it)", tmpfs)
				}
			}
			if h.Memory != 4096<<20 || h.NanoCPUs != 2e9 {
				t.Errorf("resources: memory %d nanocpus %d", h.Memory, h.NanoCPUs)
			}
			if h.Init == nil || *h.Init {
				t.Errorf("init = %v, want false: systemd must be PID 1", h.Init)
			}
			if tt.privileged {
				if h.CapAdd != nil || h.CapDrop != nil || h.Devices != nil {
					t.Errorf("privileged config also lists capabilities or devices: %v %v %v", h.CapAdd, h.CapDrop, h.Devices)
				}
				return
			}
			if !slices.Equal(h.CapAdd, []string{"ALL"}) || !slices.Equal(h.CapDrop, []string{"SYS_RESOURCE"}) {
				t.Errorf("capabilities add %v drop %v, want ALL and SYS_RESOURCE", h.CapAdd, h.CapDrop)
			}
			for _, dev := range []string{"/dev/kmsg", "/dev/fuse"} {
				_, statErr := os.Stat(dev)
				has := slices.ContainsFunc(h.Devices, func(d container.DeviceMapping) bool {
					return d.PathOnHost == dev && d.PathInContainer == dev && d.CgroupPermissions == "rwm"
				})
				if has != (statErr == nil) {
					t.Errorf("device %s mapped = %v, but it exists on the host = %v", dev, has, statErr == nil)
				}
			}
		})
	}
}

func TestNodeHostConfigIndependent(t *testing.T) {
	// Create adds the /var volume to one config and reuses mounts in the fallback: two
	// configs must not share slices.
	spec := driver.NodeSpec{CPUs: 1, MemoryMB: 2048}
	a := NodeHostConfig(spec, false, true)
	b := NodeHostConfig(spec, false, true)
	want := slices.Clone(b.Mounts)
	a.Mounts = append(a.Mounts, mount.Mount{Target: "/var"})
	a.Mounts[0].Source = "changed"
	if !slices.Equal(b.Mounts, want) {
		t.Errorf("configs share state: %+v", b.Mounts)
	}
}

func TestPortSpecs(t *testing.T) {
	ports := []driver.PortMapping{
		{HostPort: 32771, NodePort: 8443},
		{HostPort: 0, NodePort: 2376},
		{HostPort: 8080, NodePort: 30080, Protocol: "tcp"},
		{HostPort: 5353, NodePort: 30053, Protocol: "udp"},
	}
	exposed, bindings, err := portSpecs(ports)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		port     nat.Port
		hostPort string // "" means any real port
	}{
		{"8443/tcp", "32771"},
		{"2376/tcp", ""},
		{"30080/tcp", "8080"},
		{"30053/udp", "5353"},
	}
	if len(exposed) != len(tests) || len(bindings) != len(tests) {
		t.Errorf("exposed %v bindings %v, want %d each", exposed, bindings, len(tests))
	}
	for _, tt := range tests {
		if _, ok := exposed[tt.port]; !ok {
			t.Errorf("%s not exposed", tt.port)
		}
		b := bindings[tt.port]
		if len(b) != 1 {
			t.Errorf("%s bindings = %v, want one", tt.port, b)
			continue
		}
		if b[0].HostIP != "127.0.0.1" {
			t.Errorf("%s bound on %q, want 127.0.0.1 only", tt.port, b[0].HostIP)
		}
		p, err := strconv.Atoi(b[0].HostPort)
		if err != nil || p < 1 || p > 65535 {
			t.Errorf("%s host port %q is not a real port", tt.port, b[0].HostPort)
		}
		if tt.hostPort != "" && b[0].HostPort != tt.hostPort {
			t.Errorf("%s host port = %s, want %s", tt.port, b[0].HostPort, tt.hostPort)
		}
	}
}

func TestPortSpecsErrors(t *testing.T) {
	for _, nodePort := range []int{-1, 70000} {
		if _, _, err := portSpecs([]driver.PortMapping{{HostPort: 1, NodePort: nodePort}}); err == nil {
			t.Errorf("node port %d was accepted", nodePort)
		}
	}
	exposed, bindings, err := portSpecs(nil)
	if err != nil || len(exposed) != 0 || len(bindings) != 0 {
		t.Errorf("portSpecs(nil) = %v %v %v", exposed, bindings, err)
	}
}

func TestFreePort(t *testing.T) {
	p, err := driver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	// The port really is free: it can be listened on.
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatalf("FreePort returned %d, which cannot be listened on: %v", p, err)
	}
	l.Close()
}

func TestNthIP(t *testing.T) {
	_, n, _ := net.ParseCIDR("192.168.49.0/24")
	tests := []struct {
		i    int
		want string
	}{{1, "192.168.49.1"}, {2, "192.168.49.2"}, {254, "192.168.49.254"}}
	for _, tt := range tests {
		if got := nthIP(n, tt.i).String(); got != tt.want {
			t.Errorf("nthIP(%d) = %s, want %s", tt.i, got, tt.want)
		}
	}
	if n.IP.String() != "192.168.49.0" {
		t.Errorf("nthIP modified the network address: %s", n.IP)
	}
}

func TestSubnetsArePrivate(t *testing.T) {
	for _, s := range subnets {
		ip, n, err := net.ParseCIDR(s)
		if err != nil || !ip.IsPrivate() {
			t.Errorf("subnet %s: %v, private=%v", s, err, ip.IsPrivate())
			continue
		}
		if ones, _ := n.Mask.Size(); ones != 24 {
			t.Errorf("subnet %s is not a /24, which ensureNetwork assumes", s)
		}
	}
}

func TestPrivilegedRefused(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("Error response from daemon: failed to create task: OCI runtime create failed: unable to apply caps: operation not permitted"), true},
		{errors.New("no such image"), false},
	}
	for _, tt := range tests {
		if got := privilegedRefused(tt.err); got != tt.want {
			t.Errorf("privilegedRefused(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestLimitedBuffer(t *testing.T) {
	var buf bytes.Buffer
	lb := limitedBuffer{buf: &buf, max: 8}
	for _, s := range []string{"abc", "defgh", "ijk"} {
		if n, err := lb.Write([]byte(s)); n != len(s) || err != nil {
			t.Errorf("Write(%q) = %d, %v; it must report everything as written", s, n, err)
		}
	}
	if got := buf.String(); got != "abcdefgh" {
		t.Errorf("kept %q, want the first 8 bytes", got)
	}
}

// TestOwned: devk acts only on objects it labelled for the profile in this home.
func TestOwned(t *testing.T) {
	d := &Driver{homeID: "home-a"}
	tests := []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"this home's node", map[string]string{labelManaged: "true", LabelProfile: "dev", LabelHome: "home-a"}, true},
		{"a node from before home labels", map[string]string{labelManaged: "true", LabelProfile: "dev"}, true},
		{"another home's node", map[string]string{labelManaged: "true", LabelProfile: "dev", LabelHome: "home-b"}, false},
		{"another profile's node", map[string]string{labelManaged: "true", LabelProfile: "prod", LabelHome: "home-a"}, false},
		{"someone else's container", map[string]string{"owner": "someone-else"}, false},
		{"no labels at all", nil, false},
		{"a profile label alone", map[string]string{LabelProfile: "dev"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := d.owned(tt.labels, "dev"); got != tt.want {
				t.Errorf("owned = %v, want %v", got, tt.want)
			}
		})
	}
	err := foreign("container", "dev", map[string]string{labelManaged: "true", LabelProfile: "dev", LabelHome: "home-b"})
	if !errors.Is(err, driver.ErrForeign) || !strings.Contains(err.Error(), "another DEVK_HOME") {
		t.Errorf("foreign() = %v", err)
	}
}

// TestEngineUnderDockerEnv: in a shell pointed at a node by `devk docker-env`, devk keeps
// using the engine from before (never the node's own dockerd).
func TestEngineUnderDockerEnv(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:40123") // the node's, as docker-env sets it
	t.Setenv("DOCKER_TLS_VERIFY", "")
	t.Setenv("DOCKER_CERT_PATH", "")
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no docker-env: DOCKER_HOST is the user's choice", nil, "tcp://127.0.0.1:40123"},
		{"docker-env over the default engine", map[string]string{ActiveDockerdVar: "devk"}, client.DefaultDockerHost},
		{"docker-env over a rootless engine", map[string]string{ActiveDockerdVar: "devk", BeforeHostVar: "unix:///run/user/1000/docker.sock"}, "unix:///run/user/1000/docker.sock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewWithEnv("", "home", func(k string) string { return tt.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if got := d.API().DaemonHost(); got != tt.want {
				t.Errorf("engine %s, want %s", got, tt.want)
			}
		})
	}
}

// Helper containers use the node's image by ID, then by the name it was created with.
func TestHelperImage(t *testing.T) {
	byID := container.InspectResponse{ContainerJSONBase: &container.ContainerJSONBase{Image: "sha256:abc"}, Config: &container.Config{Image: "devk/node:v1"}}
	byName := container.InspectResponse{Config: &container.Config{Image: "devk/node:v1"}}
	for _, tt := range []struct {
		name string
		info container.InspectResponse
		want string
	}{
		{"running or stopped node", byID, "sha256:abc"},
		{"no ID known", byName, "devk/node:v1"},
		{"container gone: the volume's label", container.InspectResponse{}, "devk/node:label"},
	} {
		if got := helperImage(tt.info, "devk/node:label"); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
