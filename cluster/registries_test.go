package cluster

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/devk-dev/devk/driver"
	"github.com/devk-dev/devk/internal/golden"
)

func TestRegistryHostsTOML(t *testing.T) {
	c := RegistryConfig{
		Cache:    map[string]string{"docker.io": "http://192.168.49.2:5001", "quay.io": "http://192.168.49.2:5004"},
		Mirrors:  []string{"https://mirror.example.com/", "http://10.0.0.5:5000"},
		Insecure: []string{"192.168.1.10:5000"},
	}
	var all strings.Builder
	for _, h := range c.Hosts() {
		all.WriteString("== " + h.Host + " ==\n")
		all.Write(h.HostsTOML())
	}
	golden.Assert(t, filepath.Join("testdata", "golden", "registries-hosts.toml"), []byte(all.String()))
}

func TestDockerRegistryArgs(t *testing.T) {
	tests := []struct {
		name string
		c    RegistryConfig
		want string
	}{
		{"nothing", RegistryConfig{}, ""},
		{"cache first, then the user's mirrors", RegistryConfig{
			Cache:   map[string]string{"docker.io": "http://192.168.49.2:5001", "ghcr.io": "http://192.168.49.2:5003"},
			Mirrors: []string{"https://mirror.example.com"}, Insecure: []string{"reg.local:5000"},
		}, "--registry-mirror=http://192.168.49.2:5001 --registry-mirror=https://mirror.example.com --insecure-registry=192.168.49.2:5001 --insecure-registry=192.168.49.2:5003 --insecure-registry=reg.local:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dockerRegistryArgs(tt.c); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestValidateRegistryFlags(t *testing.T) {
	tests := []struct {
		value    string
		mirror   bool
		wantFail bool
	}{
		{"https://mirror.example.com", true, false},
		{"http://192.168.1.10:5000", true, false},
		{"https://mirror.example.com/path", true, false},
		{"mirror.example.com", true, true},
		{"ftp://mirror.example.com", true, true},
		{"https://user:pw@mirror.example.com", true, true},
		{"https://", true, true},
		{"http://x/?q=1", true, true},
		{"192.168.1.10:5000", false, false},
		{"reg.local", false, false},
		{"[::1]:5000", false, false},
		{"http://reg.local", false, true},
		{"reg.local/path", false, true},
		{"reg.local:99999", false, true},
		{"reg.local:port", false, true},
		{"", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			var err error
			if tt.mirror {
				err = ValidateMirror(tt.value)
			} else {
				err = ValidateInsecureRegistry(tt.value)
			}
			if (err != nil) != tt.wantFail {
				t.Fatalf("err = %v, want failure %v", err, tt.wantFail)
			}
			if err != nil && !errors.Is(err, ErrInvalid) {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestParseUpstreams(t *testing.T) {
	got, err := ParseUpstreams(DefaultUpstreams(), "docker.io=http://host.docker.internal:5999, registry.example.com=https://registry.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got[0] != (Upstream{"docker.io", "http://host.docker.internal:5999"}) || got[len(got)-1] != (Upstream{"registry.example.com", "https://registry.example.com"}) || len(got) != 5 {
		t.Errorf("got %+v", got)
	}
	for _, bad := range []string{"docker.io", "docker.io=notaurl", "=https://x", "a/b=https://x"} {
		if _, err := ParseUpstreams(DefaultUpstreams(), bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestImageCacheSpec(t *testing.T) {
	c := &ImageCache{UpstreamOverrides: "docker.io=http://host.docker.internal:5999"}
	c.Program.Image = "devk.dev/image-cache:src-1"
	spec, err := c.Spec("/home/u/.devk/cache/registry", ProxyEnv{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"serve", "docker.io=5001=http://host.docker.internal:5999", "registry.k8s.io=5002=https://registry.k8s.io",
		"ghcr.io=5003=https://ghcr.io", "quay.io=5004=https://quay.io"}
	if !slices.Equal(spec.Args, want) || len(spec.Env) != 0 {
		t.Errorf("args %q env %q", spec.Args, spec.Env)
	}
	if !slices.Equal(spec.Ports, []int{5001, 5002, 5003, 5004}) {
		t.Errorf("ports %v", spec.Ports)
	}
	withProxy, _ := c.Spec("/d", ProxyEnv{HTTPSProxy: "http://127.0.0.1:3128"}, "192.168.49.0/24")
	if withProxy.Key != spec.Key {
		t.Error("the key depends on the proxy: profiles with different proxies would replace the shared cache in turn")
	}
	env := strings.Join(withProxy.Env, " ")
	for _, want := range []string{"HTTPS_PROXY=http://host.docker.internal:3128", "NO_PROXY=localhost,127.0.0.1,host.docker.internal,192.168.49.0/24"} {
		if !strings.Contains(env, want) {
			t.Errorf("env %q lacks %s", env, want)
		}
	}
	if _, err := (&ImageCache{UpstreamOverrides: "docker.io"}).Spec("/d", ProxyEnv{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a malformed override: %v, want ErrInvalid", err)
	}

	ep := driver.ServiceEndpoint{IP: "192.168.49.2", HostPorts: map[int]int{5001: 40001, 5002: 40002, 5003: 40003}}
	tests := []struct {
		name, viaHost string
		want          map[string]string
	}{
		{"a container node: the cache's IP", "", map[string]string{"docker.io": "http://192.168.49.2:5001", "registry.k8s.io": "http://192.168.49.2:5002",
			"ghcr.io": "http://192.168.49.2:5003", "quay.io": "http://192.168.49.2:5004"}},
		{"a VM: the host's loopback ports (an unpublished one is left out)", "10.0.2.2", map[string]string{"docker.io": "http://10.0.2.2:40001",
			"registry.k8s.io": "http://10.0.2.2:40002", "ghcr.io": "http://10.0.2.2:40003"}},
	}
	for _, tt := range tests {
		if got := c.URLs(ep, tt.viaHost); !maps.Equal(got, tt.want) {
			t.Errorf("%s: urls %v, want %v", tt.name, got, tt.want)
		}
	}
}

// Bad registry or proxy settings are refused before a profile or node exists.
func TestStartRefusesBadRegistrySettings(t *testing.T) {
	tests := []struct {
		name string
		opts StartOptions
	}{
		{"mirror without a scheme", StartOptions{RegistryMirrors: []string{"mirror.example.com"}}},
		{"insecure registry with a path", StartOptions{InsecureRegistries: []string{"reg:5000/x"}}},
		{"proxy that is no URL", StartOptions{Proxy: ProxyEnv{HTTPSProxy: "http://"}, ProxySet: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			tt.opts.Profile = "devk"
			if _, err := e.m.Start(context.Background(), tt.opts); !errors.Is(err, ErrInvalid) {
				t.Fatalf("Start = %v, want ErrInvalid", err)
			}
			if _, err := e.m.Home.Load("devk"); !errors.Is(err, ErrNoProfile) {
				t.Errorf("a refused start left a profile: %v", err)
			}
			if slices.Contains(e.drv.calls, "Create") {
				t.Error("a refused start created a node")
			}
		})
	}
	e := newTestEnv(t)
	e.m.ImageCache = &ImageCache{UpstreamOverrides: "docker.io"}
	if _, err := e.m.Start(context.Background(), StartOptions{Profile: "devk"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a malformed %s: %v, want ErrInvalid", ImageCacheUpstreamsVar, err)
	}
}

// Registry settings given to start are kept; ones not given keep what the profile has.
func TestApplyRegistryOptions(t *testing.T) {
	off := false
	prof := &Profile{RegistryMirrors: []string{"https://m"}, Proxy: ProxyEnv{HTTPSProxy: "http://p:1"}}
	applyRegistryOptions(prof, StartOptions{InsecureRegistries: []string{"reg:5000"}, ImageCache: &off})
	if !slices.Equal(prof.RegistryMirrors, []string{"https://m"}) || !slices.Equal(prof.InsecureRegistries, []string{"reg:5000"}) || !prof.NoImageCache || prof.Proxy.HTTPSProxy != "http://p:1" {
		t.Errorf("after a start with some settings: %+v", prof)
	}
	applyRegistryOptions(prof, StartOptions{RegistryMirrors: []string{}, ProxySet: true})
	if len(prof.RegistryMirrors) != 0 || !prof.Proxy.IsZero() {
		t.Errorf("an empty --registry-mirror and an empty proxy variable must clear them: %+v", prof)
	}
}

func TestCachedRef(t *testing.T) {
	tests := []struct{ image, host, ref string }{
		{"busybox:1.37", "docker.io", "library/busybox:1.37"},
		{"busybox", "docker.io", "library/busybox"},
		{"ghcr.io/org/app:v1", "ghcr.io", "org/app:v1"},
		{"registry.k8s.io/pause:3.10.1", "registry.k8s.io", "pause:3.10.1"},
	}
	for _, tt := range tests {
		host, ref, err := cachedRef(tt.image)
		if err != nil || host != tt.host || ref != tt.ref {
			t.Errorf("cachedRef(%s) = %s %s %v, want %s %s", tt.image, host, ref, err, tt.host, tt.ref)
		}
	}
	for _, bad := range []string{"Bad Name", "busybox@sha256:" + strings.Repeat("a", 64)} {
		if _, _, err := cachedRef(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("cachedRef(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}
