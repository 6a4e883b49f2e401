package cluster

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"github.com/devk-dev/devk/internal/golden"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devk-dev/devk/iso"
)

func TestServiceIP(t *testing.T) {
	tests := []struct {
		cidr string
		n    int
		want string
	}{
		{ServiceCIDR, 1, "10.96.0.1"},
		{ServiceCIDR, 10, "10.96.0.10"},
		{"192.168.49.0/24", 2, "192.168.49.2"},
	}
	for _, tt := range tests {
		if got := ServiceIP(tt.cidr, tt.n); got != tt.want {
			t.Errorf("ServiceIP(%s, %d) = %s, want %s", tt.cidr, tt.n, got, tt.want)
		}
	}
	if DNSIP != "10.96.0.10" {
		t.Errorf("DNSIP = %s, want 10.96.0.10", DNSIP)
	}
}

func TestNewNodeParams(t *testing.T) {
	p := NewNodeParams("devk", testNodeIP)
	want := NodeParams{
		NodeName: "devk", NodeIP: testNodeIP, APIServerPort: 8443, DockerPort: 2376, PKIDir: "/etc/kubernetes/pki",
		ServiceCIDR: "10.96.0.0/12", PodCIDR: "10.244.0.0/16", NodePodCIDR: "10.244.0.0/24", DNSIP: "10.96.0.10",
		CgroupRoot: "/devk-devk", CoreDNSImage: iso.CoreDNSImage, ProxyMode: "nftables",
	}
	if !reflect.DeepEqual(p, want) {
		t.Errorf("NewNodeParams = %+v\nwant %+v", p, want)
	}
}

// TestRenderGolden renders every node template; regenerate with
// `go test ./cluster -run TestRenderGolden -update`.
func TestRenderGolden(t *testing.T) {
	p := NewNodeParams("devk", testNodeIP)
	p.LBRange = "192.168.49.200-192.168.49.254"
	for _, tf := range templateFiles {
		t.Run(tf.tmpl, func(t *testing.T) {
			got, err := Render(tf.tmpl, p)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			golden.Assert(t, filepath.Join("testdata", "golden", "node", tf.tmpl), got)
			if bytes.Contains(got, []byte("<no value>")) {
				t.Errorf("rendered output contains <no value>")
			}
			checkSyntax(t, tf.tmpl, got)
		})
	}
}

// checkSyntax parses the JSON and YAML outputs, so a template edit cannot ship a file the
// component would reject before even reading it.
func checkSyntax(t *testing.T, name string, data []byte) {
	t.Helper()
	switch path.Ext(name) {
	case ".conflist":
		if !json.Valid(data) {
			t.Errorf("%s is not valid JSON", name)
		}
	case ".yaml":
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		docs := 0
		for {
			var obj map[string]any
			err := dec.Decode(&obj)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d is not valid YAML: %v", name, docs+1, err)
			}
			if obj == nil {
				continue
			}
			docs++
			if obj["apiVersion"] == nil || obj["kind"] == nil {
				t.Errorf("%s document %d lacks apiVersion or kind", name, docs)
			}
		}
		if docs == 0 {
			t.Errorf("%s has no documents", name)
		}
	}
}

func TestEveryTemplateIsRendered(t *testing.T) {
	entries, err := fs.ReadDir(templates, "templates")
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, tf := range templateFiles {
		listed = append(listed, tf.tmpl)
	}
	for _, e := range entries {
		if !slices.Contains(listed, e.Name()) {
			t.Errorf("template %s is embedded but not in templateFiles, so never written to the node", e.Name())
		}
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name string
		tmpl string
		data any
		want string
	}{
		{"map lacking a key", "kubelet.service", map[string]any{"NodeName": "devk", "NodeIP": testNodeIP}, "CgroupRoot"},
		{"struct lacking a field", "kubelet.service", struct{ NodeName, NodeIP string }{"devk", testNodeIP}, "CgroupRoot"},
		{"empty map", "etcd.service", map[string]string{}, "NodeName"},
		{"nil data", "cni.conflist", nil, "render cni.conflist"},
		{"unknown template", "nope.yaml", NewNodeParams("devk", testNodeIP), "parse template nope.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Render(tt.tmpl, tt.data)
			if err == nil {
				t.Fatalf("Render succeeded with output:\n%s", out)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestNodeFiles(t *testing.T) {
	p := NewNodeParams("devk", testNodeIP)
	pki := newTestPKI(t, t.TempDir(), "devk", testNodeIP)
	files, err := NodeFiles(p, pki)
	if err != nil {
		t.Fatalf("NodeFiles: %v", err)
	}
	byPath := map[string]NodeFile{}
	for _, f := range files {
		if _, dup := byPath[f.Path]; dup {
			t.Errorf("%s is written twice", f.Path)
		}
		if !strings.HasPrefix(f.Path, "/") {
			t.Errorf("%s is not absolute", f.Path)
		}
		if len(f.Data) == 0 && f.Link == "" {
			t.Errorf("%s is empty", f.Path)
		}
		byPath[f.Path] = f
	}

	t.Run("units enabled as their [Install] section says", func(t *testing.T) {
		for _, unit := range Units {
			name := unit + ".service"
			if strings.HasSuffix(unit, ".socket") {
				name = unit
			}
			var link *NodeFile
			for i, f := range files {
				if f.Link != "" && strings.HasSuffix(f.Path, ".wants/"+name) {
					link = &files[i]
				}
			}
			if link == nil {
				t.Errorf("%s is not enabled", name)
				continue
			}
			target := strings.TrimSuffix(strings.TrimPrefix(link.Path, "/etc/systemd/system/"), ".wants/"+name)
			if unitFile, ok := byPath[link.Link]; ok {
				if !bytes.Contains(unitFile.Data, []byte("WantedBy="+target)) {
					t.Errorf("%s is linked under %s but its [Install] section says otherwise", name, target)
				}
			} else if link.Link != "/lib/systemd/system/"+name {
				t.Errorf("%s links to %s, which devk does not write and no package ships", name, link.Link)
			}
		}
	})

	t.Run("templates", func(t *testing.T) {
		for _, tf := range templateFiles {
			f, ok := byPath[tf.path]
			if !ok {
				t.Errorf("%s (template %s) missing", tf.path, tf.tmpl)
				continue
			}
			want, _ := Render(tf.tmpl, p)
			if !bytes.Equal(f.Data, want) || f.Mode != 0o644 {
				t.Errorf("%s: mode %o or content differs from the rendered template", tf.path, f.Mode)
			}
		}
	})

	t.Run("modes", func(t *testing.T) {
		for _, f := range files {
			if f.Link != "" {
				continue
			}
			secret := strings.HasSuffix(f.Path, ".key") || strings.HasSuffix(f.Path, "-key.pem") || strings.HasSuffix(f.Path, ".conf") && strings.HasPrefix(f.Path, "/etc/kubernetes/") ||
				strings.HasSuffix(f.Path, "/devk-proxy.conf") // a proxy URL may hold a password
			want := int64(0o644)
			if secret {
				want = 0o600
			}
			if f.Mode != want {
				t.Errorf("%s mode = %o, want %o", f.Path, f.Mode, want)
			}
			if bytes.Contains(f.Data, []byte("PRIVATE KEY")) && f.Mode != 0o600 {
				t.Errorf("%s: private key material in a file of mode %o", f.Path, f.Mode)
			}
		}
	})

	t.Run("kubeconfigs", func(t *testing.T) {
		tests := []struct {
			file, user, cn string
		}{
			{"admin.conf", "devk-admin", "devk-admin"},
			{"controller-manager.conf", "system:kube-controller-manager", "system:kube-controller-manager"},
			{"scheduler.conf", "system:kube-scheduler", "system:kube-scheduler"},
			{"kubelet.conf", "system:node:devk", "system:node:devk"},
			{"kube-proxy.conf", "system:kube-proxy", "system:kube-proxy"},
		}
		for _, tt := range tests {
			f, ok := byPath["/etc/kubernetes/"+tt.file]
			if !ok {
				t.Errorf("%s missing", tt.file)
				continue
			}
			if f.Mode != 0o600 {
				t.Errorf("%s mode = %o, want 600", tt.file, f.Mode)
			}
			cfg, err := clientcmd.Load(f.Data)
			if err != nil {
				t.Errorf("%s does not load: %v", tt.file, err)
				continue
			}
			ctx := cfg.Contexts[cfg.CurrentContext]
			if ctx == nil || ctx.AuthInfo != tt.user || cfg.Clusters[ctx.Cluster] == nil {
				t.Errorf("%s: current context %q does not name user %s and a cluster", tt.file, cfg.CurrentContext, tt.user)
				continue
			}
			if s := cfg.Clusters[ctx.Cluster].Server; s != "https://127.0.0.1:8443" {
				t.Errorf("%s server = %s", tt.file, s)
			}
			if !bytes.Equal(cfg.Clusters[ctx.Cluster].CertificateAuthorityData, pki.CA.CertPEM) {
				t.Errorf("%s does not embed the cluster CA", tt.file)
			}
			user := cfg.AuthInfos[tt.user]
			pair, err := tls.X509KeyPair(user.ClientCertificateData, user.ClientKeyData)
			if err != nil {
				t.Errorf("%s client credentials: %v", tt.file, err)
				continue
			}
			if pair.Leaf.Subject.CommonName != tt.cn {
				t.Errorf("%s client certificate CN = %s, want %s", tt.file, pair.Leaf.Subject.CommonName, tt.cn)
			}
		}
	})

	t.Run("key pairs match", func(t *testing.T) {
		pairs := map[string]string{"/etc/docker/certs/server-cert.pem": "/etc/docker/certs/server-key.pem"}
		for _, f := range files {
			if strings.HasPrefix(f.Path, p.PKIDir+"/") && strings.HasSuffix(f.Path, ".crt") {
				pairs[f.Path] = strings.TrimSuffix(f.Path, ".crt") + ".key"
			}
		}
		for crt, key := range pairs {
			if path.Base(crt) == "front-proxy-ca.crt" {
				continue // only the certificate goes to the node
			}
			if _, err := tls.X509KeyPair(byPath[crt].Data, byPath[key].Data); err != nil {
				t.Errorf("%s / %s: %v", crt, key, err)
			}
		}
	})

	// Every certificate, key and kubeconfig a unit or config names must be written.
	t.Run("referenced files exist", func(t *testing.T) {
		ref := regexp.MustCompile(`/etc/(?:kubernetes|docker/certs)/[A-Za-z0-9._/-]+`)
		notFiles := map[string]bool{"/etc/kubernetes/manifests": true} // staticPodPath, a directory
		for _, tf := range templateFiles {
			for _, m := range ref.FindAllString(string(byPath[tf.path].Data), -1) {
				if _, ok := byPath[m]; !ok && !notFiles[m] {
					t.Errorf("%s references %s, which NodeFiles does not write", tf.tmpl, m)
				}
			}
		}
	})
}

func TestProxyModeFor(t *testing.T) {
	for _, tc := range []struct{ version, want string }{
		{"v1.30.14", "iptables"},
		{"v1.31.0", "nftables"},
		{"v1.34.4", "nftables"},
		{"v1.35.4", "nftables"},
		{"", "nftables"},
	} {
		if got := ProxyModeFor(tc.version); got != tc.want {
			t.Errorf("ProxyModeFor(%q) = %q, want %q", tc.version, got, tc.want)
		}
	}
}
