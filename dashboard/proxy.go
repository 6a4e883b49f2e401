package dashboard

import (
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"

	"k8s.io/client-go/rest"
)

// ServiceProxyPath is where the API server proxies to the dashboard's Service.
const ServiceProxyPath = "/api/v1/namespaces/" + Namespace + "/services/http:" + ServiceName + ":80/proxy"

// NewProxy serves the dashboard at the root of a local listener: each request goes
// through the API server's service proxy, authenticated with cfg's credentials (the
// user's kubeconfig), so the UI's relative URLs work unchanged. Requests whose Host is
// not one of hosts are refused, so a page on another name (DNS rebinding) cannot use
// the user's credentials through it.
func NewProxy(cfg *rest.Config, hosts []string) (http.Handler, error) {
	if len(hosts) == 0 {
		return nil, fmt.Errorf("no host names to serve the dashboard on")
	}
	transport, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig credentials: %w", err)
	}
	target, err := url.Parse(cfg.Host)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("kubeconfig server %q is not a URL", cfg.Host)
	}
	prefix := strings.TrimSuffix(target.Path, "/") + ServiceProxyPath
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host, pr.Out.Host = target.Scheme, target.Host, target.Host
			pr.Out.URL.Path = prefix + pr.In.URL.Path
			pr.Out.URL.RawPath = ""
			// Only the kubeconfig's credentials go to the API server.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
		},
		Transport:     transport,
		FlushInterval: -1, // event streams (watches, logs) flow as they come
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, http.StatusBadGateway, fmt.Errorf("the API server at %s did not answer: %v", target.Host, err))
		},
	}
	return RequireHost(hosts, rp), nil
}

// RequireHost refuses requests whose Host is not one of hosts (a page on another name,
// through DNS rebinding, must not reach what the user's credentials can), else serves
// next. hosts must not be empty.
func RequireHost(hosts []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !slices.Contains(hosts, r.Host) {
			writeError(w, http.StatusMisdirectedRequest, fmt.Errorf("host %q is not served here; use %s", r.Host, hosts[0]))
			return
		}
		next.ServeHTTP(w, r)
	})
}
