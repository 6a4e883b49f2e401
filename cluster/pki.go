package cluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// KeyPair is a certificate with its private key, PEM-encoded as written to disk.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// CertSpec describes a leaf certificate.
type CertSpec struct {
	Name         string // file stem
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []net.IP
	Server       bool
	Client       bool
}

// PKI is every credential of a cluster. Files live under Dir with keys at mode 0600.
type PKI struct {
	Dir          string
	CA           *KeyPair
	FrontProxyCA *KeyPair
	Leaves       map[string]*KeyPair
	// ServiceAccountKey signs service account tokens; ServiceAccountPub verifies them.
	ServiceAccountKeyPEM []byte
	ServiceAccountPubPEM []byte
}

const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 5 * 365 * 24 * time.Hour
)

// Leaf certificate names.
const (
	CertAPIServer        = "apiserver"
	CertAPIServerKubelet = "apiserver-kubelet-client"
	CertFrontProxyClient = "front-proxy-client"
	CertAdmin            = "admin"
	CertControllerMgr    = "controller-manager"
	CertScheduler        = "scheduler"
	CertProxy            = "kube-proxy"
	CertKubelet          = "kubelet"
	CertKubeletServer    = "kubelet-server"
	CertDockerServer     = "docker-server"
	CertDockerClient     = "docker-client"
)

// CertSpecs lists the leaf certificates of a node, signed by the cluster CA except the
// front-proxy client. kubeadm's set, plus the node's dockerd server and client.
func CertSpecs(nodeName, nodeIP string) []CertSpec {
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(ServiceIP(ServiceCIDR, 1))}
	if ip := net.ParseIP(nodeIP); ip != nil {
		ips = append(ips, ip)
	}
	nodeIPs := []net.IP{net.ParseIP("127.0.0.1")}
	if ip := net.ParseIP(nodeIP); ip != nil {
		nodeIPs = append(nodeIPs, ip)
	}
	return []CertSpec{
		{Name: CertAPIServer, CommonName: "kube-apiserver", Server: true, IPs: ips, DNSNames: []string{
			"localhost", nodeName, "control-plane.devk.internal", "kubernetes", "kubernetes.default",
			"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		{Name: CertAPIServerKubelet, CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}, Client: true},
		{Name: CertAdmin, CommonName: "devk-admin", Organization: []string{"system:masters"}, Client: true},
		{Name: CertControllerMgr, CommonName: "system:kube-controller-manager", Client: true},
		{Name: CertScheduler, CommonName: "system:kube-scheduler", Client: true},
		{Name: CertProxy, CommonName: "system:kube-proxy", Client: true},
		{Name: CertKubelet, CommonName: "system:node:" + nodeName, Organization: []string{"system:nodes"}, Client: true},
		{Name: CertKubeletServer, CommonName: nodeName, Server: true, IPs: nodeIPs, DNSNames: []string{"localhost", nodeName}},
		{Name: CertDockerServer, CommonName: "devk-dockerd", Server: true, IPs: nodeIPs, DNSNames: []string{"localhost", nodeName}},
		{Name: CertDockerClient, CommonName: "devk-docker-client", Client: true},
	}
}

// LoadOrCreatePKI reads the PKI in dir, creating whatever is missing, and re-issues leaf
// certificates whose names no longer match (for example a new node IP).
func LoadOrCreatePKI(dir, nodeName, nodeIP string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create PKI dir: %w", err)
	}
	p := &PKI{Dir: dir, Leaves: map[string]*KeyPair{}}
	var err error
	if p.CA, err = loadOrCreateCA(dir, "ca", "devk-ca"); err != nil {
		return nil, err
	}
	if p.FrontProxyCA, err = loadOrCreateCA(dir, "front-proxy-ca", "devk-front-proxy-ca"); err != nil {
		return nil, err
	}
	specs := append(CertSpecs(nodeName, nodeIP), CertSpec{Name: CertFrontProxyClient, CommonName: "front-proxy-client", Client: true})
	for _, spec := range specs {
		ca := p.CA
		if spec.Name == CertFrontProxyClient {
			ca = p.FrontProxyCA
		}
		kp, err := loadKeyPair(dir, spec.Name)
		if err != nil || !matches(kp.Cert, spec, ca) {
			if kp, err = issue(ca, spec); err != nil {
				return nil, fmt.Errorf("issue %s certificate: %w", spec.Name, err)
			}
			if err := saveKeyPair(dir, spec.Name, kp); err != nil {
				return nil, err
			}
		}
		p.Leaves[spec.Name] = kp
	}
	if p.ServiceAccountKeyPEM, p.ServiceAccountPubPEM, err = loadOrCreateSAKey(dir); err != nil {
		return nil, err
	}
	return p, nil
}

// LoadPKI reads a profile's existing PKI and never writes: read-only commands (status,
// docker-env, service, ...) must not issue certificates behind `devk start`'s back.
func LoadPKI(dir string) (*PKI, error) {
	missing := func(err error) error {
		return fmt.Errorf("%w: the cluster's certificates in %s are missing or unreadable (%v); run `devk start` to recreate them", ErrNotRunning, dir, err)
	}
	p := &PKI{Dir: dir, Leaves: map[string]*KeyPair{}}
	var err error
	if p.CA, err = loadKeyPair(dir, "ca"); err != nil {
		return nil, missing(err)
	}
	if p.FrontProxyCA, err = loadKeyPair(dir, "front-proxy-ca"); err != nil {
		return nil, missing(err)
	}
	for _, spec := range append(CertSpecs("", ""), CertSpec{Name: CertFrontProxyClient}) {
		if p.Leaves[spec.Name], err = loadKeyPair(dir, spec.Name); err != nil {
			return nil, missing(err)
		}
	}
	if p.ServiceAccountKeyPEM, err = os.ReadFile(filepath.Join(dir, "sa.key")); err != nil {
		return nil, missing(err)
	}
	if p.ServiceAccountPubPEM, err = os.ReadFile(filepath.Join(dir, "sa.pub")); err != nil {
		return nil, missing(err)
	}
	return p, nil
}

func matches(c *x509.Certificate, spec CertSpec, ca *KeyPair) bool {
	if c.Subject.CommonName != spec.CommonName || c.CheckSignatureFrom(ca.Cert) != nil || time.Until(c.NotAfter) < 30*24*time.Hour {
		return false
	}
	if !slices.Equal(c.Subject.Organization, spec.Organization) || !slices.Equal(c.DNSNames, spec.DNSNames) || len(c.IPAddresses) != len(spec.IPs) {
		return false
	}
	for i := range spec.IPs {
		if !c.IPAddresses[i].Equal(spec.IPs[i]) {
			return false
		}
	}
	return true
}

func newKey() (*ecdsa.PrivateKey, error) {
	// P-256 keys are generated in microseconds; RSA keys would add about a second to a cold start.
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func serial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
}

func loadOrCreateCA(dir, name, cn string) (*KeyPair, error) {
	if kp, err := loadKeyPair(dir, name); err == nil {
		return kp, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"devk"}},
		NotBefore:             now,
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	kp, err := newKeyPair(der, key)
	if err != nil {
		return nil, err
	}
	return kp, saveKeyPair(dir, name, kp)
}

func issue(ca *KeyPair, spec CertSpec) (*KeyPair, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	sn, err := serial()
	if err != nil {
		return nil, err
	}
	now := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: spec.CommonName, Organization: spec.Organization},
		NotBefore:    now,
		NotAfter:     now.Add(leafValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPs,
	}
	if spec.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if spec.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	return newKeyPair(der, key)
}

func newKeyPair(der []byte, key *ecdsa.PrivateKey) (*KeyPair, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func saveKeyPair(dir, name string, kp *KeyPair) error {
	if err := WriteFileAtomic(filepath.Join(dir, name+".key"), kp.KeyPEM, 0o600); err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(dir, name+".crt"), kp.CertPEM, 0o644)
}

func loadKeyPair(dir, name string) (*KeyPair, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%s: not PEM", name)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s.crt: %w", name, err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s.key: %w", name, err)
	}
	return &KeyPair{Cert: cert, Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

func loadOrCreateSAKey(dir string) (keyPEM, pubPEM []byte, err error) {
	keyPath, pubPath := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	keyPEM, err1 := os.ReadFile(keyPath)
	pubPEM, err2 := os.ReadFile(pubPath)
	if err1 == nil && err2 == nil {
		return keyPEM, pubPEM, nil
	}
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, err
	}
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	if err := WriteFileAtomic(keyPath, keyPEM, 0o600); err != nil {
		return nil, nil, err
	}
	return keyPEM, pubPEM, WriteFileAtomic(pubPath, pubPEM, 0o644)
}

// nodeKeptPKI are the credentials the node keeps a copy of (in PKIDir), from which a
// profile whose certificates were lost or damaged is restored: the cluster CA and the
// service-account key pair, on which every in-cluster client and token depends. Every
// other credential is re-issued from them.
var nodeKeptPKI = []struct {
	name string
	mode os.FileMode
}{{"ca.crt", 0o644}, {"ca.key", 0o600}, {"sa.key", 0o600}, {"sa.pub", 0o644}}

// CheckPKI says why the PKI in dir cannot be used as it is; nil means it can.
func CheckPKI(dir string) error {
	for _, ca := range []string{"ca", "front-proxy-ca"} {
		if _, err := loadKeyPair(dir, ca); err != nil {
			return err
		}
	}
	for _, f := range []string{"sa.key", "sa.pub"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return err
		}
		if b, _ := pem.Decode(data); b == nil {
			return fmt.Errorf("%s: not PEM", f)
		}
	}
	return nil
}

// restorePKI puts the node's copy of the CA and service-account keys back into dir and
// removes what is still unusable there, for LoadOrCreatePKI to issue anew (the front-proxy
// CA, whose key the node does not keep, and any leaf). fetch reads a file of the node's
// PKIDir.
func restorePKI(dir string, fetch func(name string) ([]byte, error)) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, f := range nodeKeptPKI {
		data, err := fetch(f.name)
		if err != nil {
			return err
		}
		if b, _ := pem.Decode(data); b == nil {
			return fmt.Errorf("the node's %s is not PEM", f.name)
		}
		if err := WriteFileAtomic(filepath.Join(dir, f.name), data, f.mode); err != nil {
			return err
		}
	}
	if _, err := loadKeyPair(dir, "ca"); err != nil {
		return fmt.Errorf("the node's CA: %w", err)
	}
	names := []string{"front-proxy-ca", CertFrontProxyClient}
	for _, spec := range CertSpecs("", "") {
		names = append(names, spec.Name)
	}
	for _, name := range names {
		if _, err := loadKeyPair(dir, name); err != nil {
			for _, ext := range []string{".crt", ".key"} {
				if err := os.Remove(filepath.Join(dir, name+ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
		}
	}
	return nil
}
