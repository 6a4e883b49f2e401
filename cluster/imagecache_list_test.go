package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cacheFixture is a distribution storage tree under dir, as the cache writes it.
type cacheFixture struct {
	t   *testing.T
	dir string
}

func (f cacheFixture) blob(host string, data string) string {
	sum := sha256.Sum256([]byte(data))
	h := hex.EncodeToString(sum[:])
	path := filepath.Join(registryRoot(f.dir, host), "blobs", "sha256", h[:2], h, "data")
	f.write(path, data)
	return "sha256:" + h
}

func (f cacheFixture) tag(host, repo, tag, digest string) {
	f.write(filepath.Join(registryRoot(f.dir, host), "repositories", repo, "_manifests", "tags", tag, "current", "link"), digest)
}

func (f cacheFixture) write(path, data string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func TestListImageCache(t *testing.T) {
	f := cacheFixture{t, t.TempDir()}
	layer := f.blob("docker.io", strings.Repeat("l", 1000))
	config := f.blob("docker.io", `{"architecture":"amd64"}`)
	absent := "sha256:" + strings.Repeat("0", 64) // a layer of a platform never pulled
	manifest := f.blob("docker.io", `{"config":{"digest":"`+config+`"},"layers":[{"digest":"`+layer+`"},{"digest":"`+absent+`"}]}`)
	index := f.blob("docker.io", `{"manifests":[{"digest":"`+manifest+`"},{"digest":"`+absent+`"}]}`)
	f.tag("docker.io", "library/busybox", "1.37", index)
	f.tag("docker.io", "library/busybox", "latest", index)
	app := f.blob("ghcr.io", `{"layers":[]}`)
	f.tag("ghcr.io", "org/app", "v1", app)

	got, err := ListImageCache(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	indexSize := int64(len(`{"manifests":[{"digest":"`+manifest+`"},{"digest":"`+absent+`"}]}`) +
		len(`{"config":{"digest":"`+config+`"},"layers":[{"digest":"`+layer+`"},{"digest":"`+absent+`"}]}`) +
		len(`{"architecture":"amd64"}`) + 1000)
	want := []CachedImage{
		{Image: "docker.io/library/busybox:1.37", Digest: index, Size: indexSize},
		{Image: "docker.io/library/busybox:latest", Digest: index, Size: indexSize},
		{Image: "ghcr.io/org/app:v1", Digest: app, Size: int64(len(`{"layers":[]}`))},
	}
	if len(got.Images) != len(want) {
		t.Fatalf("got %+v", got.Images)
	}
	for i := range want {
		if got.Images[i] != want[i] {
			t.Errorf("image %d = %+v, want %+v", i, got.Images[i], want[i])
		}
	}
	if wantDisk := indexSize + int64(len(`{"layers":[]}`)); got.DiskBytes != wantDisk {
		t.Errorf("disk %d, want %d", got.DiskBytes, wantDisk)
	}

	empty, err := ListImageCache(filepath.Join(f.dir, "none"))
	if err != nil || len(empty.Images) != 0 || empty.DiskBytes != 0 {
		t.Errorf("a cache never used: %+v, %v", empty, err)
	}
}
