package addons

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/devk-dev/devk/dashboard"
	"github.com/devk-dev/devk/iso"
)

// permissions flattens rules into group/resource:verb strings, sorted.
func permissions(rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					out = append(out, g+"/"+res+":"+v)
				}
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestDashboardClusterRoleIsWhatItNeeds: the addon grants exactly what the dashboard's
// code says its views and actions use (dashboard.Rules), no more and no less; the
// golden file testdata/golden/dashboard.yaml pins the manifest's text.
func TestDashboardClusterRoleIsWhatItNeeds(t *testing.T) {
	out, err := Dashboard().Render(ClusterInfo{NodeIP: "172.30.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	var role *rbacv1.ClusterRole
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		var probe struct{ Kind string }
		if err := yaml.Unmarshal(doc, &probe); err != nil {
			t.Fatal(err)
		}
		if probe.Kind == "ClusterRole" {
			role = &rbacv1.ClusterRole{}
			if err := yaml.UnmarshalStrict(doc, role); err != nil {
				t.Fatal(err)
			}
		}
	}
	if role == nil {
		t.Fatal("no ClusterRole in the dashboard addon")
	}
	got, want := permissions(role.Rules), permissions(dashboard.Rules())
	if !slices.Equal(got, want) {
		t.Errorf("ClusterRole grants\n  %s\nthe dashboard needs\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	for _, p := range got {
		if strings.HasSuffix(p, ":*") || strings.Contains(p, "/*") || strings.HasSuffix(p, ":create") || strings.HasSuffix(p, ":escalate") {
			t.Errorf("the dashboard may %s", p)
		}
	}
}

func TestDashboardProgram(t *testing.T) {
	p := DashboardProgram()
	if p.Source == nil || !strings.Contains(p.GoMod, "module "+dashboard.Module+"\n") || p.MainPackage() != dashboard.MainPackage {
		t.Fatalf("program %+v", p)
	}
	if !strings.HasSuffix(p.Image, ":"+p.Version) || !strings.HasPrefix(p.Version, "src-") {
		t.Errorf("image %s version %s: the tag must name the source", p.Image, p.Version)
	}
	// A changed source is a new tag, so the node loads it and the Deployment rolls.
	a := fstest.MapFS{"main.go": {Data: []byte("package main\n")}}
	b := fstest.MapFS{"main.go": {Data: []byte("package main // changed\n")}}
	if iso.SourceHash(a) == iso.SourceHash(b) {
		t.Error("a changed source hashes the same")
	}
	if Dashboard().Default {
		t.Error("the dashboard is built on first use, not preloaded: it must not be a default addon")
	}
}
