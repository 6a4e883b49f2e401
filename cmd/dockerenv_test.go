package cmd

import (
	"bytes"
	"strings"
	"testing"
)

// TestWriteShellEnvUnsetRestores: --unset gives DOCKER_HOST back the engine it named
// before docker-env, and only unsets it when there was none.
func TestWriteShellEnvUnsetRestores(t *testing.T) {
	tests := []struct {
		name, shell, before string
		want, notWant       string
	}{
		{"bash, default engine before", "bash", "", "unset DOCKER_HOST\n", "export DOCKER_HOST"},
		{"bash, rootless engine before", "bash", "unix:///run/user/1000/docker.sock", `export DOCKER_HOST="unix:///run/user/1000/docker.sock"`, "unset DOCKER_HOST\n"},
		{"fish, rootless engine before", "fish", "unix:///run/user/1000/docker.sock", `set -gx DOCKER_HOST "unix:///run/user/1000/docker.sock";`, "set -e DOCKER_HOST;"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := writeShellEnv(&out, tt.shell, "devk", nil, tt.before); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tt.want) || strings.Contains(out.String(), tt.notWant) {
				t.Errorf("output lacks %q or has %q:\n%s", tt.want, tt.notWant, out.String())
			}
			if !strings.Contains(out.String(), "DEVK_DOCKER_HOST_BEFORE") {
				t.Errorf("the marker of the engine before is not unset:\n%s", out.String())
			}
		})
	}
	var out bytes.Buffer
	if err := writeShellEnv(&out, "bash", "devk", map[string]string{"DOCKER_HOST": "tcp://127.0.0.1:1", "DEVK_DOCKER_HOST_BEFORE": "unix:///x.sock"}, "unix:///x.sock"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `export DEVK_DOCKER_HOST_BEFORE="unix:///x.sock"`) {
		t.Errorf("docker-env does not keep the engine from before:\n%s", out.String())
	}
}
