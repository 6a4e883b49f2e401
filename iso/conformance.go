package iso

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// conformanceRevision changes whenever the way the suite or its images are built changes.
const conformanceRevision = "1"

// standInRevision changes whenever what a stand-in image holds changes.
const standInRevision = "3"

// ConformanceSuite is Kubernetes' own end-to-end suite for one version, built from the Go
// module proxy, and stand-ins for the test images its conformance tests run, tagged with
// the names the suite expects (there is no registry to pull them from).
type ConformanceSuite struct {
	E2ETest string // the upstream e2e.test binary
	Ginkgo  string // the ginkgo CLI at the version Kubernetes pins
	Kubectl string // the kubectl the kubectl tests run
	// Images is a docker archive with every stand-in; ImageRefs are their references.
	Images    string
	ImageRefs []string
}

// conformanceBinaries are the programs built from the Kubernetes module setup: the
// package, and the file it is written to.
var conformanceBinaries = []struct{ pkg, out string }{
	{"k8s.io/kubernetes/test/e2e", "e2e.test"}, // a test binary: go test -c
	{"github.com/onsi/ginkgo/v2/ginkgo", "ginkgo"},
	{"k8s.io/kubernetes/cmd/kubectl", "kubectl"},
	{"k8s.io/kubernetes/test/images/agnhost", "agnhost"},
	{"k8s.io/kubernetes/test/images/nonewprivs", "nnp"},
	{"k8s.io/sample-apiserver", "sample-apiserver"},
}

// conformanceTools pins every package the suite's module builds, for `go mod tidy`.
func conformanceTools() string {
	var sb strings.Builder
	sb.WriteString("//go:build tools\n\n// Package tools pins the conformance suite's programs for `go mod tidy`.\npackage tools\n\nimport (\n")
	for _, b := range conformanceBinaries {
		fmt.Fprintf(&sb, "\t_ %q\n", b.pkg)
	}
	sb.WriteString(")\n")
	return sb.String()
}

// testImagePackages are the Debian packages every stand-in image shares (one layer): the
// tools the tests run in their containers (a shell, wget, curl, nc, dig, ip, ping) and
// the servers the httpd, nginx and etcd images stand for.
var testImagePackages = []string{"bash", "busybox", "coreutils", "procps", "curl", "wget", "bind9-dnsutils",
	"netcat-openbsd", "iproute2", "iputils-ping", "ca-certificates", "apache2", "nginx", "etcd-server"}

// testImageHooks shape the shared root filesystem like the upstream images where a test
// can tell.
func testImageHooks() []string {
	return []string{
		// agnhost's user and group, for the tests that read them back.
		`chroot "$1" groupadd -g 50000 group-defined-in-image`,
		`chroot "$1" useradd -M -u 1000 -G group-defined-in-image user-defined-in-image`,
		// httpd: the upstream image's document root and foreground script.
		`mkdir -p "$1"/usr/local/apache2/htdocs "$1"/usr/local/apache2/logs && printf '<html><body><h1>It works!</h1></body></html>\n' >"$1"/usr/local/apache2/htdocs/index.html`,
		`printf '%s\n' 'ServerRoot /etc/apache2' 'Listen 80' 'ServerName localhost' 'User www-data' 'Group www-data' \
			'LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so' \
			'LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so' \
			'LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so' \
			'LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so' \
			'TypesConfig /etc/mime.types' 'PidFile /usr/local/apache2/logs/httpd.pid' 'Mutex file:/tmp' \
			'ErrorLog /dev/stderr' 'DocumentRoot /usr/local/apache2/htdocs' 'DirectoryIndex index.html' \
			'<Directory /usr/local/apache2/htdocs>' 'Require all granted' '</Directory>' >"$1"/usr/local/apache2/httpd.conf`,
		`printf '#!/bin/sh\nrm -f /usr/local/apache2/logs/httpd.pid\nexec apache2 -f /usr/local/apache2/httpd.conf -DFOREGROUND "$@"\n' >"$1"/usr/local/bin/httpd-foreground && chmod 755 "$1"/usr/local/bin/httpd-foreground`,
		// nginx: the upstream image serves /usr/share/nginx/html, and logs to the console.
		`sed -i 's#root /var/www/html;#root /usr/share/nginx/html;#' "$1"/etc/nginx/sites-available/default`,
		`ln -sf /dev/stdout "$1"/var/log/nginx/access.log && ln -sf /dev/stderr "$1"/var/log/nginx/error.log`,
		// etcd: where the upstream image has it.
		`ln -sf /usr/bin/etcd "$1"/usr/local/bin/etcd`,
		`rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*`,
	}
}

// standInInputs are where the stand-ins' files come from: the suite's compiled programs,
// the Kubernetes module's source, and devk's pause binary.
type standInInputs struct{ bins, k8sDir, pause string }

// standIn is how one upstream test image is made: files over the shared root filesystem
// and the image's configuration.
type standIn struct {
	files      func(in standInInputs) []layerFile
	entrypoint []string
	cmd        []string
}

// alpineOSRelease is the os-release of the stand-ins for images upstream builds on Alpine
// Linux (agnhost and those built on it): the ImageVolume test reads it from kitten.
const alpineOSRelease = `# A devk stand-in, made of Debian files, for a Kubernetes test image built on Alpine.
NAME="Alpine Linux"
ID=alpine
VERSION_ID=3.21
PRETTY_NAME="Alpine Linux v3.21 (devk stand-in)"
`

func agnhostFiles(in standInInputs) []layerFile {
	porter := filepath.Join(in.k8sDir, "test", "images", "agnhost", "porter")
	return []layerFile{
		{Path: "etc/os-release", Mode: 0o644, Data: []byte(alpineOSRelease)},
		{Path: "agnhost", Mode: 0o755, Source: filepath.Join(in.bins, "agnhost")},
		{Path: "agnhost-2", Linkname: "agnhost"},
		{Path: "uploads/.keep", Mode: 0o644},
		{Path: "localhost.crt", Mode: 0o644, Source: filepath.Join(porter, "localhost.crt")},
		{Path: "localhost.key", Mode: 0o644, Source: filepath.Join(porter, "localhost.key")},
	}
}

// webImage is kitten or nautilus: agnhost's test-webserver serving two files.
func webImage(image string) standIn {
	return standIn{
		files: func(in standInInputs) []layerFile {
			html := filepath.Join(in.k8sDir, "test", "images", image, "html")
			return append(agnhostFiles(in),
				layerFile{Path: image + ".jpg", Mode: 0o644, Source: filepath.Join(html, image+".jpg")},
				layerFile{Path: "data.json", Mode: 0o644, Source: filepath.Join(html, "data.json")})
		},
		entrypoint: []string{"/agnhost"}, cmd: []string{"test-webserver"},
	}
}

// standIns are the upstream test images the conformance tests run, by repository name.
// Images the suite lists that are not here are used by no conformance test.
var standIns = map[string]standIn{
	"agnhost":         {files: agnhostFiles, entrypoint: []string{"/agnhost"}, cmd: []string{"pause"}},
	"busybox":         {cmd: []string{"sh"}},
	"httpd":           {cmd: []string{"httpd-foreground"}},
	"nginx":           {cmd: []string{"nginx", "-g", "daemon off;"}},
	"jessie-dnsutils": {cmd: []string{"bash"}},
	"kitten":          webImage("kitten"),
	"nautilus":        webImage("nautilus"),
	"nonewprivs": {files: func(in standInInputs) []layerFile {
		// setuid, as upstream: the test checks that no_new_privs keeps it from raising the uid.
		return []layerFile{{Path: "usr/local/bin/nnp", Mode: 0o4755, Source: filepath.Join(in.bins, "nnp")}}
	}, cmd: []string{"nnp"}},
	"sample-apiserver": {files: func(in standInInputs) []layerFile {
		return []layerFile{{Path: "sample-apiserver", Mode: 0o755, Source: filepath.Join(in.bins, "sample-apiserver")}}
	}, entrypoint: []string{"/sample-apiserver"}},
	// v1.37 replaced jessie-dnsutils with glibc-dns-testing for the DNS tests.
	"glibc-dns-testing": {cmd: []string{"bash"}},
	// The suite's pause tag can be newer than the node's sandbox image.
	"pause": {files: func(in standInInputs) []layerFile {
		return []layerFile{{Path: "pause", Mode: 0o755, Source: in.pause}}
	}, entrypoint: []string{"/pause"}},
	"etcd": {},
}

// standInRegistries are where the upstream test images live; an image of the same name
// elsewhere (a private registry the tests expect to fail to pull from) is left alone.
var standInRegistries = []string{"registry.k8s.io/e2e-test-images/", "registry.k8s.io/etcd:", "registry.k8s.io/pause:"}

// StandInRefs picks, from the images the suite lists (`e2e.test --list-images`), those
// devk makes a stand-in for.
func StandInRefs(listed []string) []string {
	var refs []string
	for _, ref := range listed {
		upstream := false
		for _, prefix := range standInRegistries {
			upstream = upstream || strings.HasPrefix(ref, prefix)
		}
		if _, ok := standIns[repositoryName(ref)]; ok && upstream {
			refs = append(refs, ref)
		}
	}
	sort.Strings(refs)
	return refs
}

// repositoryName is the last path element of an image reference, without tag or digest.
func repositoryName(ref string) string {
	ref = strings.SplitN(ref, "@", 2)[0]
	base := path.Base(ref)
	return strings.SplitN(base, ":", 2)[0]
}

// ConformanceKey identifies the suite's binaries for a version.
func (r Recipe) ConformanceKey() string {
	return HashOf("conformance", conformanceRevision, r.KubernetesVersion, conformanceTools())
}

func testImagesRootfsKey() string {
	return HashOf("testimages-rootfs", conformanceRevision, Suite, strings.Join(testImagePackages, ","), strings.Join(testImageHooks(), "\n"))
}

// Conformance builds (or finds in the cache) the conformance suite for a Kubernetes version.
func (b *Builder) Conformance(ctx context.Context, kubernetesVersion string) (ConformanceSuite, error) {
	r, err := NewRecipe(kubernetesVersion)
	if err != nil {
		return ConformanceSuite{}, err
	}
	if err := os.MkdirAll(b.CacheDir, 0o755); err != nil {
		return ConformanceSuite{}, fmt.Errorf("%w: create cache dir: %v", ErrBuildFailed, err)
	}
	if b.Log == nil {
		logPath := filepath.Join(b.CacheDir, "conformance-build.log")
		f, err := os.Create(logPath)
		if err != nil {
			return ConformanceSuite{}, fmt.Errorf("%w: %v", ErrBuildFailed, err)
		}
		defer f.Close()
		b.Log, b.logPath = f, logPath
		defer func() { b.Log, b.logPath = nil, "" }()
	}
	var suite ConformanceSuite
	var bins, k8sDir, rootfs, busybox string
	err = b.runSteps([]buildStep{
		{"Building Kubernetes' conformance suite " + r.KubernetesVersion + " (e2e.test, ginkgo, kubectl, test programs)", "conformance",
			b.conformancePath(r), 6 * time.Minute, func() (err error) {
				bins, k8sDir, err = b.conformanceBinaries(ctx, r)
				return
			}},
		{"Building the test images' Debian " + Suite + " root filesystem", "testimages-rootfs", b.testImagesRootfsPath(), time.Minute, func() (err error) {
			rootfs, err = cached(b.testImagesRootfsPath(), func(tmp string) error { return b.mmdebstrap(ctx, tmp, testImagePackages, testImageHooks()) })
			return
		}},
		{"Building BusyBox " + BusyboxVersion + " from its upstream source", "busybox", b.busyboxPath(), 90 * time.Second, func() (err error) {
			busybox, err = b.upstreamBusybox(ctx)
			return
		}},
		{"Assembling the test images", "", "", 0, func() error {
			listed, err := listImages(ctx, filepath.Join(bins, "e2e.test"))
			if err != nil {
				return err
			}
			suite.ImageRefs = StandInRefs(listed)
			archive := filepath.Join(bins, "images-"+HashOf(append([]string{standInRevision, testImagesRootfsKey(), busyboxKey()}, suite.ImageRefs...)...)[:16]+".tar")
			suite.Images, err = cached(archive, func(tmp string) error {
				pause, err := b.pause(ctx)
				if err != nil {
					return err
				}
				return writeStandIns(tmp, rootfs, busybox, standInInputs{bins, k8sDir, pause}, suite.ImageRefs)
			})
			return err
		}},
	})
	if err != nil {
		return ConformanceSuite{}, err
	}
	suite.E2ETest, suite.Ginkgo, suite.Kubectl = filepath.Join(bins, "e2e.test"), filepath.Join(bins, "ginkgo"), filepath.Join(bins, "kubectl")
	return suite, nil
}

func (b *Builder) conformancePath(r Recipe) string {
	return filepath.Join(b.CacheDir, "conformance-"+r.KubernetesVersion+"-"+r.ConformanceKey()[:16])
}

func (b *Builder) testImagesRootfsPath() string {
	return filepath.Join(b.CacheDir, "rootfs-testimages-"+Suite+"-"+testImagesRootfsKey()[:16]+".tar")
}

// conformanceBinaries builds the suite's programs into a cached folder and returns it with
// the Kubernetes module's source folder (the test images' files come from it).
func (b *Builder) conformanceBinaries(ctx context.Context, r Recipe) (bins, k8sDir string, err error) {
	k8sMod, k8sDir, err := b.kubernetesModule(ctx, r)
	if err != nil {
		return "", "", err
	}
	bins, err = cached(b.conformancePath(r), func(tmp string) error {
		gomod, err := KubeGoMod(r, k8sMod)
		if err != nil {
			return err
		}
		// The same module setup as the node's Kubernetes build, so they share the Go
		// build cache.
		src := filepath.Join(b.CacheDir, "src-conformance-"+r.KubernetesVersion)
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte(gomod), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(src, "tools.go"), []byte(conformanceTools()), 0o644); err != nil {
			return err
		}
		if err := b.run(ctx, src, goEnv, "go", "mod", "tidy"); err != nil {
			return fmt.Errorf("%w: fetching Go modules (is the Go module proxy reachable? see `go env GOPROXY`): %v", ErrBuildFailed, err)
		}
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		ldflags := r.ldflags()
		for _, bin := range conformanceBinaries {
			out := filepath.Join(tmp, bin.out)
			args := []string{"build", "-trimpath", "-ldflags", ldflags, "-o", out, bin.pkg}
			if strings.HasSuffix(bin.out, ".test") {
				args = append([]string{"test", "-c"}, args[1:]...)
			}
			if err := b.run(ctx, src, goEnv, "go", args...); err != nil {
				return fmt.Errorf("%w: %v", ErrBuildFailed, err)
			}
		}
		return nil
	})
	return bins, k8sDir, err
}

// listImages asks the suite which images its tests run.
func listImages(ctx context.Context, e2eTest string) ([]string, error) {
	out, err := exec.CommandContext(ctx, e2eTest, "--list-images").Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s --list-images: %v", ErrBuildFailed, e2eTest, err)
	}
	var refs []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if ref := strings.TrimSpace(sc.Text()); ref != "" {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// writeStandIns writes one docker archive with a stand-in for every ref; they share the
// root filesystem layer, which the archive holds once.
func writeStandIns(archive, rootfs, busybox string, in standInInputs, refs []string) error {
	dir, err := os.MkdirTemp(filepath.Dir(archive), "testimages-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	base, err := tarball.LayerFromFile(rootfs, tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithCompressedCaching)
	if err != nil {
		return err
	}
	// The shell of every stand-in is upstream BusyBox's ash, as in the upstream images
	// (alpine and busybox based): its messages are what tests compare, and unlike
	// Debian's (which reverts the change) it passes environment variables whose names
	// contain "-" on to the commands it runs (the ConfigMap and Secret env tests).
	// Its applets fill in the commands the Debian base lacks, where the upstream busybox
	// image has them (tests run /bin/sysctl, for one).
	shellFiles, err := busyboxFiles(busybox, rootfs)
	if err != nil {
		return err
	}
	shell, err := fileLayer(dir, "shell", shellFiles)
	if err != nil {
		return err
	}
	images := map[name.Reference]v1.Image{}
	for _, ref := range refs {
		s := standIns[repositoryName(ref)]
		layers := []v1.Layer{base, shell}
		if s.files != nil {
			l, err := fileLayer(dir, repositoryName(ref), s.files(in))
			if err != nil {
				return err
			}
			layers = append(layers, l)
		}
		img, err := mutate.AppendLayers(empty.Image, layers...)
		if err != nil {
			return err
		}
		cfg, err := img.ConfigFile()
		if err != nil {
			return err
		}
		cfg = cfg.DeepCopy()
		cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
		cfg.Config.Entrypoint, cfg.Config.Cmd = s.entrypoint, s.cmd
		cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		cfg.Config.Labels = map[string]string{"dev.devk.stand-in": "true"}
		if img, err = mutate.ConfigFile(img, cfg); err != nil {
			return err
		}
		tag, err := name.NewTag(ref)
		if err != nil {
			return err
		}
		images[tag] = img
	}
	return tarball.MultiRefWriteToFile(archive, images)
}

// BusyBox is built from the upstream release in Debian's archive (the orig tarball of the
// busybox source package, without Debian's patches), pinned by its checksum.
const (
	BusyboxVersion = "1.37.0"
	busyboxSHA256  = "3311dff32e746499f4df0d5df04d7eb396382d7e108bb9250e7b519b837043a4"
)

func busyboxKey() string {
	return HashOf("busybox", conformanceRevision, BusyboxVersion, busyboxSHA256, busyboxBuild)
}

// busyboxBuild compiles BusyBox in a throwaway Debian root filesystem that has a C
// compiler (mmdebstrap's null format keeps nothing of it but the binary). tc does not
// build against current kernel headers and the SHA hardware paths need a newer
// assembler: both are left out, as Debian does.
const busyboxBuild = "cd /tmp && tar xjf busybox.tar.bz2 && cd busybox-" + BusyboxVersion + " && make defconfig >/dev/null && " +
	"sed -i -e 's/^CONFIG_TC=y/# CONFIG_TC is not set/' -e 's/^CONFIG_SHA1_HWACCEL=y/# CONFIG_SHA1_HWACCEL is not set/' " +
	"-e 's/^CONFIG_SHA256_HWACCEL=y/# CONFIG_SHA256_HWACCEL is not set/' .config && make -j2 busybox && ./busybox --list >applets.txt"

func (b *Builder) busyboxPath() string {
	return filepath.Join(b.CacheDir, "busybox-"+BusyboxVersion+"-"+busyboxKey()[:16])
}

func (b *Builder) upstreamBusybox(ctx context.Context) (string, error) {
	return cached(b.busyboxPath(), func(tmp string) error {
		mirror := b.mirror()
		src := filepath.Join(b.CacheDir, "busybox_"+BusyboxVersion+".orig.tar.bz2")
		url := mirror + "/pool/main/b/busybox/busybox_" + BusyboxVersion + ".orig.tar.bz2"
		if err := downloadVerified(ctx, url, src, busyboxSHA256); err != nil {
			return fmt.Errorf("%w: BusyBox source: %v", ErrBuildFailed, err)
		}
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		built := "/tmp/busybox-" + BusyboxVersion
		args := []string{"--variant=minbase", "--include=gcc,make,libc6-dev,bzip2",
			"--customize-hook=upload " + src + " /tmp/busybox.tar.bz2",
			`--customize-hook=chroot "$1" sh -c "$DEVK_BUSYBOX_BUILD"`,
			"--customize-hook=download " + built + "/busybox " + filepath.Join(tmp, "busybox"),
			"--customize-hook=download " + built + "/applets.txt " + filepath.Join(tmp, "applets.txt"),
			Suite, "/dev/null", mirror}
		if err := b.run(ctx, "", []string{"DEVK_BUSYBOX_BUILD=" + busyboxBuild}, "mmdebstrap", args...); err != nil {
			return fmt.Errorf("%w: building BusyBox (is the Debian mirror %s reachable?): %v", ErrBuildFailed, mirror, err)
		}
		return os.Chmod(filepath.Join(tmp, "busybox"), 0o755)
	})
}

// downloadVerified fetches url to path unless path already has the checksum.
func downloadVerified(ctx context.Context, url, path, sha string) error {
	if sum, err := fileSHA256(path); err == nil && sum == sha {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	tmp := path + ".partial"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && hex.EncodeToString(h.Sum(nil)) != sha {
		err = fmt.Errorf("%s has checksum %s, want %s", url, hex.EncodeToString(h.Sum(nil)), sha)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// busyboxFiles are BusyBox (in the folder the build left: busybox, applets.txt), sh, and
// a link for each applet the root filesystem has no command of that name for.
func busyboxFiles(busyboxDir, rootfs string) ([]layerFile, error) {
	applets, err := os.ReadFile(filepath.Join(busyboxDir, "applets.txt"))
	if err != nil {
		return nil, err
	}
	have, err := commandsIn(rootfs)
	if err != nil {
		return nil, err
	}
	files := []layerFile{
		{Path: "usr/local/bin/busybox", Mode: 0o755, Source: filepath.Join(busyboxDir, "busybox")},
		{Path: "usr/bin/sh", Linkname: "/usr/local/bin/busybox"},
	}
	for _, applet := range strings.Fields(string(applets)) {
		if !have[applet] && applet != "sh" && !strings.ContainsAny(applet, "/[") {
			files = append(files, layerFile{Path: "usr/bin/" + applet, Linkname: "/usr/local/bin/busybox"})
		}
	}
	return files, nil
}

// commandsIn lists the commands a root filesystem tar has in /usr/bin (and /bin, the same
// folder in a merged-/usr system): the upstream image has every applet there, and tests
// call some by that path (/bin/sysctl, which Debian keeps in /usr/sbin).
func commandsIn(rootfs string) (map[string]bool, error) {
	f, err := os.Open(rootfs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	have := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return have, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", rootfs, err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		for _, dir := range []string{"usr/bin/", "bin/"} {
			if rest, ok := strings.CutPrefix(name, dir); ok && !strings.Contains(rest, "/") {
				have[rest] = true
			}
		}
	}
}
