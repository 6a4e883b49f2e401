package iso

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Asset is a file of a third-party package that a Source program embeds without the
// repository carrying it: files of a pinned npm tarball (the dashboard's terminal
// widget, xterm.js), fetched once, checked against the registry's integrity hash, and
// cached, so later builds are offline and every build embeds the same bytes.
type Asset struct {
	// URL is the tarball's: https://registry.npmjs.org/@xterm/xterm/-/xterm-6.0.0.tgz.
	URL string
	// Integrity is the registry's hash of the tarball as its metadata gives it
	// (dist.integrity): "sha512-" and the digest in base64.
	Integrity string
	// Files maps paths in the tarball (package/lib/xterm.js) to paths in the program's
	// source tree (ui/vendor/xterm.js).
	Files map[string]string
}

// assetKey is what an asset adds to its program's Key.
func (a Asset) key() string {
	parts := []string{a.URL, a.Integrity}
	for _, from := range sortedKeys(a.Files) {
		parts = append(parts, from+"="+a.Files[from])
	}
	return strings.Join(parts, " ")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// sha512Digest reads an "sha512-BASE64" integrity string.
func sha512Digest(integrity string) ([]byte, error) {
	b64, ok := strings.CutPrefix(integrity, "sha512-")
	if !ok {
		return nil, fmt.Errorf("integrity %q: want sha512-BASE64", integrity)
	}
	sum, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(sum) != sha512.Size {
		return nil, fmt.Errorf("integrity %q: not a sha512 digest", integrity)
	}
	return sum, nil
}

// assetClient fetches tarballs; the timeout fails a build on a stalled registry.
var assetClient = &http.Client{Timeout: 5 * time.Minute}

// fetchAsset returns the asset's tarball, from cacheDir/downloads or else from its URL
// (then cached); either way only bytes that match the integrity hash.
func fetchAsset(ctx context.Context, cacheDir string, a Asset) ([]byte, error) {
	want, err := sha512Digest(a.Integrity)
	if err != nil {
		return nil, err
	}
	verify := func(data []byte) bool {
		got := sha512.Sum512(data)
		return bytes.Equal(got[:], want)
	}
	cachePath := filepath.Join(cacheDir, "downloads", hex.EncodeToString(want)[:32]+"-"+path.Base(a.URL))
	if data, err := os.ReadFile(cachePath); err == nil && verify(data) {
		return data, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := assetClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s (is the npm registry reachable? a build that has fetched it once works offline): %w", a.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download %s: %s", a.URL, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", a.URL, err)
	}
	if !verify(data) {
		return nil, fmt.Errorf("download %s: its sha512 does not match the pinned integrity %s", a.URL, a.Integrity)
	}
	if err := os.MkdirAll(filepath.Dir(cachePath), 0o755); err != nil {
		return nil, err
	}
	tmp := cachePath + ".partial"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return nil, err
	}
	return data, os.Rename(tmp, cachePath)
}

// extractAsset writes the asset's files from its tarball into dir.
func extractAsset(tarball []byte, a Asset, dir string) error {
	zr, err := gzip.NewReader(bytes.NewReader(tarball))
	if err != nil {
		return fmt.Errorf("%s: %w", a.URL, err)
	}
	tr := tar.NewReader(zr)
	left := map[string]bool{}
	for from := range a.Files {
		left[from] = true
	}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("%s: %w", a.URL, err)
		}
		to, ok := a.Files[h.Name]
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		if !filepath.IsLocal(to) {
			return fmt.Errorf("%s: %s would be written outside the source tree", a.URL, to)
		}
		data, err := io.ReadAll(io.LimitReader(tr, 32<<20))
		if err != nil {
			return fmt.Errorf("%s: %s: %w", a.URL, h.Name, err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(to))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			return err
		}
		delete(left, h.Name)
	}
	if len(left) > 0 {
		var missing []string
		for f := range left {
			missing = append(missing, f)
		}
		sort.Strings(missing)
		return fmt.Errorf("%s lacks %s", a.URL, strings.Join(missing, ", "))
	}
	return nil
}

// WriteAssets fetches (or finds in cacheDir) each asset and writes its files into dir.
func WriteAssets(ctx context.Context, cacheDir, dir string, assets []Asset) error {
	for _, a := range assets {
		data, err := fetchAsset(ctx, cacheDir, a)
		if err != nil {
			return err
		}
		if err := extractAsset(data, a, dir); err != nil {
			return err
		}
	}
	return nil
}
