package e2e

import (
	"strings"
	"testing"
)

func TestFloorCommandLines(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"gogc and a quote", []string{"GOGC=25", "/usr/bin/etcd", "--name=it's"},
			`GOGC=25 setsid '/usr/bin/etcd' '--name=it'\''s' >/var/log/devk-floor-etcd.log 2>&1 </dev/null &`},
		{"no environment", []string{"", "/usr/local/bin/kubelet", "--config=/etc/k.yaml"},
			` setsid '/usr/local/bin/kubelet' '--config=/etc/k.yaml' >/var/log/devk-floor-kubelet.log 2>&1 </dev/null &`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := launchLine(tt.args[1][strings.LastIndex(tt.args[1], "/")+1:], tt.args); got != tt.want {
				t.Errorf("launchLine:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
	args := []string{"", "/usr/bin/etcd", "--data-dir=/var/lib/etcd", "--secure-port=8443"}
	if got := flagValue(args, "--secure-port"); got != "8443" {
		t.Errorf("flagValue = %q, want 8443", got)
	}
	if got := flagValue(args, "--cgroup-root"); got != "" {
		t.Errorf("flagValue of a missing flag = %q, want empty", got)
	}
	got := replaceFlag(args, "--data-dir=", "--data-dir=/tmp/x")
	if got[2] != "--data-dir=/tmp/x" || args[2] != "--data-dir=/var/lib/etcd" {
		t.Errorf("replaceFlag = %q (args now %q)", got, args)
	}
}
