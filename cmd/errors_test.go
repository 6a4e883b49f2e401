package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/driver"
	"github.com/devk-dev/devk/driver/docker"
	"github.com/devk-dev/devk/driver/qemu"
	"github.com/devk-dev/devk/iso"
)

// The exit codes and reason IDs are an interface scripts depend on: spelled out here as
// literals so a renumbering fails this test.
func TestExitCodeAndFormatError(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     int
		reason   string
		contains string
	}{
		{"invalid value", fmt.Errorf("%w: memory %q", cluster.ErrInvalid, "1g"), 2, "USAGE", `memory "1g"`},
		{"bad version", fmt.Errorf("%w: x", iso.ErrBadVersion), 2, "USAGE_K8S_VERSION", "invalid Kubernetes version"},
		{"unknown version", fmt.Errorf("%w: v1.34.99", iso.ErrUnknownVersion), 2, "USAGE_K8S_VERSION_UNKNOWN", "v1.34.99"},
		{"usage", fmt.Errorf("%w: --output yaml", errUsage), 2, "USAGE", "--output yaml"},
		{"no profile", fmt.Errorf("%w: devk", cluster.ErrNoProfile), 3, "PROFILE_NOT_FOUND", "profile does not exist"},
		{"locked", fmt.Errorf("%w (lock x)", cluster.ErrLocked), 4, "PROFILE_LOCKED", "another devk command"},
		{"interrupted", fmt.Errorf("%w: interrupted", context.Canceled), 5, "INTERRUPTED", "interrupted"},
		{"corrupt profile", fmt.Errorf("%w: /h/profiles/devk/config.json is unreadable", cluster.ErrCorruptProfile), 8, "PROFILE_CORRUPT", "config.json"},
		{"engine", fmt.Errorf("%w at unix:///x", docker.ErrEngineUnreachable), 10, "DRIVER_UNAVAILABLE", "Docker engine"},
		{"kvm unusable", fmt.Errorf("%w (a test boot under KVM failed)", qemu.ErrKVMUnusable), 10, "DRIVER_KVM_UNUSABLE", "KVM does not work here"},
		{"missing tool", fmt.Errorf("%w: mmdebstrap", iso.ErrMissingTool), 11, "NODE_IMAGE_TOOL_MISSING", "mmdebstrap"},
		{"build failed", fmt.Errorf("%w: go build", iso.ErrBuildFailed), 11, "NODE_IMAGE_BUILD", "go build"},
		{"foreign node", fmt.Errorf("%w: container x exists", driver.ErrForeign), 20, "NODE_NOT_OURS", "container x exists"},
		{"node gone", fmt.Errorf("container devk: %w", driver.ErrNotFound), 20, "NODE_NOT_FOUND", "node not found"},
		{"not running", fmt.Errorf("%w: devk is Stopped", cluster.ErrNotRunning), 21, "CLUSTER_NOT_RUNNING", "Stopped"},
		{"disk full", fmt.Errorf("%w: 300 MiB free", cluster.ErrDiskFull), 22, "NODE_DISK_FULL", "300 MiB free"},
		{"timeout", fmt.Errorf("%w after 2m0s waiting for DNS", cluster.ErrTimeout), 30, "CONTROL_PLANE_TIMEOUT", "waiting for DNS"},
		{"doubly wrapped", fmt.Errorf("start: %w", fmt.Errorf("%w: devk", cluster.ErrNoProfile)), 3, "PROFILE_NOT_FOUND", "start: "},
		{"two sentinels: the first listed reason wins", fmt.Errorf("%w; %w", cluster.ErrTimeout, cluster.ErrInvalid), 2, "USAGE", "timed out; invalid value"},
		{"anything else", errors.New("boom"), 1, "ERROR", "boom"},
		{"exit error from a node", &driver.ExitError{Argv: []string{"kubectl"}, Code: 1}, 1, "ERROR", "kubectl"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExitCode(tt.err); got != tt.code {
				t.Errorf("ExitCode = %d, want %d", got, tt.code)
			}
			msg := FormatError(tt.err)
			if prefix := "devk: " + tt.reason + ": "; !strings.HasPrefix(msg, prefix) {
				t.Errorf("FormatError = %q, want prefix %q", msg, prefix)
			}
			if !strings.Contains(msg, tt.contains) || strings.Contains(msg, "\n") {
				t.Errorf("FormatError = %q: want one line containing %q", msg, tt.contains)
			}
		})
	}
}

// TestEveryReasonIsReachable guards the reasons table itself: each sentinel maps to its
// own code and ID when wrapped, and no ID is used with two codes.
func TestEveryReasonIsReachable(t *testing.T) {
	codeOf := map[string]int{}
	for _, r := range reasons {
		err := fmt.Errorf("context: %w", r.target)
		if got := ExitCode(err); got != r.code {
			t.Errorf("%v: ExitCode = %d, want %d (shadowed by an earlier entry?)", r.target, got, r.code)
		}
		if msg := FormatError(err); !strings.HasPrefix(msg, "devk: "+r.reason+": ") {
			t.Errorf("%v: FormatError = %q, want reason %s", r.target, msg, r.reason)
		}
		if r.code == ExitOK || r.code == ExitError {
			t.Errorf("%v maps to the generic code %d", r.target, r.code)
		}
		if prev, ok := codeOf[r.reason]; ok && prev != r.code {
			t.Errorf("reason %s used with codes %d and %d", r.reason, prev, r.code)
		}
		codeOf[r.reason] = r.code
	}
}

func TestStatusExit(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{&statusExit{code: 1}, 1},
		{&statusExit{code: 6}, 6},
		{&statusExit{code: 7}, 7},
		{fmt.Errorf("wrapped: %w", &statusExit{code: 4}), 4},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.code {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.code)
		}
		if msg := FormatError(tt.err); msg != "" {
			t.Errorf("FormatError(%v) = %q: a status exit prints nothing", tt.err, msg)
		}
	}
	if got := (&statusExit{code: 7}).Error(); got != "exit status 7" {
		t.Errorf("Error() = %q", got)
	}
	if ExitCode(nil) != 0 || FormatError(nil) != "" {
		t.Errorf("nil: ExitCode %d, FormatError %q", ExitCode(nil), FormatError(nil))
	}
}

func TestIsCobraUsageError(t *testing.T) {
	tests := []struct {
		msg  string
		want bool
	}{
		{`unknown command "strat" for "devk"`, true},
		{`accepts 1 arg(s), received 2`, true},
		{`requires at least 1 arg(s), only received 0`, true},
		{`unknown flag: --nope`, true},
		{`unknown shorthand flag: 'z' in -z`, true},
		{`the Docker engine is not reachable`, false},
	}
	for _, tt := range tests {
		if got := isCobraUsageError(errors.New(tt.msg)); got != tt.want {
			t.Errorf("isCobraUsageError(%q) = %v, want %v", tt.msg, got, tt.want)
		}
	}
}

func TestValidateOutput(t *testing.T) {
	tests := []struct {
		output string
		ok     bool
	}{{"", true}, {"json", true}, {"text", true}, {"yaml", false}, {"JSON", false}}
	for _, tt := range tests {
		err := validateOutput(tt.output, "json", "text")
		if tt.ok != (err == nil) || err != nil && !errors.Is(err, errUsage) {
			t.Errorf("validateOutput(%q) = %v, want ok=%v", tt.output, err, tt.ok)
		}
	}
}

// isolate points every path and engine devk could touch at nothing real, so a command
// that got further than expected fails instead of acting on this machine.
func isolate(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("DEVK_HOME", dir+"/home")
	t.Setenv("KUBECONFIG", dir+"/kubeconfig")
	t.Setenv("DOCKER_HOST", "unix://"+dir+"/no-docker.sock")
	t.Setenv("DEVK_PROFILE", "")
	t.Setenv("DEVK_DRIVER", "")
	t.Setenv("TERM", "dumb")
}

// TestExecuteUsageErrors runs commands that must fail on their flags, before any
// driver or file is touched.
func TestExecuteUsageErrors(t *testing.T) {
	isolate(t)
	tests := []struct {
		args     []string
		code     int
		reason   string
		contains string
	}{
		{[]string{"strat"}, 2, "USAGE", "unknown command"},
		{[]string{"start", "--nope"}, 2, "USAGE", "unknown flag"},
		{[]string{"stop", "extra"}, 2, "USAGE", "extra"},
		{[]string{"-p", "Bad_Name", "status"}, 2, "USAGE", "profile name"},
		{[]string{"status", "-o", "yaml"}, 2, "USAGE", "--output"},
		{[]string{"start", "--driver", "podman"}, 2, "USAGE", "available drivers: docker"},
		{[]string{"start", "--kubernetes-version", "1.34"}, 2, "USAGE_K8S_VERSION", "v1.MINOR.PATCH"},
		{[]string{"start", "--kubernetes-version", "v1.20.0"}, 2, "USAGE_K8S_VERSION", "older"},
		{[]string{"start", "--memory", "1g"}, 2, "USAGE", "1800 MiB"},
		{[]string{"start", "--cpus", "100000"}, 2, "USAGE", "--cpus"},
		{[]string{"start", "--ports", "80"}, 2, "USAGE", "HOST:NODE"},
		{[]string{"start", "--apiserver-port", "70000"}, 2, "USAGE", "--apiserver-port"},
		{[]string{"delete", "--purge"}, 2, "USAGE", "--all"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			code, err := Execute(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.code {
				t.Errorf("code = %d (err %v), want %d", code, err, tt.code)
			}
			msg := FormatError(err)
			if !strings.HasPrefix(msg, "devk: "+tt.reason+": ") || !strings.Contains(msg, tt.contains) {
				t.Errorf("message %q, want reason %s mentioning %q", msg, tt.reason, tt.contains)
			}
			if stdout.Len() != 0 {
				t.Errorf("a failed command wrote to stdout: %q", stdout.String())
			}
		})
	}
}

func TestExecuteInterrupted(t *testing.T) {
	isolate(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	code, err := Execute(ctx, []string{"start", "--driver", "podman"}, &strings.Builder{}, &strings.Builder{})
	if code != ExitInterrupted || !errors.Is(err, context.Canceled) {
		t.Errorf("Execute after interrupt = %d, %v; want %d wrapping context.Canceled", code, err, ExitInterrupted)
	}
	if !strings.Contains(FormatError(err), "run the command again") {
		t.Errorf("message %q does not say how to resume", FormatError(err))
	}
}

// The settings' --accel values are the qemu driver's.
func TestAccelsMatchTheDriver(t *testing.T) {
	if got, want := strings.Join(cluster.Accels(), ","), strings.Join(qemu.Accels(), ","); got != want {
		t.Errorf("cluster.Accels() = %s, qemu.Accels() = %s", got, want)
	}
}
