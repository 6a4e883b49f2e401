package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/devk-dev/devk/driver"
)

// fakeReporter records Step and Done calls.
type fakeReporter struct {
	mu     sync.Mutex
	events []string
}

func (r *fakeReporter) Step(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "step "+name)
}

func (r *fakeReporter) Done(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.events = append(r.events, "fail "+err.Error())
		return
	}
	r.events = append(r.events, "done")
}

// fakeDriver is a driver.Driver whose node lives in memory.
type fakeDriver struct {
	mu    sync.Mutex
	state driver.State
	node  *fakeNode
	calls []string
	spec  driver.NodeSpec
	err   map[string]error // error to return per method
	// preseed makes Create place spec.Preseed's files in the node, as the docker driver does.
	preseed bool
}

func (d *fakeDriver) record(call string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, call)
	return d.err[call]
}

func (d *fakeDriver) Name() string                        { return "docker" }
func (d *fakeDriver) Preflight(ctx context.Context) error { return d.record("Preflight") }

func (d *fakeDriver) Create(ctx context.Context, spec driver.NodeSpec) (driver.Node, error) {
	if err := d.record("Create"); err != nil {
		return nil, err
	}
	d.spec = spec
	if d.preseed && spec.Preseed != nil {
		archive, err := spec.Preseed(d.node.ip)
		if err != nil {
			return nil, err
		}
		if err := d.node.untar(bytes.NewReader(archive)); err != nil {
			return nil, err
		}
	}
	d.state = driver.StateRunning
	return d.node, nil
}

func (d *fakeDriver) Node(ctx context.Context, name string) (driver.Node, error) {
	if err := d.record("Node"); err != nil {
		return nil, err
	}
	if d.state == driver.StateNonexistent || d.state == "" {
		return nil, fmt.Errorf("container %s: %w", name, driver.ErrNotFound)
	}
	return d.node, nil
}

func (d *fakeDriver) Start(ctx context.Context, name string) error {
	d.state = driver.StateRunning
	return d.record("Start")
}

func (d *fakeDriver) Stop(ctx context.Context, name string) error {
	d.state = driver.StateStopped
	return d.record("Stop")
}

func (d *fakeDriver) Pause(ctx context.Context, name string) error {
	d.state = driver.StatePaused
	return d.record("Pause")
}

func (d *fakeDriver) Unpause(ctx context.Context, name string) error {
	d.state = driver.StateRunning
	return d.record("Unpause")
}

func (d *fakeDriver) Delete(ctx context.Context, name string) error {
	d.state = driver.StateNonexistent
	return d.record("Delete")
}

func (d *fakeDriver) State(ctx context.Context, name string) (driver.State, error) {
	if d.state == "" {
		return driver.StateNonexistent, nil
	}
	return d.state, nil
}

// fakeNode answers the commands the cluster package runs in a node.
type fakeNode struct {
	mu        sync.Mutex
	ip        string
	hostPorts map[int]int
	commands  []string
	files     map[string]*tar.Header
	contents  map[string][]byte
	// respond overrides the answer to a command line; nil means success with no output.
	respond func(cmdline string) (stdout string, err error)
}

func (n *fakeNode) Name() string { return "devk" }

func (n *fakeNode) Exec(ctx context.Context, argv []string, opts driver.ExecOptions) error {
	cmdline := strings.Join(argv, " ")
	n.mu.Lock()
	n.commands = append(n.commands, cmdline)
	n.mu.Unlock()
	if argv[0] == "tar" || len(argv) > 2 && argv[0] == "sh" && strings.HasPrefix(argv[2], "tar -x") {
		return n.untar(opts.Stdin)
	}
	n.mu.Lock()
	data, written := n.contents[argv[len(argv)-1]]
	n.mu.Unlock()
	if argv[0] == "cat" && written {
		if opts.Stdout != nil {
			opts.Stdout.Write(data)
		}
		return nil
	}
	if n.respond != nil {
		out, err := n.respond(cmdline)
		if opts.Stdout != nil {
			io.WriteString(opts.Stdout, out)
		}
		return err
	}
	if cmdline == "systemctl is-system-running" && opts.Stdout != nil {
		io.WriteString(opts.Stdout, "running\n")
	}
	return nil
}

func (n *fakeNode) untar(r io.Reader) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.files == nil {
		n.files, n.contents = map[string]*tar.Header{}, map[string][]byte{}
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, tr); err != nil {
			return err
		}
		n.files["/"+h.Name], n.contents["/"+h.Name] = h, buf.Bytes()
	}
}

func (n *fakeNode) CopyTo(ctx context.Context, content io.Reader, size int64, path string, mode int64) error {
	return fmt.Errorf("CopyTo not expected")
}

func (n *fakeNode) CopyFrom(ctx context.Context, path string) (io.ReadCloser, error) {
	return nil, fmt.Errorf("CopyFrom not expected")
}

func (n *fakeNode) IP(ctx context.Context) (string, error) { return n.ip, nil }

func (n *fakeNode) HostPort(ctx context.Context, nodePort int) (int, error) {
	if p, ok := n.hostPorts[nodePort]; ok {
		return p, nil
	}
	return 0, fmt.Errorf("node port %d is not published", nodePort)
}

// fakeImages is a NodeImages that never builds.
type fakeImages struct {
	ref     string
	err     error
	ensured []string
}

func (f *fakeImages) Ensure(ctx context.Context, version string) (string, error) {
	f.ensured = append(f.ensured, version)
	return f.ref, f.err
}
