package iso

import (
	"slices"
	"strings"
	"testing"
)

func TestStandInRefs(t *testing.T) {
	listed := []string{
		"registry.k8s.io/e2e-test-images/agnhost:2.56",
		"gcr.io/k8s-authenticated-test/agnhost:2.6", // must fail to pull: left alone
		"registry.k8s.io/e2e-test-images/busybox:1.37.0-1",
		"registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
		"registry.k8s.io/e2e-test-images/httpd:2.4.38-4",
		"registry.k8s.io/e2e-test-images/nginx:1.15-4",
		"registry.k8s.io/e2e-test-images/jessie-dnsutils:1.7",
		"registry.k8s.io/e2e-test-images/kitten:1.7",
		"registry.k8s.io/e2e-test-images/nautilus:1.7",
		"registry.k8s.io/e2e-test-images/nonewprivs:1.3",
		"registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2",
		"registry.k8s.io/etcd:3.6.4-0",
		"registry.k8s.io/pause:3.10.1", // the node's own
		"registry.k8s.io/e2e-test-images/volume/nfs:1.4",
		"invalid.registry.k8s.io/invalid/alpine:3.1",
	}
	got := StandInRefs(listed)
	want := []string{
		"registry.k8s.io/e2e-test-images/agnhost:2.56",
		"registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
		"registry.k8s.io/e2e-test-images/busybox:1.37.0-1",
		"registry.k8s.io/e2e-test-images/httpd:2.4.38-4",
		"registry.k8s.io/e2e-test-images/jessie-dnsutils:1.7",
		"registry.k8s.io/e2e-test-images/kitten:1.7",
		"registry.k8s.io/e2e-test-images/nautilus:1.7",
		"registry.k8s.io/e2e-test-images/nginx:1.15-4",
		"registry.k8s.io/e2e-test-images/nonewprivs:1.3",
		"registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2",
		"registry.k8s.io/etcd:3.6.4-0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("StandInRefs:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

func TestRepositoryName(t *testing.T) {
	for ref, want := range map[string]string{
		"registry.k8s.io/e2e-test-images/agnhost:2.56":   "agnhost",
		"registry.k8s.io/etcd:3.6.4-0":                   "etcd",
		"registry.k8s.io/e2e-test-images/volume/nfs:1.4": "nfs",
		"busybox": "busybox",
		"registry.k8s.io/e2e-test-images/busybox@sha256:abc": "busybox",
	} {
		if got := repositoryName(ref); got != want {
			t.Errorf("repositoryName(%q) = %q, want %q", ref, got, want)
		}
	}
}

// The conformance module pins every program it builds, so `go mod tidy` keeps them.
func TestConformanceTools(t *testing.T) {
	src := conformanceTools()
	for _, b := range conformanceBinaries {
		if !strings.Contains(src, `"`+b.pkg+`"`) {
			t.Errorf("tools.go does not import %s", b.pkg)
		}
	}
}
