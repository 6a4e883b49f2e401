package iso

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// tarEntry is one member of a tar stream, read back for assertions.
type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

func readTar(t *testing.T, r io.Reader) (map[string]tarEntry, []string) {
	t.Helper()
	entries := map[string]tarEntry{}
	var order []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries, order
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if _, dup := entries[h.Name]; dup {
			t.Errorf("tar member %s appears twice", h.Name)
		}
		entries[h.Name] = tarEntry{h, data}
		order = append(order, h.Name)
	}
}

func readLayer(t *testing.T, l v1.Layer) map[string]tarEntry {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	entries, _ := readTar(t, rc)
	return entries
}

func writeFakeBinary(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadArchive reads a docker archive back as go-containerregistry sees it.
func loadArchive(t *testing.T, p, ref string) (v1.Image, *v1.ConfigFile) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(p, &tag)
	if err != nil {
		t.Fatalf("%s does not hold %s: %v", p, ref, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return img, cfg
}

func archiveTags(t *testing.T, p string) []string {
	t.Helper()
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(p) })
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, d := range m {
		tags = append(tags, d.RepoTags...)
	}
	slices.Sort(tags)
	return tags
}

func TestWriteLayerTar(t *testing.T) {
	src := writeFakeBinary(t, t.TempDir(), "bin", "#!/bin/sh\necho hi\n")
	files := []layerFile{
		{Path: "usr/local/bin/tool", Mode: 0o755, Source: src},
		{Path: "usr/local/bin/alias", Linkname: "tool"},
		{Path: "etc/app/config", Mode: 0o644, Data: []byte("key=value\n")},
		{Path: "etc/app/empty", Mode: 0o600},
		{Path: "top", Mode: 0o644, Data: []byte("x")},
	}
	var first, second bytes.Buffer
	if err := writeLayerTar(&first, files); err != nil {
		t.Fatal(err)
	}
	if err := writeLayerTar(&second, files); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) {
		t.Errorf("writeLayerTar is not deterministic")
	}
	entries, order := readTar(t, &first)
	tests := []struct {
		name     string
		typeflag byte
		mode     int64
		link     string
		data     string
	}{
		{"etc/", tar.TypeDir, 0o755, "", ""},
		{"etc/app/", tar.TypeDir, 0o755, "", ""},
		{"usr/", tar.TypeDir, 0o755, "", ""},
		{"usr/local/", tar.TypeDir, 0o755, "", ""},
		{"usr/local/bin/", tar.TypeDir, 0o755, "", ""},
		{"usr/local/bin/tool", tar.TypeReg, 0o755, "", "#!/bin/sh\necho hi\n"},
		{"usr/local/bin/alias", tar.TypeSymlink, 0o777, "tool", ""},
		{"etc/app/config", tar.TypeReg, 0o644, "", "key=value\n"},
		{"etc/app/empty", tar.TypeReg, 0o600, "", ""},
		{"top", tar.TypeReg, 0o644, "", "x"},
	}
	if len(entries) != len(tests) {
		t.Errorf("layer has %v, want %d entries", order, len(tests))
	}
	for _, tt := range tests {
		e, ok := entries[tt.name]
		if !ok {
			t.Errorf("%s missing from %v", tt.name, order)
			continue
		}
		h := e.hdr
		if h.Typeflag != tt.typeflag || h.Mode != tt.mode || h.Linkname != tt.link || string(e.data) != tt.data {
			t.Errorf("%s: type %c mode %o link %q data %q; want %c %o %q %q", tt.name, h.Typeflag, h.Mode, h.Linkname, e.data, tt.typeflag, tt.mode, tt.link, tt.data)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.IsZero() && h.ModTime.Unix() != 0 {
			t.Errorf("%s: owner %d:%d time %v, want root and a fixed time", tt.name, h.Uid, h.Gid, h.ModTime)
		}
	}
	// Parent directories come before what they hold.
	for i, n := range order {
		if parent := path.Dir(strings.TrimSuffix(n, "/")); parent != "." && slices.Index(order, parent+"/") > i {
			t.Errorf("%s comes before its directory %s/", n, parent)
		}
	}
}

func TestWriteLayerTarMissingSource(t *testing.T) {
	err := writeLayerTar(io.Discard, []layerFile{{Path: "x", Mode: 0o755, Source: filepath.Join(t.TempDir(), "missing")}})
	if err == nil {
		t.Fatal("a missing source file was not an error")
	}
}

func TestImageArchive(t *testing.T) {
	dir := t.TempDir()
	bin := writeFakeBinary(t, dir, "fake-pause", "\x7fELF fake pause")
	layer, err := fileLayer(dir, "pause", []layerFile{{Path: "pause", Mode: 0o755, Source: bin}})
	if err != nil {
		t.Fatalf("fileLayer: %v", err)
	}
	labels := map[string]string{"a": "b"}
	img, err := imageOf(layer, []string{"/pause"}, labels)
	if err != nil {
		t.Fatalf("imageOf: %v", err)
	}
	archive := filepath.Join(dir, "pause.tar")
	refs := []string{PauseTag, "example.com/other/pause:test"}
	if err := writeArchive(archive, img, refs...); err != nil {
		t.Fatalf("writeArchive: %v", err)
	}
	want := slices.Clone(refs)
	slices.Sort(want)
	if got := archiveTags(t, archive); !slices.Equal(got, want) {
		t.Errorf("archive tags = %v, want %v", got, want)
	}
	for _, ref := range refs {
		loaded, cfg := loadArchive(t, archive, ref)
		if !slices.Equal(cfg.Config.Entrypoint, []string{"/pause"}) {
			t.Errorf("%s entrypoint = %v", ref, cfg.Config.Entrypoint)
		}
		if cfg.OS != "linux" || cfg.Architecture == "" || cfg.Config.Labels["a"] != "b" {
			t.Errorf("%s config: os %s arch %s labels %v", ref, cfg.OS, cfg.Architecture, cfg.Config.Labels)
		}
		if !slices.ContainsFunc(cfg.Config.Env, func(e string) bool { return strings.HasPrefix(e, "PATH=") }) {
			t.Errorf("%s has no PATH: %v", ref, cfg.Config.Env)
		}
		layers, err := loaded.Layers()
		if err != nil || len(layers) != 1 {
			t.Fatalf("%s layers: %d, %v", ref, len(layers), err)
		}
		e, ok := readLayer(t, layers[0])["pause"]
		if !ok {
			t.Fatalf("%s: pause missing from the layer", ref)
		}
		if e.hdr.Mode != 0o755 || e.hdr.Typeflag != tar.TypeReg || string(e.data) != "\x7fELF fake pause" {
			t.Errorf("%s: pause mode %o type %c data %q", ref, e.hdr.Mode, e.hdr.Typeflag, e.data)
		}
		// The digests in the archive match the content, or an engine would refuse it.
		wantDigest, _ := img.Digest()
		if got, _ := loaded.Digest(); got != wantDigest {
			t.Errorf("%s digest %s, want %s", ref, got, wantDigest)
		}
	}
	if err := writeArchive(filepath.Join(dir, "bad.tar"), img, "Not A Valid:Ref"); err == nil {
		t.Errorf("writeArchive accepted an invalid reference")
	}
}

// fakeRootfs writes a tar that looks like mmdebstrap's output, with a busybox binary.
func fakeRootfs(t *testing.T, dir string, withBusybox bool) string {
	t.Helper()
	p := filepath.Join(dir, "rootfs.tar")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	add := func(h *tar.Header, data string) {
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, data); err != nil {
			t.Fatal(err)
		}
	}
	add(&tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}, "")
	add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "./bin", Linkname: "usr/bin", Mode: 0o777}, "")
	add(&tar.Header{Typeflag: tar.TypeDir, Name: "./usr/bin/", Mode: 0o755}, "")
	add(&tar.Header{Typeflag: tar.TypeReg, Name: "./usr/bin/true", Mode: 0o755}, "true")
	if withBusybox {
		add(&tar.Header{Typeflag: tar.TypeReg, Name: "./usr/bin/busybox", Mode: 0o755}, "fake busybox")
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

func fakeArtifacts(t *testing.T, dir string) artifacts {
	t.Helper()
	return artifacts{
		rootfs:  fakeRootfs(t, dir, true),
		kube:    writeFakeBinary(t, dir, "devk-kube", "fake kube"),
		coredns: writeFakeBinary(t, dir, "coredns-bin", "fake coredns"),
		pause:   writeFakeBinary(t, dir, "pause-bin", "fake pause"),
		containerd: func() string {
			d := filepath.Join(dir, "containerd")
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, c := range containerdCommands {
				writeFakeBinary(t, d, c, "fake "+c)
			}
			return d
		}(),
	}
}

func TestPreloadArchives(t *testing.T) {
	work := t.TempDir()
	a := fakeArtifacts(t, t.TempDir())
	paths, err := preloadArchives(work, a)
	if err != nil {
		t.Fatalf("preloadArchives: %v", err)
	}
	tests := []struct {
		file       string
		ref        string
		entrypoint []string
		cmd        []string
		binary     string // path of the binary in the layer
		content    string
	}{
		{"pause.tar", PauseTag, []string{"/pause"}, nil, "pause", "fake pause"},
		{"coredns.tar", CoreDNSImage, []string{"/coredns"}, nil, "coredns", "fake coredns"},
		{"busybox.tar", BusyboxImage, nil, []string{"sh"}, "bin/busybox", "fake busybox"},
	}
	if len(paths) != len(tests) {
		t.Fatalf("paths = %v", paths)
	}
	for i, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			if filepath.Base(paths[i]) != tt.file {
				t.Fatalf("archive %d is %s, want %s", i, paths[i], tt.file)
			}
			if got := archiveTags(t, paths[i]); !slices.Equal(got, []string{tt.ref}) {
				t.Errorf("tags = %v, want [%s]", got, tt.ref)
			}
			img, cfg := loadArchive(t, paths[i], tt.ref)
			if !slices.Equal(cfg.Config.Entrypoint, tt.entrypoint) || !slices.Equal(cfg.Config.Cmd, tt.cmd) {
				t.Errorf("entrypoint %v cmd %v, want %v %v", cfg.Config.Entrypoint, cfg.Config.Cmd, tt.entrypoint, tt.cmd)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("layers: %d, %v", len(layers), err)
			}
			entries := readLayer(t, layers[0])
			e, ok := entries[tt.binary]
			if !ok || e.hdr.Mode != 0o755 || string(e.data) != tt.content {
				t.Errorf("%s in the layer: present %v, mode %o, content %q", tt.binary, ok, e.hdr.Mode, e.data)
			}
			if tt.file == "busybox.tar" {
				for _, applet := range busyboxApplets {
					if l := entries["bin/"+applet]; l.hdr == nil || l.hdr.Typeflag != tar.TypeSymlink || l.hdr.Linkname != "busybox" {
						t.Errorf("applet %s is not a link to busybox", applet)
					}
				}
				if _, ok := entries["tmp/.keep"]; !ok {
					t.Errorf("no /tmp in the busybox image")
				}
			}
		})
	}
}

func TestPreloadArchivesWithoutBusybox(t *testing.T) {
	dir := t.TempDir()
	a := fakeArtifacts(t, dir)
	a.rootfs = fakeRootfs(t, t.TempDir(), false)
	_, err := preloadArchives(t.TempDir(), a)
	if err == nil || !strings.Contains(err.Error(), "busybox") {
		t.Errorf("preloadArchives = %v, want an error about busybox", err)
	}
}

func TestExtractFromTar(t *testing.T) {
	dir := t.TempDir()
	rootfs := fakeRootfs(t, dir, true)
	tests := []struct {
		member string
		want   string
		ok     bool
	}{
		{"usr/bin/busybox", "fake busybox", true},
		{"/usr/bin/busybox", "fake busybox", true},
		{"usr/bin/true", "true", true},
		{"usr/bin/missing", "", false},
		{"usr/bin", "", false}, // a directory, not a file
		{"bin", "", false},     // a symlink, not a file
	}
	for _, tt := range tests {
		dst := filepath.Join(t.TempDir(), "out")
		err := extractFromTar(rootfs, tt.member, dst)
		if tt.ok != (err == nil) {
			t.Errorf("extractFromTar(%s) = %v, want ok=%v", tt.member, err, tt.ok)
			continue
		}
		if tt.ok {
			data, _ := os.ReadFile(dst)
			st, _ := os.Stat(dst)
			if string(data) != tt.want || st.Mode().Perm() != 0o755 {
				t.Errorf("extractFromTar(%s): %q mode %o", tt.member, data, st.Mode().Perm())
			}
		}
	}
}

func TestNodeLayerFiles(t *testing.T) {
	r := mustRecipe(t, "v1.34.4")
	preloads := []string{"/work/pause.tar", "/work/coredns.tar"}
	files, err := nodeLayerFiles(r, artifacts{kube: "/cache/devk-kube-v1.34.4", containerd: "/cache/containerd"}, preloads)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]layerFile{}
	for _, f := range files {
		if _, dup := byPath[f.Path]; dup {
			t.Errorf("%s listed twice", f.Path)
		}
		if strings.HasPrefix(f.Path, "/") {
			t.Errorf("%s has a leading slash", f.Path)
		}
		byPath[f.Path] = f
	}
	if f := byPath["usr/local/bin/devk-kube"]; f.Source != "/cache/devk-kube-v1.34.4" || f.Mode != 0o755 {
		t.Errorf("devk-kube = %+v", f)
	}
	for _, c := range Components {
		if f, ok := byPath["usr/local/bin/"+c]; !ok || f.Linkname != "devk-kube" {
			t.Errorf("%s is not a link to devk-kube: %+v", c, f)
		}
	}
	// containerd's commands replace Debian's, where its unit and dockerd look for them.
	for _, c := range []string{"containerd", "containerd-shim-runc-v2", "ctr"} {
		if f := byPath["usr/bin/"+c]; f.Source != "/cache/containerd/"+c || f.Mode != 0o755 {
			t.Errorf("%s = %+v", c, f)
		}
	}
	for _, p := range preloads {
		if f := byPath["usr/share/devk/images/"+filepath.Base(p)]; f.Source != p || f.Mode != 0o644 {
			t.Errorf("preload %s = %+v", p, f)
		}
	}
	if f := byPath["usr/share/devk/images/RECIPE"]; string(f.Data) != r.Hash() {
		t.Errorf("RECIPE holds %q, want the recipe hash %s", f.Data, r.Hash())
	}
	if f := byPath["usr/share/devk/kubernetes-version"]; string(f.Data) != "v1.34.4" {
		t.Errorf("kubernetes-version holds %q", f.Data)
	}
	wants := map[string]string{
		"etc/systemd/system/sysinit.target.wants/devk-prepare.service":    "../devk-prepare.service",
		"etc/systemd/system/multi-user.target.wants/devk-preload.service": "../devk-preload.service",
	}
	for p, link := range wants {
		if byPath[p].Linkname != link {
			t.Errorf("%s links to %q, want %q", p, byPath[p].Linkname, link)
		}
		if _, ok := byPath[path.Join(path.Dir(path.Dir(p)), path.Base(p))]; !ok {
			t.Errorf("%s points at a unit the layer does not ship", p)
		}
	}
	// Every embedded node file is shipped, scripts executable.
	err = fs.WalkDir(nodeFiles, "node", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(p, "node/")
		f, ok := byPath[rel]
		if !ok {
			t.Errorf("node file %s not in the layer", rel)
			return nil
		}
		want := int64(0o644)
		if strings.HasPrefix(rel, "usr/local/lib/devk/") {
			want = 0o755
		}
		data, _ := nodeFiles.ReadFile(p)
		if f.Mode != want || !bytes.Equal(f.Data, data) {
			t.Errorf("%s: mode %o (want %o) or content differs", rel, f.Mode, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, unit := range []string{"etc/systemd/system/devk-prepare.service", "etc/systemd/system/devk-preload.service", "usr/local/lib/devk/preload", "usr/local/lib/devk/prepare"} {
		if _, ok := byPath[unit]; !ok {
			t.Errorf("%s missing", unit)
		}
	}
}

// TestAssemble builds the node image from fake artifacts and reads back what the engine
// was given.
func TestAssemble(t *testing.T) {
	r := mustRecipe(t, "v1.34.4")
	eng := &fakeEngine{}
	cache := t.TempDir()
	b := &Builder{Engine: eng, CacheDir: cache}
	if err := b.assemble(context.Background(), r, fakeArtifacts(t, t.TempDir())); err != nil {
		t.Fatalf("assemble: %v", err)
	}
	if entries, _ := os.ReadDir(cache); len(entries) != 0 {
		t.Errorf("assemble left %d entries in the cache dir", len(entries))
	}
	if len(eng.loaded) != 1 {
		t.Fatalf("engine got %d images", len(eng.loaded))
	}
	archive := filepath.Join(t.TempDir(), "node.tar")
	if err := os.WriteFile(archive, eng.loaded[0], 0o644); err != nil {
		t.Fatal(err)
	}
	if got := archiveTags(t, archive); !slices.Equal(got, []string{r.Tag()}) {
		t.Errorf("tags = %v, want [%s]", got, r.Tag())
	}
	img, cfg := loadArchive(t, archive, r.Tag())
	if !slices.Equal(cfg.Config.Cmd, []string{"/sbin/init"}) || cfg.Config.StopSignal != "SIGRTMIN+3" {
		t.Errorf("cmd %v stop signal %q", cfg.Config.Cmd, cfg.Config.StopSignal)
	}
	if !slices.Contains(cfg.Config.Env, "container=docker") {
		t.Errorf("env %v lacks container=docker (systemd needs it)", cfg.Config.Env)
	}
	if cfg.Config.Labels[LabelRecipe] != r.Hash() || cfg.Config.Labels["dev.devk.kubernetes-version"] != "v1.34.4" {
		t.Errorf("labels = %v", cfg.Config.Labels)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 2 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	root := readLayer(t, layers[0])
	if _, ok := root["./usr/bin/busybox"]; !ok {
		t.Errorf("root filesystem layer lacks the rootfs content")
	}
	devk := readLayer(t, layers[1])
	if e := devk["usr/local/bin/devk-kube"]; e.hdr == nil || e.hdr.Mode != 0o755 || string(e.data) != "fake kube" {
		t.Errorf("devk-kube in the layer: %+v", e.hdr)
	}
	for _, c := range Components {
		if e := devk["usr/local/bin/"+c]; e.hdr == nil || e.hdr.Linkname != "devk-kube" {
			t.Errorf("%s is not a link to devk-kube", c)
		}
	}
	if e := devk["usr/share/devk/images/RECIPE"]; string(e.data) != r.Hash() {
		t.Errorf("RECIPE = %q", e.data)
	}
	for _, c := range containerdCommands {
		if e := devk["usr/bin/"+c]; e.hdr == nil || e.hdr.Mode != 0o755 || string(e.data) != "fake "+c {
			t.Errorf("%s in the layer: %+v", c, e.hdr)
		}
	}
	for _, f := range []string{"pause.tar", "coredns.tar", "busybox.tar"} {
		e, ok := devk["usr/share/devk/images/"+f]
		if !ok || len(e.data) == 0 {
			t.Errorf("preloaded %s missing", f)
		}
	}
}
