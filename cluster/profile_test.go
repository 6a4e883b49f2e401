package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devk-dev/devk/driver"
)

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in      string
		want    int
		wantErr string // substring of the error; "" means success
	}{
		{"4096", 4096, ""},
		{"4096m", 4096, ""},
		{"4096M", 4096, ""},
		{"4096mb", 4096, ""},
		{"4096MB", 4096, ""},
		{"2048MiB", 2048, ""},
		{"4g", 4096, ""},
		{"4G", 4096, ""},
		{"4GB", 4096, ""},
		{"4gib", 4096, ""},
		{" 2g ", 2048, ""},
		{"1800", 1800, ""},
		{"1800m", 1800, ""},
		{"16g", 16384, ""},
		{"1799", 0, "below the 1800 MiB"},
		{"1g", 0, "below the 1800 MiB"},
		{"1024m", 0, "below the 1800 MiB"},
		{"", 0, "use a size such as"},
		{"abc", 0, "use a size such as"},
		{"g", 0, "use a size such as"},
		{"0", 0, "use a size such as"},
		{"0g", 0, "use a size such as"},
		{"-4g", 0, "use a size such as"},
		{"4.5g", 0, "use a size such as"},
		{"4t", 0, "use a size such as"},
		{"4 g", 0, "use a size such as"},
		{"4kb", 0, "use a size such as"},
		{"4096b", 0, "use a size such as"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMemory(tt.in)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Errorf("ParseMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseMemory(%q) = %d, want an error", tt.in, got)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseMemory(%q) error %q: want ErrInvalid mentioning %q", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestParsePortMapping(t *testing.T) {
	tests := []struct {
		in   string
		want driver.PortMapping
		ok   bool
	}{
		{"8080:30080", driver.PortMapping{HostPort: 8080, NodePort: 30080, Protocol: "tcp"}, true},
		{"8080:30080/tcp", driver.PortMapping{HostPort: 8080, NodePort: 30080, Protocol: "tcp"}, true},
		{"5353:30053/udp", driver.PortMapping{HostPort: 5353, NodePort: 30053, Protocol: "udp"}, true},
		{"1:65535", driver.PortMapping{HostPort: 1, NodePort: 65535, Protocol: "tcp"}, true},
		{"", driver.PortMapping{}, false},
		{"8080", driver.PortMapping{}, false},
		{"8080:", driver.PortMapping{}, false},
		{":30080", driver.PortMapping{}, false},
		{"a:b", driver.PortMapping{}, false},
		{"0:30080", driver.PortMapping{}, false},
		{"8080:0", driver.PortMapping{}, false},
		{"65536:80", driver.PortMapping{}, false},
		{"80:65536", driver.PortMapping{}, false},
		{"-1:80", driver.PortMapping{}, false},
		{"80:80/sctp", driver.PortMapping{}, false},
		{"80:80/TCP", driver.PortMapping{}, false},
		{"127.0.0.1:80:80", driver.PortMapping{}, false},
		{"80:80:80", driver.PortMapping{}, false},
		{"80-81:80-81", driver.PortMapping{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParsePortMapping(tt.in)
			if tt.ok {
				if err != nil || got != tt.want {
					t.Errorf("ParsePortMapping(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParsePortMapping(%q) = %+v, want an error", tt.in, got)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "HOST:NODE") {
				t.Errorf("error %q: want ErrInvalid with the HOST:NODE hint", err)
			}
		})
	}
}

func TestValidateProfileName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"devk", true},
		{"a", false}, // Docker refuses one-character container names
		{"ab", true},
		{"0", false},
		{"07", true},
		{"dev-2", true},
		{"a--b", true},
		{strings.Repeat("a", 32), true},
		{"", false},
		{strings.Repeat("a", 33), false},
		{"Devk", false},
		{"-devk", false},
		{"devk-", false},
		{"dev_k", false},
		{"dev.k", false},
		{"dev k", false},
		{"../etc", false},
		{"a/b", false},
		{"dévk", false},
		{"devk\n", false},
	}
	for _, tt := range tests {
		err := ValidateProfileName(tt.name)
		if tt.ok && err != nil {
			t.Errorf("ValidateProfileName(%q) = %v, want nil", tt.name, err)
		}
		if !tt.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateProfileName(%q) = %v, want ErrInvalid", tt.name, err)
		}
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		n  int
		ok bool
	}{
		{1, true}, {80, true}, {8443, true}, {65535, true},
		{0, false}, {-1, false}, {65536, false}, {1 << 20, false},
	}
	for _, tt := range tests {
		err := ParsePort("--apiserver-port", tt.n)
		if tt.ok != (err == nil) {
			t.Errorf("ParsePort(%d) = %v, want ok=%v", tt.n, err, tt.ok)
		}
		if err != nil && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "--apiserver-port")) {
			t.Errorf("ParsePort(%d) error %q: want ErrInvalid naming the flag", tt.n, err)
		}
	}
}

func testProfile(name string) *Profile {
	return &Profile{
		Name: name, Driver: "docker", CPUs: 2, MemoryMB: 4096, KubernetesVersion: "v1.34.4",
		APIServerPort: 32771, DockerPort: 32772, NodeImage: "devk/node:v1.34.4-0123456789ab", NodeIP: testNodeIP,
		Ports:   []driver.PortMapping{{HostPort: 8080, NodePort: 30080, Protocol: "tcp"}},
		Addons:  []string{"dashboard"},
		Created: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func TestHomeRoundTrip(t *testing.T) {
	h := Home{Dir: filepath.Join(t.TempDir(), "devk-home")}
	if names, err := h.Profiles(); err != nil || names != nil {
		t.Fatalf("Profiles of an empty home = %v, %v; want nil, nil", names, err)
	}
	if _, err := h.Load("devk"); !errors.Is(err, ErrNoProfile) {
		t.Fatalf("Load of a missing profile: %v, want ErrNoProfile", err)
	}
	for _, name := range []string{"zeta", "devk", "alpha"} {
		if err := h.Save(testProfile(name)); err != nil {
			t.Fatalf("Save(%s): %v", name, err)
		}
	}
	// A folder without config.json (a half-deleted profile) is not a profile.
	if err := os.MkdirAll(h.CertsDir("ghost"), 0o700); err != nil {
		t.Fatal(err)
	}
	got, err := h.Load("devk")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if want := testProfile("devk"); !reflect.DeepEqual(got, want) {
		t.Errorf("Load = %+v\nwant %+v", got, want)
	}
	names, err := h.Profiles()
	if err != nil || !slices.Equal(names, []string{"alpha", "devk", "zeta"}) {
		t.Errorf("Profiles = %v, %v; want [alpha devk zeta]", names, err)
	}
	cfgPath := filepath.Join(h.ProfileDir("devk"), "config.json")
	assertMode(t, cfgPath, 0o600)
	assertNoTempFiles(t, h.ProfileDir("devk"))
	data, _ := os.ReadFile(cfgPath)
	for _, field := range []string{`"name": "devk"`, `"apiServerPort": 32771`, `"nodeIP": "192.168.49.2"`, `"kubernetesVersion": "v1.34.4"`, `"memoryMB": 4096`} {
		if !strings.Contains(string(data), field) {
			t.Errorf("config.json lacks the stable field %s:\n%s", field, data)
		}
	}

	if err := h.Remove("devk"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Load("devk"); !errors.Is(err, ErrNoProfile) {
		t.Errorf("Load after Remove: %v, want ErrNoProfile", err)
	}
	if err := h.Remove("devk"); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if names, _ := h.Profiles(); !slices.Equal(names, []string{"alpha", "zeta"}) {
		t.Errorf("Profiles after Remove = %v", names)
	}
}

func TestHomeLoadCorrupt(t *testing.T) {
	tests := []struct {
		name, data, why string
	}{
		{"truncated", `{"name": "devk", "cpus": 2`, "unexpected end of JSON input"},
		{"empty", ``, "unexpected end of JSON input"},
		{"garbage", "\x00\x01garbage", "invalid character"},
		{"wrong type", `{"name": "devk", "cpus": "two"}`, "cannot unmarshal"},
		{"null", `null`, `names profile ""`},
		{"another profile's file", `{"name": "other", "driver": "docker"}`, `names profile "other"`},
		{"no driver", `{"name": "devk"}`, `driver ""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Home{Dir: t.TempDir()}
			if err := os.MkdirAll(h.ProfileDir("devk"), 0o700); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(h.ProfileDir("devk"), "config.json")
			mustWrite(t, path, tt.data)
			_, err := h.Load("devk")
			if !errors.Is(err, ErrCorruptProfile) {
				t.Fatalf("Load = %v, want ErrCorruptProfile", err)
			}
			for _, want := range []string{path, tt.why, "devk delete -p devk"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

func TestHomePaths(t *testing.T) {
	h := Home{Dir: "/h"}
	tests := []struct{ got, want string }{
		{h.ProfileDir("devk"), "/h/profiles/devk"},
		{h.CertsDir("devk"), "/h/profiles/devk/certs"},
		{h.CacheDir(), "/h/cache"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

func TestDefaultHome(t *testing.T) {
	t.Setenv("DEVK_HOME", "/custom/devk")
	if h, err := DefaultHome(); err != nil || h.Dir != "/custom/devk" {
		t.Errorf("with DEVK_HOME: %+v, %v", h, err)
	}
	home := t.TempDir()
	t.Setenv("DEVK_HOME", "")
	t.Setenv("HOME", home)
	if h, err := DefaultHome(); err != nil || h.Dir != filepath.Join(home, ".devk") {
		t.Errorf("without DEVK_HOME: %+v, %v", h, err)
	}
}

func TestHomeLock(t *testing.T) {
	h := Home{Dir: t.TempDir()}
	unlock, err := h.Lock("devk")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	// The lock lives beside the profile folder, so Remove does not delete it.
	if _, err := os.Stat(filepath.Join(h.Dir, "locks", "devk.lock")); err != nil {
		t.Errorf("lock file: %v", err)
	}
	if _, err := os.Stat(h.ProfileDir("devk")); !os.IsNotExist(err) {
		t.Errorf("Lock created the profile folder")
	}
	// Another profile is not blocked.
	unlock2, err := Lock(filepath.Join(h.Dir, "locks", "other.lock"), 0)
	if err != nil {
		t.Fatalf("lock of another profile: %v", err)
	}
	unlock2()
}

// TestHomeID: one ID per home, the same on every call and in every concurrent first call.
func TestHomeID(t *testing.T) {
	h := Home{Dir: filepath.Join(t.TempDir(), "home")}
	ids := make(chan string, 8)
	for i := 0; i < 8; i++ {
		go func() {
			id, err := h.ID()
			if err != nil {
				t.Error(err)
			}
			ids <- id
		}()
	}
	first := <-ids
	for i := 1; i < 8; i++ {
		if id := <-ids; id != first || id == "" {
			t.Fatalf("IDs differ: %q and %q", first, id)
		}
	}
	if again, _ := h.ID(); again != first {
		t.Errorf("ID changed: %q then %q", first, again)
	}
	if other, _ := (Home{Dir: t.TempDir()}).ID(); other == first {
		t.Errorf("two homes share the ID %q", first)
	}
	if entries, _ := os.ReadDir(h.Dir); len(entries) != 1 {
		t.Errorf("home holds %d entries, want only id (temporary files left?)", len(entries))
	}
}
