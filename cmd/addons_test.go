package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/devk-dev/devk/addons"
)

// TestAddonsCommands runs the addons commands that need no engine: listing, and the
// usage errors that must be refused before anything is touched.
func TestAddonsCommands(t *testing.T) {
	t.Setenv("DEVK_HOME", t.TempDir())
	t.Setenv("DOCKER_HOST", "unix:///nonexistent.sock") // nothing here may reach an engine
	names := addons.Builtin().Names()
	tests := []struct {
		name     string
		args     []string
		code     int
		contains []string
	}{
		{"list", []string{"addons", "list"}, 0, append([]string{"NAME", "ENABLED", "DEFAULT"}, names...)},
		{"list bad output", []string{"addons", "list", "-o", "yaml"}, 2, []string{"--output"}},
		{"enable unknown", []string{"addons", "enable", "nope"}, 2, append([]string{`"nope"`}, names...)},
		{"disable unknown", []string{"addons", "disable", "nope"}, 2, append([]string{`"nope"`}, names...)},
		{"enable without a name", []string{"addons", "enable"}, 2, []string{"accepts 1 arg"}},
		{"start with an unknown addon", []string{"start", "--addons", "metrics-server,nope"}, 2, []string{`"nope"`, "metrics-server"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := Execute(context.Background(), tt.args, &stdout, &stderr)
			out := stdout.String() + FormatError(err)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, out)
			}
			for _, c := range tt.contains {
				if !strings.Contains(out, c) {
					t.Errorf("output lacks %q:\n%s", c, out)
				}
			}
		})
	}
}

func TestAddonsListJSON(t *testing.T) {
	t.Setenv("DEVK_HOME", t.TempDir())
	var stdout, stderr bytes.Buffer
	code, err := Execute(context.Background(), []string{"addons", "list", "-o", "json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %v", code, err)
	}
	var states []map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &states); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	if len(states) != len(addons.Builtin()) {
		t.Fatalf("%d addons listed", len(states))
	}
	for _, s := range states {
		for _, k := range []string{"name", "description", "enabled", "default", "namespace", "images"} {
			if _, ok := s[k]; !ok {
				t.Errorf("%v lacks %q", s["name"], k)
			}
		}
		if s["enabled"] != false {
			t.Errorf("%v enabled without a profile", s["name"])
		}
	}
}

func TestAddonErrorsExitCodes(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{fmt.Errorf("x: %w", addons.ErrUnknown), ExitUsage},
		{fmt.Errorf("x: %w", addons.ErrUnhealthy), ExitTimeout},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.err); got != tt.code {
			t.Errorf("ExitCode(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
	if got := FormatError(fmt.Errorf("x: %w", addons.ErrUnhealthy)); !strings.HasPrefix(got, "devk: ADDON_UNHEALTHY: ") {
		t.Errorf("FormatError = %q", got)
	}
}
