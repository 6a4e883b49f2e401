package cluster

import (
	"errors"
	"strings"
	"testing"
)

func TestProxyFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    ProxyEnv
		wantSet bool
	}{
		{"upper case wins", map[string]string{"https_proxy": "http://lower:1", "HTTPS_PROXY": "http://upper:2", "http_proxy": "http://h:3", "no_proxy": "corp.example"},
			ProxyEnv{HTTPProxy: "http://h:3", HTTPSProxy: "http://upper:2", NoProxy: "corp.example"}, true},
		{"no scheme is http", map[string]string{"HTTPS_PROXY": "proxy.corp:3128"}, ProxyEnv{HTTPSProxy: "http://proxy.corp:3128"}, true},
		{"set but empty clears", map[string]string{"HTTPS_PROXY": ""}, ProxyEnv{}, true},
		{"none", map[string]string{"HOME": "/root"}, ProxyEnv{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, set := ProxyFromEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if got != tt.want || set != tt.wantSet {
				t.Errorf("got %+v %v, want %+v %v", got, set, tt.want, tt.wantSet)
			}
		})
	}
}

func TestProxySeen(t *testing.T) {
	tests := []struct {
		name string
		in   ProxyEnv
		want ProxyEnv
	}{
		{"loopback moves to the host's address", ProxyEnv{HTTPProxy: "http://127.0.0.1:3128", HTTPSProxy: "http://localhost:3128", NoProxy: "corp.example"},
			ProxyEnv{HTTPProxy: "http://192.168.49.1:3128", HTTPSProxy: "http://192.168.49.1:3128", NoProxy: "corp.example,localhost,192.168.49.2"}},
		{"elsewhere stays", ProxyEnv{HTTPSProxy: "http://user:pw@proxy.corp:8080"},
			ProxyEnv{HTTPSProxy: "http://user:pw@proxy.corp:8080", NoProxy: "localhost,192.168.49.2"}},
		{"no duplicates", ProxyEnv{HTTPSProxy: "http://p:1", NoProxy: "localhost, 192.168.49.2"},
			ProxyEnv{HTTPSProxy: "http://p:1", NoProxy: "localhost,192.168.49.2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.in.Seen("192.168.49.1", "localhost", "192.168.49.2"); got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestProxyValidate(t *testing.T) {
	for _, p := range []ProxyEnv{{HTTPProxy: "http:/proxy"}, {HTTPSProxy: "http://"}, {HTTPSProxy: "ftp://p:1"}, {HTTPSProxy: "http://:3128"}} {
		if err := p.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: err = %v, want ErrInvalid", p, err)
		}
	}
	if err := (ProxyEnv{HTTPProxy: "http://p:3128", HTTPSProxy: "socks5://p:1080"}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestNodeProxyFiles(t *testing.T) {
	p := NewNodeParams("devk", "192.168.49.2")
	nn := nodeNet{cacheURLs: map[string]string{"docker.io": "http://192.168.49.3:5001"}, hostAddr: "192.168.49.1"}
	p.Proxy = ProxyEnv{HTTPSProxy: "http://127.0.0.1:3128"}.Seen(nn.hostAddr, nodeNoProxy(p, nn)...)
	got := string(proxyDropIn(p.Proxy))
	for _, want := range []string{
		`Environment="HTTPS_PROXY=http://192.168.49.1:3128"`, `Environment="https_proxy=http://192.168.49.1:3128"`,
		`Environment="NO_PROXY=localhost,127.0.0.1,192.168.49.2,devk,192.168.49.3,10.96.0.0/12,10.244.0.0/16,.svc,.cluster.local"`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("drop-in lacks %s:\n%s", want, got)
		}
	}
	if escaped := string(proxyDropIn(ProxyEnv{HTTPSProxy: "http://u:p%40ss@proxy:3128"})); !strings.Contains(escaped, "p%%40ss") {
		t.Errorf("a %% is not escaped for systemd:\n%s", escaped)
	}
	if none := string(proxyDropIn(ProxyEnv{})); strings.Contains(none, "Environment") {
		t.Errorf("no proxy still sets something:\n%s", none)
	}
}
