package cluster

import (
	"bytes"
	"embed"
	"fmt"
	"net"
	"sort"
	"strings"
	"text/template"

	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/devk-dev/devk/iso"
)

// Network layout of every devk cluster.
const (
	ServiceCIDR = "10.96.0.0/12"
	PodCIDR     = "10.244.0.0/16"
	NodePodCIDR = "10.244.0.0/24"
	// APIServerPort and DockerPort are the ports inside the node; the host reaches them
	// through ports published on 127.0.0.1.
	APIServerPort = 8443
	DockerPort    = 2376
	PKIDir        = "/etc/kubernetes/pki"
)

// ServiceIP returns the n-th address of a CIDR (1 is the kubernetes Service).
func ServiceIP(cidr string, n int) string {
	_, ipnet, err := net.ParseCIDR(cidr)
	if err != nil {
		panic(err)
	}
	ip := ipnet.IP.To4()
	out := net.IPv4(ip[0], ip[1], ip[2], ip[3]+byte(n))
	return out.String()
}

// DNSIP is the cluster DNS Service address.
var DNSIP = ServiceIP(ServiceCIDR, 10)

//go:embed templates
var templates embed.FS

// NodeParams are the values the node's configuration is rendered from.
type NodeParams struct {
	NodeName      string
	NodeIP        string
	APIServerPort int
	DockerPort    int
	PKIDir        string
	ServiceCIDR   string
	PodCIDR       string
	NodePodCIDR   string
	DNSIP         string
	CgroupRoot    string
	CoreDNSImage  string
	// LBRange is the LoadBalancer addresses the node answers for ("" gives Services the
	// node's address).
	LBRange string
	// ProxyMode is kube-proxy's mode (see ProxyModeFor).
	ProxyMode string
	// Registries is how the node reaches registries (image cache, mirrors, insecure).
	Registries RegistryConfig
	// DockerRegistryArgs are dockerd's flags for the same (filled in by NodeFiles).
	DockerRegistryArgs string
	// Proxy is the proxy settings as the node uses them (zero: none).
	Proxy ProxyEnv
}

// ProxyModeFor is kube-proxy's mode for a Kubernetes version: nftables where it is on by
// default (v1.31 and later), iptables before. nftables rejects a packet to a ClusterIP
// port no Service has, as the conformance suite expects; in iptables mode such a packet
// leaves the node and whatever answers outside (a proxy on the network) answers it.
func ProxyModeFor(kubernetesVersion string) string {
	var minor int
	if _, err := fmt.Sscanf(kubernetesVersion, "v1.%d.", &minor); err == nil && minor < 31 {
		return "iptables"
	}
	return "nftables"
}

// NewNodeParams fills in the fixed layout for a node.
func NewNodeParams(nodeName, nodeIP string) NodeParams {
	return NodeParams{
		NodeName: nodeName, NodeIP: nodeIP, APIServerPort: APIServerPort, DockerPort: DockerPort,
		PKIDir: PKIDir, ServiceCIDR: ServiceCIDR, PodCIDR: PodCIDR, NodePodCIDR: NodePodCIDR,
		DNSIP: DNSIP, CgroupRoot: "/devk-" + nodeName, CoreDNSImage: iso.CoreDNSImage,
		ProxyMode: ProxyModeFor(iso.DefaultKubernetesVersion),
	}
}

// NodeFile is a file devk writes into the node, or a symbolic link to Link.
type NodeFile struct {
	Path string
	Mode int64
	Data []byte
	Link string
}

// CoreDNSManifest is where the node keeps the CoreDNS manifest start applies.
const CoreDNSManifest = "/etc/kubernetes/addons/coredns.yaml"

// Units are the systemd units devk starts, in start order.
var Units = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "devk-lb", "docker.socket"}

// templateFiles maps a template to its path in the node.
var templateFiles = []struct{ tmpl, path string }{
	{"etcd.service", "/etc/systemd/system/etcd.service"},
	{"kube-apiserver.service", "/etc/systemd/system/kube-apiserver.service"},
	{"kube-controller-manager.service", "/etc/systemd/system/kube-controller-manager.service"},
	{"kube-scheduler.service", "/etc/systemd/system/kube-scheduler.service"},
	{"kubelet.service", "/etc/systemd/system/kubelet.service"},
	{"kube-proxy.service", "/etc/systemd/system/kube-proxy.service"},
	{"devk-lb.service", "/etc/systemd/system/devk-lb.service"},
	{"docker.conf", "/etc/systemd/system/docker.service.d/devk.conf"},
	{"docker.socket.conf", "/etc/systemd/system/docker.socket.d/devk.conf"},
	{"kubelet-config.yaml", "/etc/kubernetes/kubelet-config.yaml"},
	{"kube-proxy-config.yaml", "/etc/kubernetes/kube-proxy-config.yaml"},
	{"cni.conflist", "/etc/cni/net.d/10-devk.conflist"},
	{"coredns.yaml", CoreDNSManifest},
}

// Render renders a template with missing keys as errors.
func Render(name string, data any) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").ParseFS(templates, "templates/"+name)
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return buf.Bytes(), nil
}

// NodeFiles is every file the control plane and node components need: configuration,
// units, certificates and component kubeconfigs.
func NodeFiles(p NodeParams, pki *PKI) ([]NodeFile, error) {
	var files []NodeFile
	p.DockerRegistryArgs = dockerRegistryArgs(p.Registries)
	for _, tf := range templateFiles {
		data, err := Render(tf.tmpl, p)
		if err != nil {
			return nil, err
		}
		files = append(files, NodeFile{Path: tf.path, Mode: 0o644, Data: data})
	}
	pkiFile := func(name string, data []byte, mode int64) {
		files = append(files, NodeFile{Path: p.PKIDir + "/" + name, Mode: mode, Data: data})
	}
	pkiFile("ca.crt", pki.CA.CertPEM, 0o644)
	pkiFile("ca.key", pki.CA.KeyPEM, 0o600)
	pkiFile("front-proxy-ca.crt", pki.FrontProxyCA.CertPEM, 0o644)
	pkiFile("sa.key", pki.ServiceAccountKeyPEM, 0o600)
	pkiFile("sa.pub", pki.ServiceAccountPubPEM, 0o644)
	for _, name := range []string{CertAPIServer, CertAPIServerKubelet, CertFrontProxyClient, CertKubeletServer} {
		pkiFile(name+".crt", pki.Leaves[name].CertPEM, 0o644)
		pkiFile(name+".key", pki.Leaves[name].KeyPEM, 0o600)
	}
	docker := pki.Leaves[CertDockerServer]
	files = append(files,
		NodeFile{Path: "/etc/docker/certs/ca.pem", Mode: 0o644, Data: pki.CA.CertPEM},
		NodeFile{Path: "/etc/docker/certs/server-cert.pem", Mode: 0o644, Data: docker.CertPEM},
		NodeFile{Path: "/etc/docker/certs/server-key.pem", Mode: 0o600, Data: docker.KeyPEM},
	)
	files = append(files, unitLinks()...)
	for _, h := range p.Registries.Hosts() {
		files = append(files, NodeFile{Path: RegistriesDir + "/" + h.Host + "/hosts.toml", Mode: 0o644, Data: h.HostsTOML()})
	}
	for _, unit := range proxyUnits() {
		// 0600: a proxy URL can hold a password.
		files = append(files, NodeFile{Path: proxyDropInPath(unit), Mode: 0o600, Data: proxyDropIn(p.Proxy)})
	}
	files = append(files, NodeFile{Path: iso.ContainerdConfigPath, Mode: 0o644, Data: iso.ContainerdConfig()})
	server := fmt.Sprintf("https://127.0.0.1:%d", p.APIServerPort)
	for _, kc := range []struct{ file, cert, user string }{
		{"admin.conf", CertAdmin, "devk-admin"},
		{"controller-manager.conf", CertControllerMgr, "system:kube-controller-manager"},
		{"scheduler.conf", CertScheduler, "system:kube-scheduler"},
		{"kubelet.conf", CertKubelet, "system:node:" + p.NodeName},
		{"kube-proxy.conf", CertProxy, "system:kube-proxy"},
	} {
		data, err := clientcmd.Write(*Kubeconfig("devk", kc.user, server, pki.CA.CertPEM, pki.Leaves[kc.cert]))
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", kc.file, err)
		}
		files = append(files, NodeFile{Path: "/etc/kubernetes/" + kc.file, Mode: 0o600, Data: data})
	}
	return files, nil
}

// dockerRegistryArgs are dockerd's flags for the node's registries: Docker Hub mirrors
// (the cache's first) and the registries it may reach without TLS (the cache's too).
func dockerRegistryArgs(c RegistryConfig) string {
	var args []string
	if u, ok := c.Cache[DockerHub]; ok {
		args = append(args, "--registry-mirror="+u)
	}
	for _, m := range c.Mirrors {
		args = append(args, "--registry-mirror="+m)
	}
	var insecure []string
	for _, u := range c.Cache {
		insecure = append(insecure, strings.TrimPrefix(u, "http://"))
	}
	sort.Strings(insecure)
	for _, h := range append(insecure, c.Insecure...) {
		args = append(args, "--insecure-registry="+h)
	}
	return strings.Join(args, " ")
}

// unitLinks enable Units the way `systemctl enable` would link them (the units say
// WantedBy= these targets). Written with the files instead of running systemctl
// enable, which costs most of a second: etcd has a SysV script to synchronize.
func unitLinks() []NodeFile {
	var links []NodeFile
	for _, unit := range Units {
		name, target := unit+".service", "multi-user.target"
		if strings.HasSuffix(unit, ".socket") {
			name, target = unit, "sockets.target"
		}
		dest := "/lib/systemd/system/" + name // the package's own unit
		for _, tf := range templateFiles {
			if tf.path == "/etc/systemd/system/"+name {
				dest = tf.path
			}
		}
		links = append(links, NodeFile{Path: "/etc/systemd/system/" + target + ".wants/" + name, Mode: 0o777, Link: dest})
	}
	return links
}

// Kubeconfig is a single-context kubeconfig with embedded certificates.
func Kubeconfig(name, user, server string, caPEM []byte, kp *KeyPair) *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: kp.CertPEM, ClientKeyData: kp.KeyPEM}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: user}
	cfg.CurrentContext = name
	return cfg
}
