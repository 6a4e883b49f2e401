package cmd

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestDashboardRefusals: what `devk dashboard` refuses before it touches a cluster.
func TestDashboardRefusals(t *testing.T) {
	t.Setenv("DEVK_HOME", t.TempDir())
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock") // nothing here may reach an engine
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"port out of range", []string{"dashboard", "--port", "70000"}, ExitUsage, "--port 70000"},
		{"negative port", []string{"dashboard", "--port", "-1"}, ExitUsage, "--port -1"},
		{"an argument", []string{"dashboard", "web"}, ExitUsage, "unknown command"},
		{"no such profile", []string{"dashboard", "--url", "-p", "nope"}, ExitNoProfile, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := Execute(context.Background(), tt.args, &stdout, &stderr)
			msg := FormatError(err)
			if code != tt.code || !strings.Contains(msg, tt.contains) {
				t.Fatalf("exit %d (%s), want %d and a message with %q", code, msg, tt.code, tt.contains)
			}
			if stdout.Len() != 0 {
				t.Errorf("printed %q before refusing", stdout.String())
			}
		})
	}
}
