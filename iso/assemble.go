package iso

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type artifacts struct {
	rootfs, kube, coredns, pause string
	containerd                   string   // folder of containerd's commands
	images                       []string // single-image archives to preload as they are
	onDemand                     []string // single-image archives kept for the node to import later
}

// Components are the names the multi-call Kubernetes binary answers to.
var Components = []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"}

// Preloaded images, baked into the node and imported into containerd at first boot.
const (
	CoreDNSImage = "registry.k8s.io/coredns/coredns:" + CoreDNSVersion
	BusyboxImage = "docker.io/library/busybox:1.37"
)

// layerFile is one entry of a layer built from files.
type layerFile struct {
	Path     string // in the image, without a leading slash
	Mode     int64
	Source   string // a file on the host ...
	Data     []byte // ... or content
	Linkname string // or a symlink
}

// writeLayerTar writes files as an uncompressed layer tar. Parent directories are added
// so the layer unpacks the same everywhere.
func writeLayerTar(w io.Writer, files []layerFile) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := path.Dir(f.Path); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	var dirList []string
	for d := range dirs {
		dirList = append(dirList, d)
	}
	sort.Strings(dirList)
	for _, d := range dirList {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}); err != nil {
			return err
		}
	}
	for _, f := range files {
		switch {
		case f.Linkname != "":
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: f.Path, Linkname: f.Linkname, Mode: 0o777}); err != nil {
				return err
			}
		case f.Source != "":
			src, err := os.Open(f.Source)
			if err != nil {
				return err
			}
			st, err := src.Stat()
			if err == nil {
				err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Mode: f.Mode, Size: st.Size()})
			}
			if err == nil {
				_, err = io.Copy(tw, src)
			}
			src.Close()
			if err != nil {
				return err
			}
		default:
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Mode: f.Mode, Size: int64(len(f.Data))}); err != nil {
				return err
			}
			if _, err := tw.Write(f.Data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// fileLayer turns files into a layer, staged in dir.
func fileLayer(dir, stem string, files []layerFile) (v1.Layer, error) {
	p := filepath.Join(dir, stem+".layer.tar")
	out, err := os.Create(p)
	if err != nil {
		return nil, err
	}
	err = writeLayerTar(out, files)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("write layer %s: %w", stem, err)
	}
	return tarball.LayerFromFile(p, tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithCompressedCaching)
}

// imageOf builds a single-layer image with an entrypoint.
func imageOf(layer v1.Layer, entrypoint []string, labels map[string]string) (v1.Image, error) {
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config.Entrypoint = entrypoint
	cfg.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Labels = labels
	return mutate.ConfigFile(img, cfg)
}

func writeArchive(p string, img v1.Image, refs ...string) error {
	m := map[name.Reference]v1.Image{}
	for _, r := range refs {
		tag, err := name.NewTag(r)
		if err != nil {
			return err
		}
		m[tag] = img
	}
	return tarball.MultiRefWriteToFile(p, m)
}

// busyboxApplets are linked into the busybox image: enough for shells, probes and DNS checks.
var busyboxApplets = []string{"sh", "ash", "cat", "echo", "env", "ls", "sleep", "nslookup", "wget", "nc", "httpd", "ping", "ps", "grep", "sed", "mkdir", "rm", "cp", "mv", "date", "hostname", "head", "tail", "true", "false", "test", "[", "top", "id", "whoami", "vi", "touch", "uname", "dd", "df", "du", "find", "xargs", "sort", "wc", "tr", "cut", "kill", "mount"}

// extractFromTar copies one file out of a tar archive.
func extractFromTar(archive, member, dst string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	member = strings.TrimPrefix(member, "/")
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("%s not found in %s", member, archive)
		}
		if err != nil {
			return err
		}
		if strings.TrimPrefix(h.Name, "./") == member && h.Typeflag == tar.TypeReg {
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			return err
		}
	}
}

// preloadArchives writes the images the node imports at first boot into dir.
func preloadArchives(dir string, a artifacts) ([]string, error) {
	pauseLayer, err := fileLayer(dir, "pause", []layerFile{{Path: "pause", Mode: 0o755, Source: a.pause}})
	if err != nil {
		return nil, err
	}
	pauseImg, err := imageOf(pauseLayer, []string{"/pause"}, nil)
	if err != nil {
		return nil, err
	}
	corednsLayer, err := fileLayer(dir, "coredns", []layerFile{{Path: "coredns", Mode: 0o755, Source: a.coredns}})
	if err != nil {
		return nil, err
	}
	corednsImg, err := imageOf(corednsLayer, []string{"/coredns"}, nil)
	if err != nil {
		return nil, err
	}
	busybox := filepath.Join(dir, "busybox")
	if err := extractFromTar(a.rootfs, "usr/bin/busybox", busybox); err != nil {
		return nil, fmt.Errorf("busybox from the root filesystem: %w", err)
	}
	bbFiles := []layerFile{{Path: "bin/busybox", Mode: 0o755, Source: busybox}, {Path: "tmp/.keep", Mode: 0o644}}
	for _, applet := range busyboxApplets {
		bbFiles = append(bbFiles, layerFile{Path: "bin/" + applet, Linkname: "busybox"})
	}
	bbLayer, err := fileLayer(dir, "busybox", bbFiles)
	if err != nil {
		return nil, err
	}
	bbImg, err := imageOf(bbLayer, nil, nil)
	if err != nil {
		return nil, err
	}
	cfg, _ := bbImg.ConfigFile()
	cfg = cfg.DeepCopy()
	cfg.Config.Cmd = []string{"sh"}
	if bbImg, err = mutate.ConfigFile(bbImg, cfg); err != nil {
		return nil, err
	}
	archives := []struct {
		file string
		img  v1.Image
		refs []string
	}{
		{"pause.tar", pauseImg, []string{PauseTag}},
		{"coredns.tar", corednsImg, []string{CoreDNSImage}},
		{"busybox.tar", bbImg, []string{BusyboxImage}},
	}
	var paths []string
	for _, ar := range archives {
		p := filepath.Join(dir, ar.file)
		if err := writeArchive(p, ar.img, ar.refs...); err != nil {
			return nil, fmt.Errorf("write %s: %w", ar.file, err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// nodeLayerFiles are devk's files on top of the root filesystem: the Kubernetes binary
// with a link per component, containerd, preloaded images, and the node's configuration.
func nodeLayerFiles(r Recipe, a artifacts, preloads []string) ([]layerFile, error) {
	files := []layerFile{{Path: "usr/local/bin/devk-kube", Mode: 0o755, Source: a.kube}}
	for _, c := range Components {
		files = append(files, layerFile{Path: "usr/local/bin/" + c, Linkname: "devk-kube"})
	}
	// Over Debian's: its unit, and docker.io's dependency on the package, stay as they are.
	for _, c := range containerdCommands {
		files = append(files, layerFile{Path: "usr/bin/" + c, Mode: 0o755, Source: filepath.Join(a.containerd, c)})
	}
	for _, p := range preloads {
		files = append(files, layerFile{Path: strings.TrimPrefix(PreloadedImagesDir, "/") + "/" + filepath.Base(p), Mode: 0o644, Source: p})
	}
	for _, p := range a.onDemand {
		files = append(files, layerFile{Path: strings.TrimPrefix(OnDemandImagesDir, "/") + "/" + filepath.Base(p), Mode: 0o644, Source: p})
	}
	files = append(files,
		layerFile{Path: strings.TrimPrefix(PreloadedImagesDir, "/") + "/RECIPE", Mode: 0o644, Data: []byte(r.Hash())},
		layerFile{Path: "usr/share/devk/kubernetes-version", Mode: 0o644, Data: []byte(r.KubernetesVersion)},
		// Units shipped enabled, as `systemctl enable` would link them.
		layerFile{Path: "etc/systemd/system/sysinit.target.wants/devk-prepare.service", Linkname: "../devk-prepare.service"},
		layerFile{Path: "etc/systemd/system/multi-user.target.wants/devk-preload.service", Linkname: "../devk-preload.service"},
	)
	embedded, err := embeddedLayerFiles(nodeFiles, "node")
	return append(files, embedded...), err
}

// embeddedLayerFiles are the files under dir of an embedded tree, at their paths in the
// node (dir stripped); programs under usr/local/lib/devk are executable.
func embeddedLayerFiles(fsys embed.FS, dir string) ([]layerFile, error) {
	var files []layerFile
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fsys.ReadFile(p)
		if err != nil {
			return err
		}
		path := strings.TrimPrefix(p, dir+"/")
		mode := int64(0o644)
		if strings.HasPrefix(path, "usr/local/lib/devk/") {
			mode = 0o755
		}
		files = append(files, layerFile{Path: path, Mode: mode, Data: data})
		return nil
	})
	return files, err
}

// assemble builds the node image (root filesystem layer + devk layer) and loads it.
func (b *Builder) assemble(ctx context.Context, r Recipe, a artifacts) error {
	dir, err := os.MkdirTemp(b.CacheDir, "assemble-")
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	defer os.RemoveAll(dir)
	preloads, err := preloadArchives(dir, a)
	if err != nil {
		return fmt.Errorf("%w: preloaded images: %v", ErrBuildFailed, err)
	}
	preloads = append(preloads, a.images...)
	files, err := nodeLayerFiles(r, a, preloads)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	devkLayer, err := fileLayer(dir, "devk", files)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	rootLayer, err := tarball.LayerFromFile(a.rootfs, tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithCompressedCaching)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	img, err := mutate.AppendLayers(empty.Image, rootLayer, devkLayer)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", runtime.GOARCH
	cfg.Config.Cmd = []string{"/sbin/init"}
	cfg.Config.Env = []string{"container=docker", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.StopSignal = "SIGRTMIN+3"
	cfg.Config.Labels = map[string]string{LabelRecipe: r.Hash(), "dev.devk.kubernetes-version": r.KubernetesVersion}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	tag, err := name.NewTag(r.Tag())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarball.Write(tag, img, pw)) }()
	if err := b.Engine.LoadImage(ctx, pr); err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("%w: load the node image into the engine: %v", ErrBuildFailed, err)
	}
	return nil
}
