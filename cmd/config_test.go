package cmd

import (
	"bytes"
	"context"
	"github.com/devk-dev/devk/internal/golden"
	"os"
	"strings"
	"testing"

	"github.com/devk-dev/devk/cluster"
)

// isolateSettings is isolate (errors_test.go) that also clears every DEVK_<KEY> variable
// the caller's environment may set. It returns the test's home.
func isolateSettings(t *testing.T) cluster.Home {
	t.Helper()
	isolate(t)
	for _, k := range cluster.SettingKeys() {
		t.Setenv(cluster.EnvVar(k), "")
	}
	return cluster.Home{Dir: os.Getenv("DEVK_HOME")}
}

// run executes devk in-process and returns its exit code, stdout and the printed error.
func runDevk(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code, err := Execute(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String() + FormatError(err)
}

// TestConfigCommands walks through set, get, unset and view on one home, in order.
func TestConfigCommands(t *testing.T) {
	home := isolateSettings(t)
	steps := []struct {
		args     []string
		code     int
		stdout   string // exact
		contains string // in the error line
	}{
		{[]string{"config", "view"}, 0, "", ""},
		{[]string{"config", "view", "-o", "json"}, 0, "{}\n", ""},
		{[]string{"config", "set", "cpus", "1"}, 0, "", ""},
		{[]string{"config", "set", "memory", "3g"}, 0, "", ""},
		{[]string{"config", "set", "ports", "8080:30080,5353:30053/udp"}, 0, "", ""},
		{[]string{"config", "get", "cpus"}, 0, "1\n", ""},
		{[]string{"config", "set", "cpus", "2"}, 0, "", ""},
		{[]string{"config", "get", "cpus"}, 0, "2\n", ""},
		{[]string{"config", "view"}, 0, "cpus:   2\nmemory: 3g\nports:  8080:30080,5353:30053/udp\n", ""},
		{[]string{"config", "unset", "memory"}, 0, "", ""},
		{[]string{"config", "unset", "memory"}, 0, "", ""}, // unsetting an unset key is fine
		{[]string{"config", "get", "memory"}, 1, "", "memory is not set"},
		{[]string{"config", "view", "-o", "json"}, 0, `{"cpus":"2","ports":"8080:30080,5353:30053/udp"}` + "\n", ""},
		// Refused with the usage code, listing the valid keys; nothing changes.
		{[]string{"config", "set", "frobnicate", "1"}, 2, "", "valid keys are accel, addons, apiserver-port, cpus, driver, image-cache, insecure-registry, kubernetes-version, memory, ports, prebuild-addons, profile, registry-mirror"},
		{[]string{"config", "get", "frobnicate"}, 2, "", "valid keys are"},
		{[]string{"config", "unset", "frobnicate"}, 2, "", "valid keys are"},
		{[]string{"config", "set", "cpus", "999"}, 2, "", "this machine has"},
		{[]string{"config", "set", "memory", "512m"}, 2, "", "below"},
		{[]string{"config", "set", "memory", "1000g"}, 2, "", "more than this machine has"},
		{[]string{"config", "set", "addons", "ingress,nope"}, 2, "", `unknown addon "nope"`},
		{[]string{"config", "set", "driver", "hyperv"}, 2, "", "available drivers"},
		{[]string{"config", "set", "kubernetes-version", "1.34"}, 2, "", "v1.MINOR.PATCH"},
		{[]string{"config", "set", "ports", "80"}, 2, "", "HOST:NODE"},
		{[]string{"config", "set", "profile", "Bad_Name"}, 2, "", "profile name"},
		{[]string{"config", "set", "cpus"}, 2, "", "accepts 2 arg(s)"},
		{[]string{"config", "view", "-o", "yaml"}, 2, "", "--output"},
		{[]string{"config", "get", "cpus"}, 0, "2\n", ""},
	}
	for _, s := range steps {
		code, stdout, errLine := runDevk(t, s.args...)
		if code != s.code || stdout != s.stdout || !strings.Contains(errLine, s.contains) {
			t.Errorf("devk %s: exit %d, stdout %q, error %q; want exit %d, stdout %q, error containing %q",
				strings.Join(s.args, " "), code, stdout, errLine, s.code, s.stdout, s.contains)
		}
	}
	if st, err := os.Stat(home.SettingsPath()); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("settings file: %v, %v; want mode 600", st, err)
	}
}

func TestConfigViewJSONGolden(t *testing.T) {
	isolateSettings(t)
	values := map[string]string{
		"accel": "tcg", "addons": "dashboard", "apiserver-port": "6443", "cpus": "1", "driver": "docker",
		"kubernetes-version": "v1.34.4", "memory": "4g", "ports": "8080:30080", "profile": "dev2",
		"image-cache": "false", "insecure-registry": "192.168.1.10:5000", "registry-mirror": "https://mirror.example.com",
		"prebuild-addons": "false",
	}
	for _, k := range cluster.SettingKeys() {
		if code, _, errLine := runDevk(t, "config", "set", k, values[k]); code != 0 {
			t.Fatalf("config set %s: %s", k, errLine)
		}
	}
	code, stdout, errLine := runDevk(t, "config", "view", "-o", "json")
	if code != 0 {
		t.Fatal(errLine)
	}
	golden.Assert(t, "testdata/golden/config-view.json", []byte(stdout))
}

// TestStartSettingsPrecedence checks which value each start flag ends up with:
// a flag beats DEVK_<FLAG>, which beats `devk config`, which beats the built-in default.
func TestStartSettingsPrecedence(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		settings map[string]string
		existing bool              // the profile exists already
		want     map[string]string // flag values afterwards
		wantErr  string
	}{
		{"built-in defaults", nil, nil, nil, false,
			map[string]string{"cpus": "2", "memory": "4096m", "driver": "docker", "apiserver-port": "0", "ports": "[]"}, ""},
		{"config beats default", nil, nil, map[string]string{"cpus": "1", "memory": "3g", "ports": "8080:30080,9090:30090", "addons": "ingress,registry"}, false,
			map[string]string{"cpus": "1", "memory": "3g", "ports": "[8080:30080,9090:30090]", "addons": "[ingress,registry]"}, ""},
		{"an unknown addon in the settings names its source", nil, nil, map[string]string{"addons": "nope"}, false,
			nil, "unknown addon \"nope\""},
		{"environment beats config", nil, map[string]string{"DEVK_CPUS": "2", "DEVK_KUBERNETES_VERSION": "v1.33.6"},
			map[string]string{"cpus": "1", "kubernetes-version": "v1.34.4"}, false,
			map[string]string{"cpus": "2", "kubernetes-version": "v1.33.6"}, ""},
		{"flag beats environment and config", []string{"--cpus", "1", "--memory", "5g"},
			map[string]string{"DEVK_CPUS": "2", "DEVK_MEMORY": "6g"}, map[string]string{"cpus": "2", "memory": "7g"}, false,
			map[string]string{"cpus": "1", "memory": "5g"}, ""},
		{"a flag is not checked against a bad environment", []string{"--driver", "docker"}, map[string]string{"DEVK_DRIVER": "hyperv"}, nil, false,
			map[string]string{"driver": "docker"}, ""},
		{"bad environment value names its variable", nil, map[string]string{"DEVK_MEMORY": "lots"}, nil, false,
			nil, "(from environment variable DEVK_MEMORY)"},
		{"bad config value names its setting", nil, nil, map[string]string{"apiserver-port": "https"}, false,
			nil, "(from `devk config` setting apiserver-port)"},
		{"existing profile keeps its own values", nil, map[string]string{"DEVK_CPUS": "1"}, map[string]string{"memory": "3g"}, true,
			map[string]string{"cpus": "2", "memory": "4096m"}, ""},
		{"existing profile still checks them", nil, map[string]string{"DEVK_CPUS": "999"}, nil, true,
			nil, "(from environment variable DEVK_CPUS)"},
		{"accel is a host setting: it applies to an existing profile too", nil, map[string]string{"DEVK_ACCEL": "tcg"}, nil, true,
			map[string]string{"accel": "tcg", "cpus": "2"}, ""},
		{"bad accel names its setting", nil, nil, map[string]string{"accel": "hvf"}, false,
			nil, "(from `devk config` setting accel)"},
		{"the profile setting is the root flag's business", nil, nil, map[string]string{"profile": "other"}, false,
			map[string]string{"profile": "unit"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := isolateSettings(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			if err := home.UpdateSettings(func(s cluster.Settings) error {
				for k, v := range tt.settings {
					s[k] = v
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if tt.existing {
				if err := home.Save(&cluster.Profile{Name: "unit", Driver: "docker", CPUs: 2, MemoryMB: 4096}); err != nil {
					t.Fatal(err)
				}
			}
			a := &app{ctx: context.Background(), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, profile: "unit"}
			c := a.startCmd()
			c.Flags().String("profile", "unit", "") // the root's persistent flag
			if err := c.ParseFlags(tt.args); err != nil {
				t.Fatal(err)
			}
			err := a.applySettings(c)
			if tt.wantErr != "" {
				if ExitCode(err) != ExitUsage || !strings.Contains(FormatError(err), tt.wantErr) {
					t.Fatalf("applySettings = %v (exit %d), want a usage error containing %q", err, ExitCode(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tt.want {
				if got := c.Flags().Lookup(k).Value.String(); got != want {
					t.Errorf("--%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestProfileSetting checks that the profile setting is every command's default profile,
// below DEVK_PROFILE and -p.
func TestProfileSetting(t *testing.T) {
	isolateSettings(t)
	if code, _, errLine := runDevk(t, "config", "set", "profile", "from-config"); code != 0 {
		t.Fatal(errLine)
	}
	tests := []struct {
		name string
		env  string
		args []string
		want string
	}{
		{"config", "", []string{"status"}, "from-config"},
		{"environment beats config", "from-env", []string{"status"}, "from-env"},
		{"flag beats both", "from-env", []string{"-p", "from-flag", "status"}, "from-flag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("DEVK_PROFILE", tt.env)
			code, _, errLine := runDevk(t, tt.args...)
			if code != ExitNoProfile || !strings.Contains(errLine, "profile does not exist: "+tt.want) {
				t.Errorf("exit %d, error %q; want the missing profile %s", code, errLine, tt.want)
			}
		})
	}
}

func TestCompletion(t *testing.T) {
	isolateSettings(t)
	_, help, _ := runDevk(t, "--help")
	for _, cmd := range []string{"completion", "config", "mount"} {
		if !strings.Contains(help, "\n  "+cmd+" ") {
			t.Errorf("devk --help does not list %s:\n%s", cmd, help)
		}
	}
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		code, stdout, errLine := runDevk(t, "completion", shell)
		if code != 0 || !strings.Contains(stdout, "devk") || len(stdout) < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes, error %q", shell, code, len(stdout), errLine)
		}
	}
}
