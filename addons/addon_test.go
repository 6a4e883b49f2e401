package addons

import (
	"errors"
	"github.com/devk-dev/devk/internal/golden"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"text/template"

	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/iso"
)

func TestRenderGolden(t *testing.T) {
	for _, a := range Builtin() {
		t.Run(a.Name, func(t *testing.T) {
			got, err := a.Render(ClusterInfo{NodeIP: "172.30.0.2"})
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, filepath.Join("testdata", "golden", a.Name+".yaml"), got)
		})
	}
}

// TestRenderedManifests checks what every rendered addon must have, whatever the golden
// files say: no template left over, the images it declares, and no kube-system Namespace
// object (disabling would delete it).
func TestRenderedManifests(t *testing.T) {
	for _, a := range Builtin() {
		t.Run(a.Name, func(t *testing.T) {
			out, err := a.Render(ClusterInfo{NodeIP: "10.0.0.9"})
			if err != nil {
				t.Fatal(err)
			}
			s := string(out)
			if strings.Contains(s, "{{") || strings.Contains(s, "<no value>") {
				t.Errorf("unrendered template text in %s", a.Name)
			}
			for _, ref := range a.ImageRefs() {
				if !strings.Contains(s, "image: "+ref+"\n") {
					t.Errorf("%s does not run its image %s", a.Name, ref)
				}
			}
			if strings.Contains(s, "kind: Namespace\nmetadata:\n  name: kube-system") {
				t.Errorf("%s declares the kube-system Namespace; disable would delete it", a.Name)
			}
			if a.Namespace != "" && a.Namespace != "kube-system" && !strings.Contains(s, "kind: Namespace\nmetadata:\n  name: "+a.Namespace+"\n") {
				t.Errorf("%s runs in namespace %s but does not create it", a.Name, a.Namespace)
			}
		})
	}
}

func TestRenderMissingKeyFails(t *testing.T) {
	tests := []struct {
		name, tmpl, want string
	}{
		{"unknown top-level key", "name: {{.Nope}}\n", "Nope"},
		{"unknown image key", "image: {{.Images.Nope}}\n", "Nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fsys := fstest.MapFS{"manifests/x.yaml": {Data: []byte(tt.tmpl)}}
			_, err := renderFS(fsys, Addon{Name: "x", Manifests: []string{"x.yaml"}, Images: map[string]iso.GoProgram{"Real": {Image: "r:1"}}}, ClusterInfo{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("render with a missing key: err = %v, want an error naming %q", err, tt.want)
			}
		})
	}
	if _, err := (Addon{Name: "x", Manifests: []string{"absent.yaml"}}).Render(ClusterInfo{}); err == nil {
		t.Error("rendering a manifest that does not exist succeeded")
	}
	var execErr template.ExecError
	fsys := fstest.MapFS{"manifests/x.yaml": {Data: []byte("{{.Missing}}")}}
	if _, err := renderFS(fsys, Addon{Name: "x", Manifests: []string{"x.yaml"}}, ClusterInfo{}); !errors.As(err, &execErr) {
		t.Errorf("missing key error %v is not a template.ExecError", err)
	}
}

func TestBuiltinCatalog(t *testing.T) {
	c := Builtin()
	names := c.Names()
	want := []string{"storage-provisioner", "default-storageclass", "metrics-server", "ingress", "registry"}
	for _, n := range want {
		if !slices.Contains(names, n) {
			t.Errorf("catalog lacks %s: %v", n, names)
		}
	}
	if got := c.Defaults(); !slices.Equal(got, []string{"storage-provisioner", "default-storageclass"}) {
		t.Errorf("defaults = %v", got)
	}
	seen := map[string]bool{}
	preloaded := map[string]bool{}
	for _, p := range c.NodeImagePrograms().Preload {
		preloaded[p.Image] = true
	}
	for _, a := range c {
		if seen[a.Name] {
			t.Errorf("addon %s declared twice", a.Name)
		}
		seen[a.Name] = true
		if a.Description == "" || len(a.Manifests) == 0 || len(a.Health) == 0 {
			t.Errorf("addon %s lacks a description, manifests or health checks: %+v", a.Name, a)
		}
		for _, p := range a.Images {
			if p.Name == "" || p.Module == "" || p.Version == "" || p.Image == "" {
				t.Errorf("addon %s: incomplete program %+v", a.Name, p)
			}
			if a.Default && !preloaded[p.Image] {
				t.Errorf("default addon %s needs %s, which the node image does not preload", a.Name, p.Image)
			}
		}
		for _, h := range a.Health {
			if _, kind := h.object(); kind == "" {
				t.Errorf("addon %s: health check %v has an unknown kind", a.Name, h)
			}
		}
	}
}

func TestCatalogGetUnknown(t *testing.T) {
	c := Builtin()
	tests := []string{"", "dashboard-x", "Metrics-Server", "ingress "}
	for _, name := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := c.Get(name)
			if !errors.Is(err, ErrUnknown) || !errors.Is(err, cluster.ErrInvalid) {
				t.Fatalf("Get(%q) = %v, want ErrUnknown (a usage error)", name, err)
			}
			for _, n := range c.Names() {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error %q does not list %s", err, n)
				}
			}
		})
	}
	if err := c.Validate([]string{"metrics-server", "nope"}); !errors.Is(err, ErrUnknown) {
		t.Errorf("Validate with an unknown name = %v", err)
	}
	if err := c.Validate([]string{"metrics-server", "ingress"}); err != nil {
		t.Errorf("Validate of known names: %v", err)
	}
}

func TestSelectKeepsCatalogOrder(t *testing.T) {
	got, err := Builtin().Select([]string{"registry", "default-storageclass", "storage-provisioner"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range got {
		names = append(names, a.Name)
	}
	if !slices.Equal(names, []string{"storage-provisioner", "default-storageclass", "registry"}) {
		t.Errorf("Select order = %v", names)
	}
}

func TestStates(t *testing.T) {
	states := Builtin().States([]string{"metrics-server"})
	for _, s := range states {
		if s.Enabled != (s.Name == "metrics-server") {
			t.Errorf("%s enabled = %v", s.Name, s.Enabled)
		}
		if s.Images == nil {
			t.Errorf("%s: images must be a list (JSON []), not null", s.Name)
		}
	}
}
