package iso

import (
	"archive/tar"
	"os"
	"path/filepath"
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
		"registry.k8s.io/pause:3.10.1",
		"registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1",
		"registry.k8s.io/e2e-test-images/volume/nfs:1.4",
		"invalid.registry.k8s.io/invalid/alpine:3.1",
	}
	got := StandInRefs(listed)
	want := []string{
		"registry.k8s.io/e2e-test-images/agnhost:2.56",
		"registry.k8s.io/e2e-test-images/busybox:1.36.1-1",
		"registry.k8s.io/e2e-test-images/busybox:1.37.0-1",
		"registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1",
		"registry.k8s.io/e2e-test-images/httpd:2.4.38-4",
		"registry.k8s.io/e2e-test-images/jessie-dnsutils:1.7",
		"registry.k8s.io/e2e-test-images/kitten:1.7",
		"registry.k8s.io/e2e-test-images/nautilus:1.7",
		"registry.k8s.io/e2e-test-images/nginx:1.15-4",
		"registry.k8s.io/e2e-test-images/nonewprivs:1.3",
		"registry.k8s.io/e2e-test-images/sample-apiserver:1.29.2",
		"registry.k8s.io/etcd:3.6.4-0",
		"registry.k8s.io/pause:3.10.1",
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

func TestBusyboxFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "applets.txt"), []byte("cat\nsh\nsysctl\nwget\n[\n[[\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs.tar")
	f, err := os.Create(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	for _, name := range []string{"./usr/bin/cat", "./usr/sbin/sysctl", "./usr/bin/wget", "./usr/bin/sh"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	tw.Close()
	f.Close()
	files, err := busyboxFiles(dir, rootfs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, lf := range files {
		got = append(got, lf.Path+"->"+lf.Linkname)
	}
	// sh is always BusyBox; sysctl only in /usr/sbin gets its /bin (= /usr/bin) link;
	// cat and wget stay Debian's.
	want := []string{"usr/local/bin/busybox->", "usr/bin/sh->/usr/local/bin/busybox", "usr/bin/sysctl->/usr/local/bin/busybox"}
	if !slices.Equal(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
}

// The stand-ins for images upstream builds on Alpine say so in /etc/os-release: the
// ImageVolume test reads "Alpine Linux" from kitten's.
func TestStandInOSRelease(t *testing.T) {
	in := standInInputs{bins: "/bins", k8sDir: "/k8s", pause: "/pause"}
	for _, image := range []string{"agnhost", "kitten", "nautilus"} {
		s := standIns[image]
		found := false
		for _, f := range s.files(in) {
			if f.Path == "etc/os-release" {
				found = strings.Contains(string(f.Data), `NAME="Alpine Linux"`)
			}
		}
		if !found {
			t.Errorf("%s: no etc/os-release naming Alpine Linux", image)
		}
	}
}
