package cluster

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/devk-dev/devk/driver"
)

func TestLogsGroupsByComponent(t *testing.T) {
	tests := []struct {
		name       string
		opts       LogOptions
		wantCmds   []string
		wantHeader []string
	}{
		{"two components, grouped", LogOptions{Components: []string{"kubelet", "etcd"}, Lines: 5},
			[]string{"journalctl --no-pager --output=short-iso -n 5 -u kubelet", "journalctl --no-pager --output=short-iso -n 5 -u etcd"},
			[]string{"==> kubelet <==", "==> etcd <=="}},
		{"every component by default", LogOptions{Lines: 60}, nil,
			[]string{"==> etcd <==", "==> apiserver <==", "==> controller-manager <==", "==> scheduler <==", "==> kubelet <==", "==> proxy <==", "==> containerd <==", "==> docker <==", "==> preload <=="}},
		{"follow streams one interleaved journal", LogOptions{Components: []string{"kubelet", "proxy"}, Lines: 10, Follow: true},
			[]string{"journalctl --no-pager --output=short-iso -n 10 -f -u kubelet -u kube-proxy"}, nil},
		{"problems only", LogOptions{Components: []string{"apiserver"}, Lines: 60, Problems: true},
			[]string{"journalctl --no-pager --output=short-iso -n 60 --priority=warning --grep=(?i)(error|fail|fatal|panic) -u kube-apiserver"},
			[]string{"==> apiserver <=="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.drv.state = driver.StateRunning
			if err := e.m.Home.Save(testProfile("devk")); err != nil {
				t.Fatal(err)
			}
			e.node.respond = func(cmdline string) (string, error) {
				return "line of " + cmdline[strings.LastIndex(cmdline, " ")+1:] + "\n", nil
			}
			var out strings.Builder
			if err := e.m.Logs(context.Background(), "devk", tt.opts, &out); err != nil {
				t.Fatal(err)
			}
			var journals []string
			for _, c := range e.node.commands {
				if strings.HasPrefix(c, "journalctl") {
					journals = append(journals, c)
				}
			}
			if tt.wantCmds != nil && !slices.Equal(journals, tt.wantCmds) {
				t.Errorf("ran\n%s\nwant\n%s", strings.Join(journals, "\n"), strings.Join(tt.wantCmds, "\n"))
			}
			var headers []string
			for _, line := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(line, "==> ") {
					headers = append(headers, line)
				}
			}
			if !slices.Equal(headers, tt.wantHeader) {
				t.Errorf("headers %q, want %q\noutput:\n%s", headers, tt.wantHeader, out.String())
			}
		})
	}
	e := newTestEnv(t)
	if err := e.m.Logs(context.Background(), "devk", LogOptions{Components: []string{"nope"}, Lines: 1}, io.Discard); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown component: %v, want ErrInvalid before anything else", err)
	}
}
