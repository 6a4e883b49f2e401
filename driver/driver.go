// Package driver defines how devk provisions a node. A Driver creates, starts, stops and
// removes nodes; a Node runs commands and copies files. cluster/ talks to a node only
// through Node, so every driver gets the same cluster (the shape follows kind's
// Provider and Node).
package driver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// ErrNotFound is returned (wrapped) when a node does not exist.
var ErrNotFound = errors.New("node not found")

// ErrForeign is returned (wrapped) when an object with a node's name exists but devk did
// not create it for that profile (in this devk home): devk never acts on it.
var ErrForeign = errors.New("not a devk node of this profile")

// ErrUnsupported is returned (wrapped) when the driver cannot do what was asked here,
// for example mount a host folder into a node on a remote engine.
var ErrUnsupported = errors.New("not supported by the driver here")

// State is what a driver knows about a node's machine.
type State string

const (
	StateRunning     State = "Running"
	StateStopped     State = "Stopped"
	StatePaused      State = "Paused"
	StateNonexistent State = "Nonexistent"
	StateError       State = "Error"
)

// PortMapping publishes a node port on the host, always on 127.0.0.1.
type PortMapping struct {
	HostPort int    `json:"hostPort"` // 0 picks a free port
	NodePort int    `json:"nodePort"`
	Protocol string `json:"protocol,omitempty"` // "tcp" (default) or "udp"
}

// NodeSpec is everything a driver needs to create a node.
type NodeSpec struct {
	Name     string // machine name, unique per host (the profile name)
	Profile  string
	Image    string
	CPUs     int
	MemoryMB int
	Ports    []PortMapping
	Mounts   []Mount // host folders bound into the node for its whole life
	Labels   map[string]string
	// CgroupRoot is the cgroup parent the node's kubelet gives pods. On a cgroup v1 host
	// those cgroups are the host's and outlive the node; the driver removes them with it.
	CgroupRoot string
	// Preseed, if set, returns a tar archive of files for the node's root filesystem,
	// given the node's IP. A driver that can place them before the node boots does
	// (its init then finds its configuration at once); others ignore it, and the files
	// are written once the node runs.
	Preseed func(nodeIP string) ([]byte, error)
}

// Mount shares a host folder with the node (and, through hostPath volumes, with pods).
type Mount struct {
	HostPath string `json:"hostPath"` // absolute, on the host
	NodePath string `json:"nodePath"` // absolute, in the node
}

// Mounter is implemented by drivers that can share a host folder with a running node.
type Mounter interface {
	// Mount makes hostDir visible at nodeDir in the running node, read-write both ways,
	// until unmount is called.
	Mount(ctx context.Context, name, hostDir, nodeDir string) (unmount func() error, err error)
}

// Driver provisions nodes.
type Driver interface {
	Name() string
	// Preflight checks that the driver can work here (engine installed and reachable).
	Preflight(ctx context.Context) error
	// Create creates and starts a node. It fails if one with that name exists.
	Create(ctx context.Context, spec NodeSpec) (Node, error)
	// Node returns an existing node, or an error wrapping ErrNotFound.
	Node(ctx context.Context, name string) (Node, error)
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	Pause(ctx context.Context, name string) error
	Unpause(ctx context.Context, name string) error
	// Delete removes the node and everything the driver created for it (volumes too).
	// Deleting a node that does not exist is not an error.
	Delete(ctx context.Context, name string) error
	State(ctx context.Context, name string) (State, error)
}

// ExecOptions wires a command's standard streams; nil streams are discarded.
type ExecOptions struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	TTY    bool
}

// Node is one running machine.
type Node interface {
	Name() string
	// Exec runs argv in the node and returns an error wrapping the exit status on failure.
	Exec(ctx context.Context, argv []string, opts ExecOptions) error
	// CopyTo writes content to path in the node with the given mode, creating parent dirs.
	CopyTo(ctx context.Context, content io.Reader, size int64, path string, mode int64) error
	// CopyFrom reads a file from the node.
	CopyFrom(ctx context.Context, path string) (io.ReadCloser, error)
	// IP is the node's address on its network, reachable from the host.
	IP(ctx context.Context) (string, error)
	// HostPort returns the 127.0.0.1 port on the host that reaches nodePort.
	HostPort(ctx context.Context, nodePort int) (int, error)
}

// ExitError reports a command that ran and exited non-zero.
type ExitError struct {
	Argv   []string
	Code   int
	Stderr string
}

func (e *ExitError) Error() string {
	msg := "command exited with status " + strconv.Itoa(e.Code)
	if len(e.Argv) > 0 {
		msg = e.Argv[0] + ": " + msg
	}
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

// Output runs argv in the node and returns its standard output, trimmed. On failure the
// error carries the command's standard error.
func Output(ctx context.Context, n Node, argv ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := n.Exec(ctx, argv, ExecOptions{Stdout: &stdout, Stderr: &stderr})
	var exit *ExitError
	if errors.As(err, &exit) && exit.Stderr == "" {
		exit.Stderr = strings.TrimSpace(stderr.String())
	}
	return strings.TrimSpace(stdout.String()), err
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1, for host ports that must
// stay fixed across a node's restarts.
func FreePort() (int, error) {
	ports, err := FreePorts(1, nil)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// FreePorts asks for n distinct free ports at once, none of them in taken. Each listener
// stays open until all n are picked: the kernel may hand a just-closed port out again,
// and a node given the same port twice cannot boot (QEMU refuses the second forward).
func FreePorts(n int, taken map[int]bool) ([]int, error) {
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		// A port of the same list that is free now (its node is not running) is
		// skipped, and its listener held so it is not offered again.
		if p := l.Addr().(*net.TCPAddr).Port; !taken[p] {
			ports = append(ports, p)
		}
	}
	return ports, nil
}

// AssignFreePorts returns ports with every zero host port replaced by a distinct free
// one that no other mapping of the list has.
func AssignFreePorts(ports []PortMapping) ([]PortMapping, error) {
	zero := 0
	taken := map[int]bool{}
	for _, p := range ports {
		if p.HostPort == 0 {
			zero++
		} else {
			taken[p.HostPort] = true
		}
	}
	free, err := FreePorts(zero, taken)
	if err != nil {
		return nil, err
	}
	out := make([]PortMapping, len(ports))
	for i, p := range ports {
		if p.HostPort == 0 {
			p.HostPort, free = free[0], free[1:]
		}
		out[i] = p
	}
	return out, nil
}

// PortForwarder is a driver whose nodes are not reachable at their IP from the host (a VM
// on user-mode networking): it publishes a node port on 127.0.0.1 on demand.
type PortForwarder interface {
	ForwardPort(ctx context.Context, name string, nodePort int) (hostPort int, err error)
}

// CopyToArgv is the command that writes its standard input to path in a node, atomically
// (a temporary file renamed into place) with the given mode. The path is an argument of
// the script, never part of it: a path is data, not shell text. A folder at path is
// refused (exit 21, as EISDIR) rather than written into.
func CopyToArgv(path string, mode int64) []string {
	script := `set -e; p="$1"; if [ -d "$p" ]; then echo "$p is a directory" >&2; exit 21; fi; ` +
		`mkdir -p -- "$(dirname -- "$p")"; cat > "$p.devk-tmp"; chmod ` + strconv.FormatInt(mode&0o7777, 8) + ` -- "$p.devk-tmp"; mv -f -- "$p.devk-tmp" "$p"`
	return []string{"sh", "-c", script, "sh", path}
}

// Snapshotter is a driver that can copy a node's persistent disk out and put it back,
// for `devk snapshot`.
type Snapshotter interface {
	// SaveDisk writes the node's persistent disk to w, as a stream only RestoreDisk
	// reads. The node is stopped, or paused if CopiesPaused.
	SaveDisk(ctx context.Context, name string, w io.Writer) error
	// RestoreDisk replaces the disk of a stopped (or removed) node with what SaveDisk
	// wrote; the next start boots from it.
	RestoreDisk(ctx context.Context, name string, r io.Reader) error
	// CopiesPaused says whether a paused node's disk is consistent for SaveDisk (a
	// container's volume is, once its processes are frozen; a VM may still hold writes).
	CopiesPaused() bool
	// PowerOff stops a running node at once, as pulling its plug would: only for a node
	// whose disk RestoreDisk replaces next, so a clean shutdown would save nothing.
	PowerOff(ctx context.Context, name string) error
	// ArchivesDisk says whether SaveDisk writes a tar archive of the disk's files (whose
	// large files devk then keeps once across snapshots) rather than a disk image.
	ArchivesDisk() bool
}

// CgroupHost is a driver whose nodes share the host's cgroup version (a container);
// a VM brings its own (cgroup v2).
type CgroupHost interface {
	// HostCgroupV2 says whether the host uses cgroup v2; known is false before Preflight.
	HostCgroupV2() (v2, known bool)
}

// ServiceSpec is a shared service devk runs beside the nodes (the image cache): one
// container or process per devk home, which outlives every cluster.
type ServiceSpec struct {
	Name  string // short and stable, such as "image-cache"
	Image string // the image reference it runs
	// LoadImage gives an archive of Image (a `docker save` tar) when the engine lacks it.
	LoadImage func(ctx context.Context) (archive string, err error)
	Args      []string // the image's entrypoint arguments
	// Env is KEY=VALUE; empty keeps the environment a running service has (a change of
	// Env alone replaces the service only when Env is given).
	Env []string
	// DataDir is a host folder the service keeps its data in, at DataTarget inside.
	DataDir, DataTarget string
	// Ports are the service's ports, published on the host's 127.0.0.1 as well (for
	// nodes that reach the host's loopback, as VMs on QEMU's user-mode network do).
	Ports []int
	// Key identifies the configuration: a running service with another key is replaced.
	Key string
}

// ServiceEndpoint is where a running service is: its IP on the nodes' network, and the
// 127.0.0.1 port each of its ports is published on.
type ServiceEndpoint struct {
	IP        string
	HostPorts map[int]int
}

// ServiceHost is a driver that can run shared services where its nodes reach them.
type ServiceHost interface {
	// EnsureService starts the service unless it runs with the same Key, and returns
	// where it is.
	EnsureService(ctx context.Context, spec ServiceSpec) (ServiceEndpoint, error)
	// ServiceExec runs argv in the service, starting it if it is stopped; a service that
	// does not exist is ErrNotFound.
	ServiceExec(ctx context.Context, name string, argv []string) error
	// RemoveService stops and removes the service (its DataDir stays); absent is fine.
	RemoveService(ctx context.Context, name string) error
}

// HostNetwork is how a driver's nodes reach the host (for a proxy on the host's
// loopback) and which network they are on.
type HostNetwork struct {
	// FromNode is the host's address as nodes see it; OnHost the host address a
	// connection to it arrives at (where a proxy must listen for nodes to reach it).
	FromNode, OnHost string
	// NodeCIDR holds the nodes' addresses (reached directly, never through a proxy).
	NodeCIDR string
}

// HostAddresser is a driver that knows its HostNetwork.
type HostAddresser interface {
	HostNetwork(ctx context.Context) (HostNetwork, error)
}
