package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/distribution/reference"

	"github.com/devk-dev/devk/driver"
)

// CachedImage is an image the shared image cache holds.
type CachedImage struct {
	Image  string `json:"image"` // as pods name it: docker.io/library/busybox:1.37
	Digest string `json:"digest"`
	// Size is the bytes of the image the cache holds: manifests, configs and layers (of
	// the platforms pulled, for a multi-platform image).
	Size int64 `json:"size"`
}

// ImageCacheContents is what the cache holds and the disk it takes.
type ImageCacheContents struct {
	Images    []CachedImage `json:"images"`
	DiskBytes int64         `json:"diskBytes"`
	Dir       string        `json:"dir"`
}

// registryRoot is where distribution keeps an upstream's content under the cache dir.
func registryRoot(dir, host string) string {
	return filepath.Join(dir, host, "docker", "registry", "v2")
}

// ListImageCache reads the cache's storage (dir: one folder per upstream host) without
// the cache running: tags, their manifests and the blobs they use.
func ListImageCache(dir string) (ImageCacheContents, error) {
	out := ImageCacheContents{Images: []CachedImage{}, Dir: dir}
	hosts, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("read the image cache: %w", err)
	}
	for _, h := range hosts {
		if !h.IsDir() {
			continue
		}
		root := registryRoot(dir, h.Name())
		blobs := blobStore(filepath.Join(root, "blobs"))
		repos := filepath.Join(root, "repositories")
		err := filepath.WalkDir(repos, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			// REPO/_manifests/tags/TAG/current/link names the tag's manifest.
			if d.IsDir() || d.Name() != "link" || filepath.Base(filepath.Dir(path)) != "current" {
				return nil
			}
			rel, _ := filepath.Rel(repos, path)
			repo, tagPart, ok := strings.Cut(filepath.ToSlash(rel), "/_manifests/tags/")
			if !ok {
				return nil
			}
			tag := strings.TrimSuffix(tagPart, "/current/link")
			link, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			digest := strings.TrimSpace(string(link))
			out.Images = append(out.Images, CachedImage{
				Image: h.Name() + "/" + repo + ":" + tag, Digest: digest, Size: blobs.imageSize(digest, map[string]bool{}),
			})
			return nil
		})
		if err != nil {
			return out, fmt.Errorf("read the image cache: %w", err)
		}
		_ = filepath.WalkDir(filepath.Join(root, "blobs"), func(path string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				if info, err := d.Info(); err == nil {
					out.DiskBytes += info.Size()
				}
			}
			return nil
		})
	}
	sort.Slice(out.Images, func(i, j int) bool { return out.Images[i].Image < out.Images[j].Image })
	return out, nil
}

// blobStore is distribution's content-addressed blob folder.
type blobStore string

func (b blobStore) path(digest string) string {
	algo, hex, _ := strings.Cut(digest, ":")
	if len(hex) < 2 {
		return ""
	}
	return filepath.Join(string(b), algo, hex[:2], hex, "data")
}

// size is a blob's size, 0 when the cache does not hold it.
func (b blobStore) size(digest string) int64 {
	info, err := os.Stat(b.path(digest))
	if err != nil {
		return 0
	}
	return info.Size()
}

// imageSize adds up the blobs an image (a manifest or an index) uses that the cache
// holds, each once.
func (b blobStore) imageSize(digest string, seen map[string]bool) int64 {
	if seen[digest] {
		return 0
	}
	seen[digest] = true
	data, err := os.ReadFile(b.path(digest))
	if err != nil {
		return 0
	}
	var m struct {
		Manifests []struct{ Digest string } `json:"manifests"`
		Config    *struct{ Digest string }  `json:"config"`
		Layers    []struct{ Digest string } `json:"layers"`
	}
	total := int64(len(data))
	if json.Unmarshal(data, &m) != nil {
		return total
	}
	for _, child := range m.Manifests {
		total += b.imageSize(child.Digest, seen)
	}
	blobs := m.Layers
	if m.Config != nil {
		blobs = append(blobs, *m.Config)
	}
	for _, l := range blobs {
		if !seen[l.Digest] {
			seen[l.Digest] = true
			total += b.size(l.Digest)
		}
	}
	return total
}

// ImageCacheList lists what the shared image cache holds.
func (m *Manager) ImageCacheList() (ImageCacheContents, error) {
	return ListImageCache(m.Home.ImageCacheDir())
}

// ErrNotCached means the image cache does not hold the image asked for.
var ErrNotCached = errors.New("not in the image cache")

// imageCacheExec runs the cache program with args in the cache, starting the cache if
// there is none yet (a stopped one is started as it was).
func (m *Manager) imageCacheExec(ctx context.Context, args ...string) error {
	host, _, err := m.cacheHost(ctx)
	if err != nil {
		return err
	}
	if host == nil || m.ImageCache == nil {
		return fmt.Errorf("%w: start the Docker engine (the cache is a container there)", ErrNoImageCache)
	}
	argv := append([]string{m.ImageCache.Program.Binary()}, args...)
	err = host.ServiceExec(ctx, ImageCacheService, argv)
	if !errors.Is(err, driver.ErrNotFound) {
		return err
	}
	spec, err := m.ImageCache.Spec(m.Home.ImageCacheDir(), ProxyEnv{})
	if err != nil {
		return err
	}
	if _, err := host.EnsureService(ctx, spec); err != nil {
		return fmt.Errorf("start the image cache: %w", err)
	}
	return host.ServiceExec(ctx, ImageCacheService, argv)
}

// cachedRef is an image name as the cache stores it: the upstream host and the
// repository, with the tag if one was given. Digests are refused: the cache forgets
// tags, and what only a removed tag used goes with it.
func cachedRef(image string) (host, ref string, err error) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", "", fmt.Errorf("%w: %q is not an image name (such as busybox:1.37 or ghcr.io/org/app:v1): %v", ErrInvalid, image, err)
	}
	if _, ok := named.(reference.Digested); ok {
		return "", "", fmt.Errorf("%w: %s: give a tag or a name, not a digest (`devk cache list` shows the tags)", ErrInvalid, image)
	}
	ref = reference.Path(named)
	if tagged, ok := named.(reference.Tagged); ok {
		ref += ":" + tagged.Tag()
	}
	return reference.Domain(named), ref, nil
}

// ImageCacheRemove forgets images (every tag of a name given without one) and frees the
// disk only they used. Images are named as pods name them (busybox:1.37,
// ghcr.io/org/app). All are checked before any is removed.
func (m *Manager) ImageCacheRemove(ctx context.Context, images ...string) error {
	type target struct{ image, host, ref string }
	var targets []target
	for _, image := range images {
		host, ref, err := cachedRef(image)
		if err != nil {
			return err
		}
		tagDir := filepath.FromSlash(strings.Replace(ref, ":", "/_manifests/tags/", 1))
		if _, err := os.Stat(filepath.Join(registryRoot(m.Home.ImageCacheDir(), host), "repositories", tagDir)); err != nil {
			return fmt.Errorf("%w: %s; `devk cache list` shows what it holds", ErrNotCached, image)
		}
		targets = append(targets, target{image, host, ref})
	}
	for _, t := range targets {
		if err := m.imageCacheExec(ctx, "rm", t.host, t.ref); err != nil {
			return fmt.Errorf("remove %s from the image cache: %w", t.image, err)
		}
	}
	return nil
}

// ImageCachePrune empties the cache and reports the bytes freed.
func (m *Manager) ImageCachePrune(ctx context.Context) (int64, error) {
	before, err := m.ImageCacheList()
	if err != nil {
		return 0, err
	}
	if before.DiskBytes == 0 && len(before.Images) == 0 {
		return 0, nil
	}
	if err := m.imageCacheExec(ctx, "prune"); err != nil {
		return 0, fmt.Errorf("empty the image cache: %w", err)
	}
	return before.DiskBytes, nil
}
