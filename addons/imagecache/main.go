//go:build ignore

// devk-image-cache is devk's shared image cache: one pull-through registry (CNCF
// distribution, as a library) per upstream registry, all in one process, each on its own
// port with its own storage under /var/lib/registry/NAME. Content is kept forever (no
// TTL), so what was pulled once keeps being served when the upstream is unreachable.
//
// It is built from this file by devk (addons.ImageCacheProgram): the build tag keeps it
// out of devk's own module, which need not depend on distribution.
//
//	devk-image-cache serve NAME=PORT=URL...  serve each upstream URL on PORT
//	devk-image-cache rm NAME REPO[:TAG]       forget a tag (every tag without :TAG), then gc NAME
//	devk-image-cache gc [NAME...]             delete what no tag uses (every upstream without NAME)
//	devk-image-cache prune                    delete everything cached
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	_ "github.com/distribution/distribution/v3/registry/proxy"
	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	// The image has no CA bundle: the upstreams' certificates are checked against
	// Mozilla's roots built into the program.
	_ "golang.org/x/crypto/x509roots/fallback"
)

const root = "/var/lib/registry"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "devk-image-cache:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: devk-image-cache serve|rm|gc ...")
	}
	ctx := context.Background()
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:])
	case "rm":
		if len(args) != 3 {
			return errors.New("usage: devk-image-cache rm NAME REPO[:TAG]")
		}
		return remove(ctx, args[1], args[2])
	case "prune":
		entries, err := os.ReadDir(root)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		for _, e := range entries {
			for _, dir := range []string{"repositories", "blobs"} {
				if err := os.RemoveAll(filepath.Join(root, e.Name(), "docker/registry/v2", dir)); err != nil {
					return err
				}
			}
		}
		return nil
	case "gc":
		names := args[1:]
		if len(names) == 0 {
			entries, err := os.ReadDir(root)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			for _, e := range entries {
				if e.IsDir() {
					names = append(names, e.Name())
				}
			}
		}
		for _, name := range names {
			if err := collect(ctx, name); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// config is a registry with its storage under root/name: a pull-through cache of url,
// or (url empty) a read-only registry of what the cache holds. Neither accepts pushes:
// whatever the nodes pull from the cache came from its upstream.
func config(name, port, url string) (*configuration.Configuration, error) {
	maintenance := "    uploadpurging:\n      enabled: false\n"
	proxy := ""
	if url != "" {
		proxy = fmt.Sprintf("proxy:\n  remoteurl: %s\n  ttl: 0s\n", url)
	} else {
		maintenance += "    readonly:\n      enabled: true\n"
	}
	text := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  maintenance:
%shttp:
  addr: :%s
%s`, filepath.Join(root, name), maintenance, port, proxy)
	cfg, err := configuration.Parse(strings.NewReader(text))
	if err != nil {
		return nil, err
	}
	if url == "" && !readOnly(cfg) {
		return nil, fmt.Errorf("the read-only registry of %s is not read-only", name)
	}
	return cfg, nil
}

// readOnly tells whether cfg's storage refuses writes.
func readOnly(cfg *configuration.Configuration) bool {
	m, ok := cfg.Storage["maintenance"]
	if !ok {
		return false
	}
	ro, ok := m["readonly"].(map[any]any)
	return ok && ro["enabled"] == true
}

// upstream serves one upstream's images: through its pull-through cache once that could
// be set up, else (the upstream unreachable: distribution then refuses to start a
// cache) read-only from what was cached before, trying the upstream again now and then.
type upstream struct {
	name, port, url string
	local           http.Handler

	mu      sync.Mutex
	proxy   http.Handler
	lastTry time.Time
	trying  chan struct{} // closed when the try in flight ends
}

// retryEvery is how long an unreachable upstream is left alone before the next try, and
// waitTry how long a request waits for a try in flight.
const (
	retryEvery = 15 * time.Second
	waitTry    = 10 * time.Second
)

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	if u.proxy == nil && u.trying == nil && time.Since(u.lastTry) > retryEvery {
		u.startTry()
	}
	proxy, trying := u.proxy, u.trying
	u.mu.Unlock()
	if proxy == nil && trying != nil {
		select {
		case <-trying:
		case <-time.After(waitTry):
		case <-r.Context().Done():
		}
		u.mu.Lock()
		proxy = u.proxy
		u.mu.Unlock()
	}
	if proxy != nil {
		proxy.ServeHTTP(w, r)
		return
	}
	u.local.ServeHTTP(w, r)
}

// startTry sets up the pull-through cache in the background; u.mu is held.
func (u *upstream) startTry() {
	done := make(chan struct{})
	u.trying, u.lastTry = done, time.Now()
	go func() {
		defer close(done)
		proxy, err := newProxy(u.name, u.port, u.url)
		if err != nil {
			fmt.Fprintf(os.Stderr, "devk-image-cache: %s: %v; serving what is cached\n", u.name, err)
		}
		u.mu.Lock()
		u.proxy, u.trying = proxy, nil
		u.mu.Unlock()
	}()
}

// newProxy makes the pull-through cache, which distribution builds only while the
// upstream answers (it panics otherwise, after starting goroutines it never stops), so
// the upstream is asked first.
func newProxy(name, port, url string) (h http.Handler, err error) {
	client := http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url + "/v2/")
	if err != nil {
		return nil, fmt.Errorf("upstream %s unreachable: %w", url, err)
	}
	resp.Body.Close()
	cfg, err := config(name, port, url)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			h, err = nil, fmt.Errorf("upstream %s unreachable: %v", url, r)
		}
	}()
	return handlers.NewApp(context.Background(), cfg), nil
}

func serve(ctx context.Context, upstreams []string) error {
	if len(upstreams) == 0 {
		return errors.New("serve: no upstream (NAME=PORT=URL)")
	}
	errs := make(chan error, len(upstreams))
	for _, arg := range upstreams {
		parts := strings.SplitN(arg, "=", 3)
		if len(parts) != 3 || parts[0] == "" || strings.Contains(parts[0], "/") || strings.Contains(parts[0], "..") {
			return fmt.Errorf("serve: %q is not NAME=PORT=URL", arg)
		}
		if err := os.MkdirAll(filepath.Join(root, parts[0]), 0o755); err != nil {
			return err
		}
		cfg, err := config(parts[0], parts[1], "")
		if err != nil {
			return fmt.Errorf("serve %s: %w", parts[0], err)
		}
		u := &upstream{name: parts[0], port: parts[1], url: parts[2], local: handlers.NewApp(ctx, cfg)}
		u.mu.Lock()
		u.startTry() // set up the cache now if the upstream answers
		u.mu.Unlock()
		server := &http.Server{Addr: cfg.HTTP.Addr, Handler: u}
		fmt.Fprintf(os.Stderr, "devk-image-cache: %s from %s on %s\n", parts[0], parts[2], cfg.HTTP.Addr)
		go func() { errs <- fmt.Errorf("serve %s: %w", parts[0], server.ListenAndServe()) }()
	}
	return <-errs
}

// remove forgets a tag, or a whole repository, then frees what nothing uses any more.
func remove(ctx context.Context, name, ref string) error {
	repo, tag, _ := strings.Cut(ref, ":")
	if strings.Contains(repo, "..") || strings.HasPrefix(repo, "/") || strings.Contains(name, "/") {
		return fmt.Errorf("rm: bad name %s %s", name, ref)
	}
	dir := filepath.Join(root, name, "docker/registry/v2/repositories", repo)
	if tag != "" {
		dir = filepath.Join(dir, "_manifests/tags", tag)
	}
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("rm: %s/%s is not in the cache", name, ref)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("rm: %w", err)
	}
	return collect(ctx, name)
}

// collect deletes the manifests no tag names and the blobs no manifest uses.
func collect(ctx context.Context, name string) error {
	dir := filepath.Join(root, name)
	if _, err := os.Stat(filepath.Join(dir, "docker/registry/v2/repositories")); err != nil {
		return nil // nothing cached from this upstream yet
	}
	driver, err := factory.Create(ctx, "filesystem", map[string]any{"rootdirectory": dir})
	if err != nil {
		return fmt.Errorf("gc %s: %w", name, err)
	}
	registry, err := storage.NewRegistry(ctx, driver, storage.EnableDelete)
	if err != nil {
		return fmt.Errorf("gc %s: %w", name, err)
	}
	if err := storage.MarkAndSweep(ctx, driver, registry, storage.GCOpts{RemoveUntagged: true, Quiet: true}); err != nil {
		return fmt.Errorf("gc %s: %w", name, err)
	}
	return nil
}
