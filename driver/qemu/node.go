package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/devk-dev/devk/driver"
)

// Node is a VM reached over SSH through its forwarded port 22.
type Node struct {
	d *Driver
	m *machine
}

func (n *Node) Name() string { return n.m.Name }

func (n *Node) sshPort() int {
	for _, p := range n.m.Ports {
		if p.NodePort == 22 {
			return p.HostPort
		}
	}
	return 0
}

func (n *Node) dial(ctx context.Context) (*ssh.Client, error) {
	signer, err := n.d.signer(n.m.Name)
	if err != nil {
		return nil, err
	}
	cfg := &ssh.ClientConfig{
		User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		// The host key is the VM's own, generated at its first boot and reachable only on
		// 127.0.0.1; the profile's private key is what guards the connection.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec
		Timeout:         10 * time.Second,
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.sshPort()))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ssh to %s: %w", n.m.Name, err)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("ssh to %s: %w", n.m.Name, err)
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// WaitSSH waits until the VM accepts the profile's key.
func (n *Node) WaitSSH(ctx context.Context) error {
	for {
		c, err := n.dial(ctx)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the VM did not answer on SSH (see %s): %w", n.d.path(n.m.Name, "console.log"), err)
		case <-time.After(time.Second):
		}
	}
}

func shellQuote(argv []string) string {
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(quoted, " ")
}

func (n *Node) Exec(ctx context.Context, argv []string, opts driver.ExecOptions) error {
	client, err := n.dial(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("ssh session to %s: %w", n.m.Name, err)
	}
	defer sess.Close()
	var stderr bytes.Buffer
	sess.Stdin = opts.Stdin
	sess.Stdout = opts.Stdout
	if sess.Stdout == nil {
		sess.Stdout = io.Discard
	}
	sess.Stderr = opts.Stderr
	if sess.Stderr == nil {
		sess.Stderr = &stderr
	}
	if opts.TTY {
		if err := sess.RequestPty("xterm", 40, 120, ssh.TerminalModes{ssh.ECHO: 1}); err != nil {
			return fmt.Errorf("ssh pty: %w", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- sess.Run(shellQuote(argv)) }()
	select {
	case <-ctx.Done():
		_ = sess.Signal(ssh.SIGKILL)
		return ctx.Err()
	case err = <-done:
	}
	var exit *ssh.ExitError
	if errors.As(err, &exit) {
		return &driver.ExitError{Argv: argv, Code: exit.ExitStatus(), Stderr: strings.TrimSpace(stderr.String())}
	}
	if err != nil {
		return fmt.Errorf("ssh %s in %s: %w", argv[0], n.m.Name, err)
	}
	return nil
}

func (n *Node) CopyTo(ctx context.Context, content io.Reader, _ int64, path string, mode int64) error {
	if err := n.Exec(ctx, driver.CopyToArgv(path, mode), driver.ExecOptions{Stdin: content}); err != nil {
		return fmt.Errorf("copy to %s:%s: %w", n.m.Name, path, err)
	}
	return nil
}

func (n *Node) CopyFrom(ctx context.Context, path string) (io.ReadCloser, error) {
	var out bytes.Buffer
	if err := n.Exec(ctx, []string{"cat", path}, driver.ExecOptions{Stdout: &out}); err != nil {
		return nil, fmt.Errorf("copy from %s:%s: %w", n.m.Name, path, err)
	}
	return io.NopCloser(&out), nil
}

func (n *Node) IP(ctx context.Context) (string, error) { return GuestIP, nil }

func (n *Node) HostPort(ctx context.Context, nodePort int) (int, error) {
	for _, p := range n.m.Ports {
		if p.NodePort == nodePort && (p.Protocol == "" || p.Protocol == "tcp") {
			return p.HostPort, nil
		}
	}
	return 0, fmt.Errorf("node port %d of %s is not forwarded to the host", nodePort, n.m.Name)
}
