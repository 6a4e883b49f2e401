package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/devk-dev/devk/driver"
	"github.com/devk-dev/devk/iso"
)

// ImageCacheService names the shared image cache among the driver's services.
const ImageCacheService = "image-cache"

// imageCacheFirstPort is the cache's port for its first upstream; the others follow.
const imageCacheFirstPort = 5001

// ImageCacheUpstreamsVar overrides or adds the cache's upstreams: HOST=URL,... (a
// company's own copy of Docker Hub, or a registry a test runs).
const ImageCacheUpstreamsVar = "DEVK_IMAGE_CACHE_UPSTREAMS"

// Upstream is a registry the shared image cache pulls through: images named after Host
// are fetched from URL.
type Upstream struct {
	Host string `json:"host"`
	URL  string `json:"url"`
}

// DefaultUpstreams are the registries most images come from.
func DefaultUpstreams() []Upstream {
	return []Upstream{
		{Host: DockerHub, URL: DockerHubURL},
		{Host: "registry.k8s.io", URL: "https://registry.k8s.io"},
		{Host: "ghcr.io", URL: "https://ghcr.io"},
		{Host: "quay.io", URL: "https://quay.io"},
	}
}

// ParseUpstreams applies overrides in HOST=URL,... form to upstreams: a known host gets
// the new URL, another host is added.
func ParseUpstreams(upstreams []Upstream, overrides string) ([]Upstream, error) {
	out := append([]Upstream(nil), upstreams...)
	for _, item := range strings.Split(overrides, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		host, u, ok := strings.Cut(item, "=")
		if !ok || host == "" || strings.ContainsAny(host, "/ ") || ValidateMirror(u) != nil {
			return nil, fmt.Errorf("%w: %s: %q is not HOST=URL (such as docker.io=https://hub.example.com)", ErrInvalid, ImageCacheUpstreamsVar, item)
		}
		found := false
		for i := range out {
			if out[i].Host == host {
				out[i].URL, found = u, true
			}
		}
		if !found {
			out = append(out, Upstream{Host: host, URL: u})
		}
	}
	return out, nil
}

// ImageCache is devk's shared pull-through image cache: one service per devk home,
// started with the first cluster that uses it, kept across `devk delete`, its storage
// under $DEVK_HOME/cache/registry.
type ImageCache struct {
	Program iso.GoProgram
	// UpstreamOverrides is HOST=URL,... (ImageCacheUpstreamsVar), applied to
	// DefaultUpstreams; start refuses a malformed one before anything changes.
	UpstreamOverrides string
	// Build gives an archive of Program's image, building it if needed.
	Build func(ctx context.Context, p iso.GoProgram) (archive string, err error)
}

// ImageCacheDir is where the cache keeps what it pulled.
func (h Home) ImageCacheDir() string { return filepath.Join(h.CacheDir(), "registry") }

// Upstreams are the registries the cache serves, in port order.
func (c *ImageCache) Upstreams() ([]Upstream, error) {
	return ParseUpstreams(DefaultUpstreams(), c.UpstreamOverrides)
}

// Spec is the cache's service: one registry per upstream, on consecutive ports, reaching
// them through proxy (seen from a container: the host is host.docker.internal; noProxy
// are more addresses it reaches directly). A zero proxy keeps the running cache's.
func (c *ImageCache) Spec(dataDir string, proxy ProxyEnv, noProxy ...string) (driver.ServiceSpec, error) {
	upstreams, err := c.Upstreams()
	if err != nil {
		return driver.ServiceSpec{}, err
	}
	args := []string{"serve"}
	var ports []int
	for i, u := range upstreams {
		args = append(args, u.Host+"="+strconv.Itoa(imageCacheFirstPort+i)+"="+u.URL)
		ports = append(ports, imageCacheFirstPort+i)
	}
	var env []string
	if !proxy.IsZero() {
		always := []string{"localhost", "127.0.0.1", "host.docker.internal"}
		env = proxy.Seen("host.docker.internal", append(always, noProxy...)...).Environ()
	}
	return driver.ServiceSpec{
		Name: ImageCacheService, Image: c.Program.Image,
		LoadImage: func(ctx context.Context) (string, error) { return c.Build(ctx, c.Program) },
		Args:      args, Env: env,
		DataDir: dataDir, DataTarget: "/var/lib/registry", Ports: ports,
		Key: iso.HashOf(append([]string{c.Program.Image, "published"}, args...)...), // ports are in args
	}, nil
}

// URLs maps each upstream host to the cache's URL for it: at the cache's IP on the
// nodes' network, or, for nodes that reach the host's loopback at viaHost (VMs), at
// the port the cache publishes there.
func (c *ImageCache) URLs(ep driver.ServiceEndpoint, viaHost string) map[string]string {
	upstreams, err := c.Upstreams()
	if err != nil {
		return nil
	}
	urls := map[string]string{}
	for i, u := range upstreams {
		port := imageCacheFirstPort + i
		addr := ep.IP + ":" + strconv.Itoa(port)
		if viaHost != "" {
			hostPort, ok := ep.HostPorts[port]
			if !ok {
				continue
			}
			addr = viaHost + ":" + strconv.Itoa(hostPort)
		}
		urls[u.Host] = "http://" + addr
	}
	return urls
}

// ErrNoImageCache means no Docker engine is there to run the shared image cache.
var ErrNoImageCache = errors.New("the image cache needs a Docker engine")

// cacheHost is where the shared cache runs: the driver's engine, or, for a driver that
// cannot run it (qemu), the Docker engine when there is one, which its nodes reach
// through the host at viaHost. A nil host means there is none.
func (m *Manager) cacheHost(ctx context.Context) (host driver.ServiceHost, viaHost string, err error) {
	if host, ok := m.Driver.(driver.ServiceHost); ok {
		return host, "", nil
	}
	addresser, ok := m.Driver.(driver.HostAddresser)
	if !ok || m.DriverNamed == nil {
		return nil, "", nil
	}
	engine, err := m.DriverNamed("docker")
	if err != nil {
		return nil, "", nil
	}
	if host, ok = engine.(driver.ServiceHost); !ok || engine.Preflight(ctx) != nil {
		return nil, "", nil // no Docker engine here: VMs pull directly
	}
	hn, err := addresser.HostNetwork(ctx)
	if err != nil {
		return nil, "", err
	}
	return host, hn.FromNode, nil
}

// ensureImageCache starts the shared cache for a profile that uses it and returns its
// URL per upstream host; nil where the profile does without it.
func (m *Manager) ensureImageCache(ctx context.Context, prof *Profile, noProxy []string) (map[string]string, error) {
	if m.ImageCache == nil || prof.NoImageCache {
		return nil, nil
	}
	host, viaHost, err := m.cacheHost(ctx)
	if err != nil || host == nil {
		return nil, err
	}
	spec, err := m.ImageCache.Spec(m.Home.ImageCacheDir(), prof.Proxy, noProxy...)
	if err != nil {
		return nil, err
	}
	ep, err := host.EnsureService(ctx, spec)
	if err != nil {
		return nil, err
	}
	return m.ImageCache.URLs(ep, viaHost), nil
}
