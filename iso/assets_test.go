package iso

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// npmTarball is a gzipped tar with files, as the npm registry serves packages.
func npmTarball(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range sortedKeys(files) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(files[name])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func integrity(data []byte) string {
	sum := sha512.Sum512(data)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// TestWriteAssets: a pinned tarball is fetched once, checked against its integrity,
// cached, and its listed files land in the source tree; later builds need no network.
func TestWriteAssets(t *testing.T) {
	good := npmTarball(t, map[string]string{"package/lib/x.js": "var X;\n", "package/LICENSE": "MIT\n", "package/README.md": "not wanted\n"})
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/x-1.0.0.tgz" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(good)
	}))
	defer srv.Close()
	files := map[string]string{"package/lib/x.js": "ui/vendor/x.js", "package/LICENSE": "ui/vendor/x.LICENSE"}
	tests := []struct {
		name    string
		asset   Asset
		wantErr string
	}{
		{"pinned and matching", Asset{URL: srv.URL + "/x-1.0.0.tgz", Integrity: integrity(good), Files: files}, ""},
		{"a tarball that is not the pinned one", Asset{URL: srv.URL + "/x-1.0.0.tgz", Integrity: integrity([]byte("other")), Files: files}, "does not match"},
		{"not sha512", Asset{URL: srv.URL + "/x-1.0.0.tgz", Integrity: "sha1-abc", Files: files}, "want sha512"},
		{"a file the tarball lacks", Asset{URL: srv.URL + "/x-1.0.0.tgz", Integrity: integrity(good), Files: map[string]string{"package/lib/y.js": "ui/y.js"}}, "lacks package/lib/y.js"},
		{"a path out of the tree", Asset{URL: srv.URL + "/x-1.0.0.tgz", Integrity: integrity(good), Files: map[string]string{"package/LICENSE": "../evil"}}, "outside the source tree"},
		{"not on the registry", Asset{URL: srv.URL + "/nope.tgz", Integrity: integrity(good), Files: files}, "404"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cache, dir := t.TempDir(), t.TempDir()
			err := WriteAssets(context.Background(), cache, dir, []Asset{tt.asset})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertTree(t, dir, map[string]string{"ui/vendor/x.js": "var X;\n", "ui/vendor/x.LICENSE": "MIT\n"})
			// Offline now: the cached tarball is enough.
			before := hits.Load()
			dir2 := t.TempDir()
			if err := WriteAssets(context.Background(), cache, dir2, []Asset{tt.asset}); err != nil {
				t.Fatal(err)
			}
			if hits.Load() != before {
				t.Error("the second build downloaded the tarball again")
			}
			assertTree(t, dir2, map[string]string{"ui/vendor/x.js": "var X;\n", "ui/vendor/x.LICENSE": "MIT\n"})
			// A damaged cache is not trusted: the tarball is fetched again.
			matches, _ := filepath.Glob(filepath.Join(cache, "downloads", "*"))
			if len(matches) != 1 {
				t.Fatalf("cache holds %v", matches)
			}
			if err := os.WriteFile(matches[0], []byte("garbage"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := WriteAssets(context.Background(), cache, t.TempDir(), []Asset{tt.asset}); err != nil || hits.Load() != before+1 {
				t.Errorf("a damaged cache: err %v, downloads %d, want one more", err, hits.Load()-before)
			}
		})
	}
}

func assertTree(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	for path, content := range want {
		got, err := os.ReadFile(filepath.Join(dir, path))
		if err != nil || string(got) != content {
			t.Errorf("%s: %q (%v), want %q", path, got, err, content)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "package")); err == nil {
		t.Error("files not asked for were written")
	}
}

func TestGoProgramKeyCoversAssets(t *testing.T) {
	a := GoProgram{Name: "d", Module: "example.com/d", Version: "src-1", Assets: []Asset{{URL: "u", Integrity: "sha512-a", Files: map[string]string{"x": "y"}}}}
	b := a
	b.Assets = []Asset{{URL: "u", Integrity: "sha512-b", Files: map[string]string{"x": "y"}}}
	c := a
	c.Assets = []Asset{{URL: "u", Integrity: "sha512-a", Files: map[string]string{"x": "z"}}}
	if a.Key() == b.Key() || a.Key() == c.Key() {
		t.Error("a changed asset pin keeps the program's key")
	}
}
