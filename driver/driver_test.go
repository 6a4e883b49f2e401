package driver

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestExitError(t *testing.T) {
	tests := []struct {
		err  ExitError
		want string
	}{
		{ExitError{Code: 1}, "command exited with status 1"},
		{ExitError{Argv: []string{"systemctl", "start", "x"}, Code: 3}, "systemctl: command exited with status 3"},
		{ExitError{Argv: []string{"kubectl"}, Code: 1, Stderr: "no such file"}, "kubectl: command exited with status 1: no such file"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

// scriptNode answers Exec with fixed output and an exit status.
type scriptNode struct {
	Node
	stdout, stderr string
	exitErr        *ExitError
	argv           []string
}

func (n *scriptNode) Exec(ctx context.Context, argv []string, opts ExecOptions) error {
	n.argv = argv
	if opts.Stdout != nil {
		io.WriteString(opts.Stdout, n.stdout)
	}
	if opts.Stderr != nil {
		io.WriteString(opts.Stderr, n.stderr)
	}
	if n.exitErr != nil {
		return n.exitErr
	}
	return nil
}

func TestOutput(t *testing.T) {
	tests := []struct {
		name       string
		node       *scriptNode
		wantOut    string
		wantStderr string // "" means no error
	}{
		{"trimmed stdout", &scriptNode{stdout: "  active\n"}, "active", ""},
		{"stderr into the error", &scriptNode{stdout: "partial\n", stderr: " boom \n", exitErr: &ExitError{Argv: []string{"x"}, Code: 2}}, "partial", "boom"},
		{"driver's stderr kept", &scriptNode{stderr: "ignored", exitErr: &ExitError{Argv: []string{"x"}, Code: 2, Stderr: "from driver"}}, "", "from driver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Output(context.Background(), tt.node, "systemctl", "is-active", "kubelet")
			if out != tt.wantOut {
				t.Errorf("output = %q, want %q", out, tt.wantOut)
			}
			if len(tt.node.argv) != 3 || tt.node.argv[0] != "systemctl" {
				t.Errorf("argv = %v", tt.node.argv)
			}
			if tt.wantStderr == "" {
				if err != nil {
					t.Errorf("err = %v", err)
				}
				return
			}
			var exit *ExitError
			if !errors.As(err, &exit) || exit.Stderr != tt.wantStderr {
				t.Errorf("err = %v, want an ExitError with stderr %q", err, tt.wantStderr)
			}
		})
	}
}

// TestCopyToArgv runs the copy command on this machine: a path with shell syntax in it is
// a file name, nothing runs, and a folder is refused with nothing left behind.
func TestCopyToArgv(t *testing.T) {
	dir := t.TempDir()
	canary := filepath.Join(dir, "pwned")
	tests := []struct {
		name string
		path string
	}{
		{"plain", filepath.Join(dir, "a", "b.txt")},
		{"command substitution", filepath.Join(dir, "x$(touch "+canary+")")},
		{"backticks and quotes", filepath.Join(dir, "y`touch "+canary+"`'\"")},
		{"leading dash", filepath.Join(dir, "-n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := CopyToArgv(tt.path, 0o640)
			cmd := exec.Command(argv[0], argv[1:]...)
			cmd.Stdin = strings.NewReader("content")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if got, err := os.ReadFile(tt.path); err != nil || string(got) != "content" {
				t.Errorf("file %q: %q, %v", tt.path, got, err)
			}
			if st, err := os.Stat(tt.path); err == nil && st.Mode().Perm() != 0o640 {
				t.Errorf("mode %o, want 640", st.Mode().Perm())
			}
			if _, err := os.Stat(canary); err == nil {
				t.Fatal("the path ran as a command")
			}
		})
	}
	folder := filepath.Join(dir, "folder")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	argv := CopyToArgv(folder, 0o644)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader("content")
	var exit *exec.ExitError
	if err := cmd.Run(); !errors.As(err, &exit) || exit.ExitCode() != 21 {
		t.Errorf("copy onto a folder: %v, want exit 21", err)
	}
	if entries, _ := os.ReadDir(folder); len(entries) != 0 {
		t.Errorf("copy onto a folder left %v", entries)
	}
}

func TestAssignFreePortsDistinct(t *testing.T) {
	// Many zero ports at once: the kernel reuses a just-closed port often enough that a
	// picker closing each listener before the next would collide here.
	// A set host port that is free right now (its node is stopped) must not be handed
	// out again.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	set := l.Addr().(*net.TCPAddr).Port
	l.Close()
	in := []PortMapping{{NodePort: 22}, {NodePort: 8443, HostPort: set}}
	for i := range 50 {
		in = append(in, PortMapping{NodePort: 30000 + i})
	}
	out, err := AssignFreePorts(in)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for i, p := range out {
		if p.NodePort != in[i].NodePort {
			t.Errorf("mapping %d changed node port: %+v", i, p)
		}
		if in[i].HostPort != 0 && p.HostPort != in[i].HostPort {
			t.Errorf("a set host port was replaced: %+v", p)
		}
		if p.HostPort == 0 || seen[p.HostPort] {
			t.Errorf("host port %d is zero or given twice", p.HostPort)
		}
		seen[p.HostPort] = true
	}
}
