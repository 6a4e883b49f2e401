package driver

import (
	"context"
	"errors"
	"io"
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
