package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/devk-dev/devk/iso"
)

func TestSettingKeysSorted(t *testing.T) {
	keys := SettingKeys()
	if !slices.IsSorted(keys) || len(slices.Compact(slices.Clone(keys))) != len(keys) {
		t.Errorf("SettingKeys = %v: want sorted and unique", keys)
	}
}

func TestEnvVar(t *testing.T) {
	tests := map[string]string{
		"cpus": "DEVK_CPUS", "kubernetes-version": "DEVK_KUBERNETES_VERSION", "apiserver-port": "DEVK_APISERVER_PORT",
		"profile": "DEVK_PROFILE", "driver": "DEVK_DRIVER",
	}
	for key, want := range tests {
		if got := EnvVar(key); got != want {
			t.Errorf("EnvVar(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestValidateSetting(t *testing.T) {
	tooMany := strconv.Itoa(runtime.NumCPU() + 1)
	tests := []struct {
		key, value string
		wantErr    string // substring; empty means valid
		sentinel   error
	}{
		{"driver", "docker", "", nil},
		{"driver", "hyperv", "available drivers: docker", ErrInvalid},
		{"cpus", "1", "", nil},
		{"cpus", strconv.Itoa(runtime.NumCPU()), "", nil},
		{"cpus", "0", "--cpus 0", ErrInvalid},
		{"cpus", tooMany, "this machine has", ErrInvalid},
		{"cpus", "two", "whole number", ErrInvalid},
		{"memory", "4g", "", nil},
		{"memory", "6144m", "", nil},
		{"memory", "512m", "below", ErrInvalid},
		{"memory", "lots", "memory", ErrInvalid},
		{"kubernetes-version", iso.DefaultKubernetesVersion, "", nil},
		{"kubernetes-version", "1.34", "v1.MINOR.PATCH", iso.ErrBadVersion},
		{"apiserver-port", "6443", "", nil},
		{"apiserver-port", "0", "", nil},
		{"apiserver-port", "70000", "between 1 and 65535", ErrInvalid},
		{"apiserver-port", "https", "port number", ErrInvalid},
		{"ports", "8080:30080", "", nil},
		{"ports", "8080:30080, 5353:30053/udp", "", nil},
		{"ports", "8080:30080,80", "HOST:NODE", ErrInvalid},
		{"addons", "dashboard,metrics-server", "", nil},
		{"addons", "Dashboard", "--addons", ErrInvalid},
		{"addons", "a,,b", "--addons", ErrInvalid},
		{"profile", "dev2", "", nil},
		{"profile", "Bad_Name", "profile name", ErrInvalid},
		{"cpus", "", "empty value", ErrInvalid},
		{"cpus", "  ", "empty value", ErrInvalid},
		{"accel", "kvm", "", nil},
		{"prebuild-addons", "false", "", nil},
		{"prebuild-addons", "later", "--prebuild-addons \"later\": use true or false", ErrInvalid},
		{"image-cache", "nope", "--image-cache \"nope\": use true or false", ErrInvalid},
		{"accel", "hvf", "use one of auto, kvm, tcg", ErrInvalid},
		{"frobnicate", "1", "valid keys are accel, addons, apiserver-port, cpus, driver, image-cache, insecure-registry, kubernetes-version, memory, ports, prebuild-addons, profile, registry-mirror", ErrInvalid},
		{"CPUS", "1", "unknown config key", ErrInvalid},
		{"mount-string", "/a:/b", "unknown config key", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			err := ValidateSetting(tt.key, tt.value)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ValidateSetting = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, tt.sentinel) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ValidateSetting = %v, want %v mentioning %q", err, tt.sentinel, tt.wantErr)
			}
		})
	}
}

func TestLookupSetting(t *testing.T) {
	env := map[string]string{"DEVK_CPUS": "3", "DEVK_MEMORY": ""}
	getenv := func(k string) string { return env[k] }
	file := Settings{"cpus": "1", "memory": "6g"}
	tests := []struct {
		key, wantValue, wantSource string
		wantOK                     bool
	}{
		{"cpus", "3", "environment variable DEVK_CPUS", true},  // the environment wins over the file
		{"memory", "6g", "`devk config` setting memory", true}, // an empty variable is unset
		{"driver", "", "", false},
	}
	for _, tt := range tests {
		v, src, ok := LookupSetting(tt.key, getenv, file)
		if v != tt.wantValue || src != tt.wantSource || ok != tt.wantOK {
			t.Errorf("LookupSetting(%s) = %q, %q, %v; want %q, %q, %v", tt.key, v, src, ok, tt.wantValue, tt.wantSource, tt.wantOK)
		}
	}
}

func TestSettingsRoundTrip(t *testing.T) {
	h := Home{Dir: filepath.Join(t.TempDir(), "home")}
	s, err := h.LoadSettings()
	if err != nil || len(s) != 0 {
		t.Fatalf("LoadSettings of a new home = %v, %v; want empty", s, err)
	}
	set := func(k, v string) func(Settings) error { return func(s Settings) error { s[k] = v; return nil } }
	for _, kv := range [][2]string{{"cpus", "4"}, {"memory", "6g"}, {"cpus", "2"}} {
		if err := h.UpdateSettings(set(kv[0], kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.UpdateSettings(func(s Settings) error { delete(s, "memory"); return nil }); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(h.SettingsPath())
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"cpus\": \"2\"\n}\n"; string(data) != want {
		t.Errorf("config.json = %q, want %q", data, want)
	}
	if st, _ := os.Stat(h.SettingsPath()); st.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %o, want 600", st.Mode().Perm())
	}
	// A failing change writes nothing.
	boom := errors.New("boom")
	if err := h.UpdateSettings(func(s Settings) error { s["cpus"] = "9"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("UpdateSettings = %v, want boom", err)
	}
	if s, _ := h.LoadSettings(); s["cpus"] != "2" {
		t.Errorf("a failed change was written: %v", s)
	}
}

func TestUpdateSettingsConcurrent(t *testing.T) {
	h := Home{Dir: t.TempDir()}
	keys := SettingKeys()
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := h.UpdateSettings(func(s Settings) error { s[k] = "x"; return nil }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	s, err := h.LoadSettings()
	if err != nil || len(s) != len(keys) {
		t.Errorf("after concurrent updates: %v, %v; want every key (no lost update)", s, err)
	}
}

func TestLoadSettingsCorrupt(t *testing.T) {
	h := Home{Dir: t.TempDir()}
	if err := os.WriteFile(h.SettingsPath(), []byte(`{"cpus": 4}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LoadSettings(); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("LoadSettings of a corrupt file = %v, want an error saying so", err)
	}
}
