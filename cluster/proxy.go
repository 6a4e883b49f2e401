package cluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/devk-dev/devk/driver"
)

// ProxyEnv is the user's HTTP proxy settings, taken from HTTP_PROXY, HTTPS_PROXY and
// NO_PROXY (or their lower-case forms) when a cluster starts.
type ProxyEnv struct {
	HTTPProxy  string `json:"httpProxy,omitempty"`
	HTTPSProxy string `json:"httpsProxy,omitempty"`
	NoProxy    string `json:"noProxy,omitempty"`
}

// ProxyFromEnv reads the proxy variables through lookup (os.LookupEnv); upper case wins
// over lower case. set tells whether any of them is in the environment at all, empty
// ones included: `HTTPS_PROXY= devk start` clears what a profile had. A proxy without a
// scheme (proxy:3128) is taken as http://, as curl and Go do.
func ProxyFromEnv(lookup func(string) (string, bool)) (p ProxyEnv, set bool) {
	get := func(name string) string {
		for _, n := range []string{name, strings.ToLower(name)} {
			if v, ok := lookup(n); ok {
				set = true
				if v != "" {
					return v
				}
			}
		}
		return ""
	}
	withScheme := func(v string) string {
		if v != "" && !strings.Contains(v, "://") {
			return "http://" + v
		}
		return v
	}
	p = ProxyEnv{HTTPProxy: withScheme(get("HTTP_PROXY")), HTTPSProxy: withScheme(get("HTTPS_PROXY")), NoProxy: get("NO_PROXY")}
	return p, set
}

// IsZero tells whether no proxy is set.
func (p ProxyEnv) IsZero() bool { return p.HTTPProxy == "" && p.HTTPSProxy == "" }

// Validate refuses a proxy URL a node could not use.
func (p ProxyEnv) Validate() error {
	for _, v := range []struct{ name, value string }{{"HTTP_PROXY", p.HTTPProxy}, {"HTTPS_PROXY", p.HTTPSProxy}} {
		if v.value == "" {
			continue
		}
		u, err := url.Parse(v.value)
		if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
			return fmt.Errorf("%w: %s=%q is not a proxy URL (such as http://proxy.example.com:3128); fix or unset it", ErrInvalid, v.name, v.value)
		}
	}
	return nil
}

// loopbackProxies are the proxies that listen on the host's loopback, as host:port.
func (p ProxyEnv) loopbackProxies() []string {
	var out []string
	for _, v := range []string{p.HTTPProxy, p.HTTPSProxy} {
		if u, err := url.Parse(v); err == nil && isLoopback(u.Hostname()) {
			out = append(out, u.Host)
		}
	}
	return out
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Seen from where hostAddr is the host (the node's network gateway, or a name for it): a
// proxy on the host's loopback becomes hostAddr, and noProxy is added to NO_PROXY.
func (p ProxyEnv) Seen(hostAddr string, noProxy ...string) ProxyEnv {
	move := func(v string) string {
		u, err := url.Parse(v)
		if err != nil || !isLoopback(u.Hostname()) {
			return v
		}
		if port := u.Port(); port != "" {
			u.Host = net.JoinHostPort(hostAddr, port)
		} else {
			u.Host = hostAddr
		}
		return u.String()
	}
	out := ProxyEnv{HTTPProxy: move(p.HTTPProxy), HTTPSProxy: move(p.HTTPSProxy)}
	var list []string
	seen := map[string]bool{}
	for _, item := range append(strings.Split(p.NoProxy, ","), noProxy...) {
		item = strings.TrimSpace(item)
		if item != "" && !seen[item] {
			seen[item] = true
			list = append(list, item)
		}
	}
	out.NoProxy = strings.Join(list, ",")
	return out
}

// Environ is the settings as environment variables, in both cases (programs differ in
// which they read).
func (p ProxyEnv) Environ() []string {
	var env []string
	for _, v := range []struct{ name, value string }{{"HTTP_PROXY", p.HTTPProxy}, {"HTTPS_PROXY", p.HTTPSProxy}, {"NO_PROXY", p.NoProxy}} {
		if v.value != "" {
			env = append(env, v.name+"="+v.value, strings.ToLower(v.name)+"="+v.value)
		}
	}
	return env
}

// proxyDropIn is a systemd drop-in giving a unit the proxy settings (a comment only,
// when there are none, so a proxy set before is dropped).
func proxyDropIn(p ProxyEnv) []byte {
	var b strings.Builder
	b.WriteString("# Written by devk: the HTTP proxy settings `devk start` found in its environment.\n[Service]\n")
	for _, kv := range p.Environ() {
		// systemd expands %-specifiers in Environment=: a URL-encoded password has them.
		fmt.Fprintf(&b, "Environment=%q\n", strings.ReplaceAll(kv, "%", "%%"))
	}
	return []byte(b.String())
}

// proxyUnits are the node's units that reach the network on the user's behalf.
func proxyUnits() []string { return []string{"containerd", "docker", "kubelet"} }

// nodeNet is what a node's files say about the network around it.
type nodeNet struct {
	cacheURLs map[string]string // the shared image cache's URL per upstream host
	hostAddr  string            // the host as the node reaches it (for a proxy on it)
	subnet    string            // the nodes' network, reached directly
}

// direct is what is reached without a proxy on the node's network.
func (nn nodeNet) direct() []string {
	if nn.subnet == "" {
		return nil
	}
	return []string{nn.subnet}
}

// nodeNoProxy is what the node reaches directly, never through the user's proxy: itself,
// the image cache, and the cluster's addresses and names.
func nodeNoProxy(p NodeParams, nn nodeNet) []string {
	list := append([]string{"localhost", "127.0.0.1", p.NodeIP, p.NodeName}, nn.direct()...)
	var caches []string
	for _, u := range nn.cacheURLs {
		if parsed, err := url.Parse(u); err == nil {
			caches = append(caches, parsed.Hostname())
		}
	}
	sort.Strings(caches)
	list = append(list, caches...)
	return append(list, p.ServiceCIDR, p.PodCIDR, ".svc", ".cluster.local")
}

// proxyStep finds where the node reaches a proxy on the host's loopback, warns when the
// proxy does not listen there, and says once which settings the node gets.
func (m *Manager) proxyStep(ctx context.Context, s *startState) error {
	p := s.prof.Proxy
	if p.IsZero() {
		return nil
	}
	onHost := ""
	if addresser, ok := m.Driver.(driver.HostAddresser); ok {
		hn, err := addresser.HostNetwork(ctx)
		if err != nil {
			return err
		}
		s.net.hostAddr, s.net.subnet, onHost = hn.FromNode, hn.NodeCIDR, hn.OnHost
	}
	for _, hostPort := range p.loopbackProxies() {
		_, port, _ := net.SplitHostPort(hostPort)
		where := net.JoinHostPort(onHost, port)
		if onHost == "" || !listens(ctx, where) {
			m.warn(fmt.Sprintf("the proxy %s is on the host's loopback, and the node reaches the host at %s, where nothing answers on port %s; make the proxy listen on %s too, or set a proxy address the node can reach", hostPort, onHost, port, onHost))
		}
	}
	shown := p.HTTPSProxy
	if shown == "" {
		shown = p.HTTPProxy
	}
	m.Report.Step("Passing proxy " + redact(shown) + " to the node (NO_PROXY gets the node's and the cluster's addresses)")
	m.Report.Done(nil)
	return nil
}

// listens tells whether something accepts TCP connections at addr.
func listens(ctx context.Context, addr string) bool {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// redact hides a proxy URL's password.
func redact(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	return parsed.Redacted()
}

func (m *Manager) warn(msg string) {
	if m.Warn != nil {
		m.Warn(msg)
	}
}

// proxyDropInPath is where a unit's proxy drop-in goes.
func proxyDropInPath(unit string) string {
	return "/etc/systemd/system/" + unit + ".service.d/devk-proxy.conf"
}
