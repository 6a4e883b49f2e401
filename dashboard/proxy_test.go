package dashboard

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// TestProxy: devk's local server forwards to the API server's service proxy with the
// kubeconfig's credentials, at the root of the local listener, and streams as it goes.
func TestProxy(t *testing.T) {
	type seen struct{ path, query, auth, cookie, csrf string }
	got := make(chan seen, 10)
	apiserver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- seen{r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get("Cookie"), r.Header.Get(CSRFHeader)}
		if strings.HasSuffix(r.URL.Path, "/api/watch") {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
			<-r.Context().Done() // a stream that never ends
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer apiserver.Close()
	handler, err := NewProxy(&rest.Config{Host: apiserver.URL + "/prefix", BearerToken: "user-token"}, []string{"devk.local:1234"})
	if err != nil {
		t.Fatal(err)
	}
	local := httptest.NewServer(handler)
	defer local.Close()
	do := func(method, path, host string, header map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, local.URL+path, nil)
		req.Host = host
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	tests := []struct {
		name, method, path, host string
		header                   map[string]string
		code                     int
		want                     seen
	}{
		{"the page", "GET", "/", "devk.local:1234", nil, 200, seen{path: "/prefix" + ServiceProxyPath + "/", auth: "Bearer user-token"}},
		{"an API call", "GET", "/api/list?kind=pods&namespace=a%20b", "devk.local:1234", nil, 200,
			seen{path: "/prefix" + ServiceProxyPath + "/api/list", query: "kind=pods&namespace=a%20b", auth: "Bearer user-token"}},
		{"the browser's credentials stay home", "POST", "/api/scale", "devk.local:1234",
			map[string]string{"Authorization": "Bearer stolen", "Cookie": "a=b", CSRFHeader: "1"}, 200,
			seen{path: "/prefix" + ServiceProxyPath + "/api/scale", auth: "Bearer user-token", csrf: "1"}},
		{"another host name", "GET", "/", "evil.example:1234", nil, http.StatusMisdirectedRequest, seen{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(tt.method, tt.path, tt.host, tt.header)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			if tt.code != 200 {
				select {
				case s := <-got:
					t.Fatalf("the request reached the API server: %+v", s)
				default:
				}
				return
			}
			if s := <-got; s != tt.want {
				t.Errorf("the API server saw %+v, want %+v", s, tt.want)
			}
		})
	}
	t.Run("event streams flow", func(t *testing.T) {
		resp := do("GET", "/api/watch?kinds=pods", "devk.local:1234", nil)
		defer resp.Body.Close()
		<-got
		line := make(chan string, 1)
		go func() {
			l, _ := bufio.NewReader(resp.Body).ReadString('\n')
			line <- l
		}()
		select {
		case l := <-line:
			if l != "data: first\n" {
				t.Errorf("first line %q", l)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the first event did not come through while the stream was open")
		}
	})
	if _, err := NewProxy(&rest.Config{Host: apiserver.URL}, nil); err == nil {
		t.Error("a proxy without host names was made")
	}
}
