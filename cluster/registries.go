package cluster

import (
	"fmt"
	"net"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// RegistriesDir is where the node's containerd (config_path) and dockerd (its certs.d,
// a link to this folder) read how to reach each registry: HOST/hosts.toml.
const RegistriesDir = "/etc/containerd/certs.d"

// DockerHub is how image references name Docker Hub, and DockerHubURL where it is.
const (
	DockerHub    = "docker.io"
	DockerHubURL = "https://registry-1.docker.io"
)

// RegistryHost is how the node pulls images named after one registry host: it tries
// Mirrors in order, then Server itself.
type RegistryHost struct {
	Host    string
	Server  string
	Mirrors []RegistryMirror
}

// RegistryMirror is a place a registry's images can come from.
type RegistryMirror struct {
	URL        string
	SkipVerify bool
	Push       bool
}

// RegistryConfig is everything the node needs to know about registries: the shared
// image cache's address for each upstream it serves, the user's Docker Hub mirrors and
// insecure registries.
type RegistryConfig struct {
	Cache    map[string]string // upstream host (docker.io) -> the cache's URL for it
	Mirrors  []string          // --registry-mirror: Docker Hub mirrors, tried in order
	Insecure []string          // --insecure-registry HOST[:PORT]
}

// serverOf is where a registry host's images really are.
func serverOf(host string) string {
	if host == DockerHub {
		return DockerHubURL
	}
	return "https://" + host
}

// Hosts is the per-host configuration, sorted by host: the cache first (fastest, and it
// falls back to its upstream), then the user's mirrors, then the registry itself.
// containerd moves on to the next place when one fails or lacks the image.
func (c RegistryConfig) Hosts() []RegistryHost {
	byHost := map[string]*RegistryHost{}
	get := func(host string) *RegistryHost {
		if h, ok := byHost[host]; ok {
			return h
		}
		h := &RegistryHost{Host: host, Server: serverOf(host)}
		byHost[host] = h
		return h
	}
	for host, u := range c.Cache {
		h := get(host)
		h.Mirrors = append(h.Mirrors, RegistryMirror{URL: u})
	}
	for _, m := range c.Mirrors {
		h := get(DockerHub)
		h.Mirrors = append(h.Mirrors, RegistryMirror{URL: strings.TrimSuffix(m, "/")})
	}
	for _, host := range c.Insecure {
		h := get(host)
		// TLS without verification first, then plain HTTP (the server).
		h.Server = "http://" + host
		h.Mirrors = append(h.Mirrors, RegistryMirror{URL: "https://" + host, SkipVerify: true, Push: true})
	}
	var out []RegistryHost
	for _, h := range byHost {
		out = append(out, *h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// HostsTOML is a host's hosts.toml for containerd.
func (h RegistryHost) HostsTOML() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by devk: pulls of %s images try each host below in order, then the server.\n", h.Host)
	fmt.Fprintf(&b, "server = %q\n", h.Server)
	for _, m := range h.Mirrors {
		caps := `["pull", "resolve"]`
		if m.Push {
			caps = `["pull", "resolve", "push"]`
		}
		fmt.Fprintf(&b, "\n[host.%q]\n  capabilities = %s\n", m.URL, caps)
		if m.SkipVerify {
			b.WriteString("  skip_verify = true\n")
		}
	}
	return []byte(b.String())
}

// ValidateMirror checks a --registry-mirror URL: http or https, a host, nothing after
// the path.
func ValidateMirror(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("%w: --registry-mirror %q: give a URL such as https://mirror.example.com or http://192.168.1.10:5000", ErrInvalid, s)
	}
	return nil
}

// ValidateInsecureRegistry checks an --insecure-registry HOST[:PORT].
func ValidateInsecureRegistry(s string) error {
	bad := fmt.Errorf("%w: --insecure-registry %q: give HOST or HOST:PORT, such as 192.168.1.10:5000 (no scheme, no path)", ErrInvalid, s)
	if s == "" || strings.ContainsAny(s, "/ @?#") {
		return bad
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		host, port = s, ""
	}
	if host == "" || strings.Contains(host, ":") && net.ParseIP(host) == nil {
		return bad
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad
		}
	}
	return nil
}
