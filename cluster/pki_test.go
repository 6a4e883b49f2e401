package cluster

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const testNodeIP = "192.168.49.2"

func newTestPKI(t *testing.T, dir, nodeName, nodeIP string) *PKI {
	t.Helper()
	p, err := LoadOrCreatePKI(dir, nodeName, nodeIP)
	if err != nil {
		t.Fatalf("LoadOrCreatePKI: %v", err)
	}
	return p
}

func certPool(kp *KeyPair) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(kp.Cert)
	return pool
}

func TestPKILeavesVerify(t *testing.T) {
	p := newTestPKI(t, t.TempDir(), "devk", testNodeIP)
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tests := []struct {
		name       string
		frontProxy bool // signed by the front-proxy CA rather than the cluster CA
		usage      []x509.ExtKeyUsage
		cn         string
		org        []string
	}{
		{CertAPIServer, false, server, "kube-apiserver", nil},
		{CertAPIServerKubelet, false, client, "kube-apiserver-kubelet-client", []string{"system:masters"}},
		{CertAdmin, false, client, "devk-admin", []string{"system:masters"}},
		{CertControllerMgr, false, client, "system:kube-controller-manager", nil},
		{CertScheduler, false, client, "system:kube-scheduler", nil},
		{CertProxy, false, client, "system:kube-proxy", nil},
		{CertKubelet, false, client, "system:node:devk", []string{"system:nodes"}},
		{CertKubeletServer, false, server, "devk", nil},
		{CertDockerServer, false, server, "devk-dockerd", nil},
		{CertDockerClient, false, client, "devk-docker-client", nil},
		{CertFrontProxyClient, true, client, "front-proxy-client", nil},
	}
	if got, want := len(p.Leaves), len(tests); got != want {
		t.Errorf("PKI has %d leaves, the table %d: keep them in step", got, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp := p.Leaves[tt.name]
			if kp == nil {
				t.Fatalf("no leaf %s", tt.name)
			}
			signer, other := p.CA, p.FrontProxyCA
			if tt.frontProxy {
				signer, other = p.FrontProxyCA, p.CA
			}
			if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: certPool(signer), KeyUsages: tt.usage}); err != nil {
				t.Errorf("does not verify against its CA for %v: %v", tt.usage, err)
			}
			if _, err := kp.Cert.Verify(x509.VerifyOptions{Roots: certPool(other), KeyUsages: tt.usage}); err == nil {
				t.Errorf("verifies against the wrong CA")
			}
			if !slices.Equal(kp.Cert.ExtKeyUsage, tt.usage) {
				t.Errorf("ExtKeyUsage = %v, want exactly %v", kp.Cert.ExtKeyUsage, tt.usage)
			}
			if kp.Cert.IsCA {
				t.Errorf("leaf is a CA")
			}
			if kp.Cert.Subject.CommonName != tt.cn {
				t.Errorf("CN = %q, want %q", kp.Cert.Subject.CommonName, tt.cn)
			}
			if !slices.Equal(kp.Cert.Subject.Organization, tt.org) {
				t.Errorf("O = %q, want %q", kp.Cert.Subject.Organization, tt.org)
			}
			pub, ok := kp.Key.Public().(*ecdsa.PublicKey)
			if !ok || !pub.Equal(kp.Cert.PublicKey) {
				t.Errorf("private key does not match the certificate")
			}
		})
	}
	for name, ca := range map[string]*KeyPair{"ca": p.CA, "front-proxy-ca": p.FrontProxyCA} {
		if !ca.Cert.IsCA || ca.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			t.Errorf("%s is not a signing CA", name)
		}
	}
	if bytes.Equal(p.CA.CertPEM, p.FrontProxyCA.CertPEM) {
		t.Errorf("the front-proxy CA is the cluster CA")
	}
}

func TestPKIServerNames(t *testing.T) {
	p := newTestPKI(t, t.TempDir(), "devk", testNodeIP)
	tests := []struct {
		leaf  string
		names []string
		not   []string
	}{
		{CertAPIServer, []string{"127.0.0.1", "10.96.0.1", testNodeIP, "localhost", "devk", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "control-plane.devk.internal"}, []string{"192.168.49.3", "example.com"}},
		{CertKubeletServer, []string{"127.0.0.1", testNodeIP, "localhost", "devk"}, []string{"10.96.0.1", "kubernetes"}},
		{CertDockerServer, []string{"127.0.0.1", testNodeIP, "localhost", "devk"}, []string{"10.96.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.leaf, func(t *testing.T) {
			c := p.Leaves[tt.leaf].Cert
			for _, n := range tt.names {
				if err := c.VerifyHostname(n); err != nil {
					t.Errorf("not valid for %s: %v", n, err)
				}
			}
			for _, n := range tt.not {
				if err := c.VerifyHostname(n); err == nil {
					t.Errorf("unexpectedly valid for %s", n)
				}
			}
		})
	}
	ips := p.Leaves[CertAPIServer].Cert.IPAddresses
	for _, want := range []string{"127.0.0.1", "10.96.0.1", testNodeIP} {
		if !slices.ContainsFunc(ips, func(ip net.IP) bool { return ip.Equal(net.ParseIP(want)) }) {
			t.Errorf("apiserver IP SANs %v lack %s", ips, want)
		}
	}
}

func TestPKIFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	newTestPKI(t, dir, "devk", testNodeIP)
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("PKI dir mode = %o, want 700", st.Mode().Perm())
	}
	var keys, certs int
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		name := d.Name()
		want := os.FileMode(0o644)
		switch {
		case strings.HasSuffix(name, ".key"):
			want = 0o600
			keys++
		case strings.HasSuffix(name, ".crt"), name == "sa.pub":
			certs++
		default:
			t.Errorf("unexpected file %s (a leftover temporary file?)", name)
		}
		if info.Mode().Perm() != want {
			t.Errorf("%s mode = %o, want %o", name, info.Mode().Perm(), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 2 CAs + 11 leaves, each a .crt and a .key, plus sa.key and sa.pub.
	if keys != 14 || certs != 14 {
		t.Errorf("found %d keys and %d certificates/public keys, want 14 and 14", keys, certs)
	}
}

func leafPEMs(p *PKI) map[string]string {
	m := map[string]string{"ca": string(p.CA.CertPEM), "front-proxy-ca": string(p.FrontProxyCA.CertPEM), "sa.key": string(p.ServiceAccountKeyPEM), "sa.pub": string(p.ServiceAccountPubPEM)}
	for name, kp := range p.Leaves {
		m[name] = string(kp.CertPEM) + string(kp.KeyPEM)
	}
	return m
}

func TestPKIReloadKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	first := leafPEMs(newTestPKI(t, dir, "devk", testNodeIP))
	second := leafPEMs(newTestPKI(t, dir, "devk", testNodeIP))
	for name, pem := range first {
		if second[name] != pem {
			t.Errorf("%s was reissued on a plain reload", name)
		}
	}
}

func TestPKIReissue(t *testing.T) {
	ipBearing := []string{CertAPIServer, CertKubeletServer, CertDockerServer}
	nameBearing := []string{CertAPIServer, CertKubelet, CertKubeletServer, CertDockerServer}
	allLeaves := []string{CertAPIServer, CertAPIServerKubelet, CertAdmin, CertControllerMgr, CertScheduler, CertProxy,
		CertKubelet, CertKubeletServer, CertDockerServer, CertDockerClient, CertFrontProxyClient}
	tests := []struct {
		name             string
		change           func(t *testing.T, dir string)
		nodeName, nodeIP string
		reissued         []string // leaves that must change; every other one must stay
		newCA            bool
	}{
		{name: "new node IP", nodeName: "devk", nodeIP: "192.168.49.3", reissued: ipBearing},
		{name: "no node IP", nodeName: "devk", nodeIP: "", reissued: ipBearing},
		{name: "new node name", nodeName: "devk2", nodeIP: testNodeIP, reissued: nameBearing},
		{name: "leaf deleted", nodeName: "devk", nodeIP: testNodeIP, reissued: []string{CertAdmin},
			change: func(t *testing.T, dir string) { mustRemove(t, filepath.Join(dir, "admin.crt")) }},
		{name: "leaf corrupt", nodeName: "devk", nodeIP: testNodeIP, reissued: []string{CertScheduler},
			change: func(t *testing.T, dir string) { mustWrite(t, filepath.Join(dir, "scheduler.crt"), "garbage") }},
		{name: "leaf about to expire", nodeName: "devk", nodeIP: testNodeIP, reissued: []string{CertProxy},
			change: func(t *testing.T, dir string) { writeShortLivedLeaf(t, dir, CertProxy, "system:kube-proxy") }},
		{name: "CA deleted", nodeName: "devk", nodeIP: testNodeIP, reissued: allLeaves[:len(allLeaves)-1], newCA: true,
			change: func(t *testing.T, dir string) { mustRemove(t, filepath.Join(dir, "ca.key")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			before := newTestPKI(t, dir, "devk", testNodeIP)
			if tt.change != nil {
				tt.change(t, dir)
			}
			after := newTestPKI(t, dir, tt.nodeName, tt.nodeIP)
			if sameCA := bytes.Equal(before.CA.CertPEM, after.CA.CertPEM); sameCA == tt.newCA {
				t.Errorf("CA kept = %v, want %v", sameCA, !tt.newCA)
			}
			if !bytes.Equal(before.FrontProxyCA.CertPEM, after.FrontProxyCA.CertPEM) {
				t.Errorf("front-proxy CA was reissued")
			}
			if !bytes.Equal(before.ServiceAccountKeyPEM, after.ServiceAccountKeyPEM) {
				t.Errorf("service account key was regenerated")
			}
			for _, name := range allLeaves {
				changed := !bytes.Equal(before.Leaves[name].CertPEM, after.Leaves[name].CertPEM)
				if want := slices.Contains(tt.reissued, name); changed != want {
					t.Errorf("%s reissued = %v, want %v", name, changed, want)
				}
				if err := after.Leaves[name].Cert.CheckSignatureFrom(after.CA.Cert); err != nil && name != CertFrontProxyClient {
					t.Errorf("%s is not signed by the current CA: %v", name, err)
				}
			}
			// What is on disk is what was returned.
			reloaded := leafPEMs(newTestPKI(t, dir, tt.nodeName, tt.nodeIP))
			for name, pem := range leafPEMs(after) {
				if reloaded[name] != pem {
					t.Errorf("%s on disk differs from the returned PKI", name)
				}
			}
			if tt.nodeIP != "" {
				if err := after.Leaves[CertAPIServer].Cert.VerifyHostname(tt.nodeIP); err != nil {
					t.Errorf("apiserver certificate not valid for the node IP: %v", err)
				}
			}
			if tt.nodeIP != testNodeIP {
				if err := after.Leaves[CertAPIServer].Cert.VerifyHostname(testNodeIP); err == nil {
					t.Errorf("apiserver certificate still valid for the old node IP")
				}
			}
		})
	}
}

func TestPKICorruptCAIsAnError(t *testing.T) {
	dir := t.TempDir()
	before := newTestPKI(t, dir, "devk", testNodeIP)
	mustWrite(t, filepath.Join(dir, "ca.crt"), "not a certificate")
	if _, err := LoadOrCreatePKI(dir, "devk", testNodeIP); err == nil {
		t.Fatal("a corrupt CA was silently replaced; every issued credential would stop working")
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "ca.key")); !bytes.Equal(data, before.CA.KeyPEM) {
		t.Errorf("the CA key was overwritten")
	}
}

func mustRemove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

func mustWrite(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeShortLivedLeaf replaces a leaf with one that has the right names but expires in a week.
func writeShortLivedLeaf(t *testing.T, dir, name, cn string) {
	t.Helper()
	ca, err := loadKeyPair(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	key, err := newKey()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serialOrFail(t),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := newKeyPair(der, key)
	if err != nil {
		t.Fatal(err)
	}
	if err := saveKeyPair(dir, name, kp); err != nil {
		t.Fatal(err)
	}
}

func serialOrFail(t *testing.T) *big.Int {
	t.Helper()
	s, err := serial()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLoadPKINeverWrites: read-only commands load certificates but never issue them.
func TestLoadPKINeverWrites(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadPKI(dir); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("LoadPKI of an empty dir: %v, want ErrNotRunning", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("LoadPKI wrote %d files", len(entries))
	}
	created, err := LoadOrCreatePKI(dir, "devk", "192.168.49.2")
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.CA.Cert.Equal(created.CA.Cert) || !loaded.Leaves[CertAdmin].Cert.Equal(created.Leaves[CertAdmin].Cert) {
		t.Error("LoadPKI returned other certificates than the ones on disk")
	}
}

// TestRestorePKI: a profile whose certificates were deleted or damaged gets the node's CA
// and service-account keys back (so every token stays valid) and new leaves from them.
func TestRestorePKI(t *testing.T) {
	node := t.TempDir()
	orig, err := LoadOrCreatePKI(node, "devk", "192.168.49.2")
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(node, name)) }
	tests := []struct {
		name   string
		damage func(dir string) error
	}{
		{"folder deleted", os.RemoveAll},
		{"corrupt CA key", func(dir string) error { return os.WriteFile(filepath.Join(dir, "ca.key"), []byte("garbage"), 0o600) }},
		{"corrupt front-proxy CA and a leaf", func(dir string) error {
			if err := os.WriteFile(filepath.Join(dir, "front-proxy-ca.crt"), []byte("x"), 0o644); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, CertAdmin+".key"), []byte("x"), 0o600)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "certs")
			if _, err := LoadOrCreatePKI(dir, "devk", "192.168.49.2"); err != nil {
				t.Fatal(err)
			}
			if err := tt.damage(dir); err != nil {
				t.Fatal(err)
			}
			if CheckPKI(dir) == nil {
				t.Fatal("CheckPKI found nothing wrong")
			}
			if err := restorePKI(dir, fetch); err != nil {
				t.Fatal(err)
			}
			got, err := LoadOrCreatePKI(dir, "devk", "192.168.49.2")
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckPKI(dir); err != nil {
				t.Errorf("after restore: %v", err)
			}
			if !bytes.Equal(got.CA.CertPEM, orig.CA.CertPEM) || !bytes.Equal(got.ServiceAccountKeyPEM, orig.ServiceAccountKeyPEM) {
				t.Error("the restored CA or service-account key is not the node's")
			}
			if err := got.Leaves[CertAdmin].Cert.CheckSignatureFrom(orig.CA.Cert); err != nil {
				t.Errorf("admin certificate not signed by the cluster CA: %v", err)
			}
			if st, _ := os.Stat(filepath.Join(dir, "ca.key")); st == nil || st.Mode().Perm() != 0o600 {
				t.Errorf("ca.key mode: %v", st)
			}
		})
	}
	if err := restorePKI(filepath.Join(t.TempDir(), "c"), func(string) ([]byte, error) { return nil, os.ErrNotExist }); err == nil {
		t.Error("restore without the node's copy must fail")
	}
}
