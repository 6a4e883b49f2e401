package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/devk-dev/devk/driver"
)

// DockerEnv is how a host docker client reaches the node's dockerd: TCP on 127.0.0.1
// with mutual TLS, using client certificates from the profile's CA.
type DockerEnv struct {
	Profile   string `json:"profile"`
	Host      string `json:"DOCKER_HOST"`
	TLSVerify string `json:"DOCKER_TLS_VERIFY"`
	CertPath  string `json:"DOCKER_CERT_PATH"`
}

// DockerEnv writes the client certificates where the docker CLI looks for them
// (ca.pem, cert.pem, key.pem in DOCKER_CERT_PATH) and returns the variables.
func (m *Manager) DockerEnv(ctx context.Context, profile string) (DockerEnv, error) {
	prof, err := m.Home.Load(profile)
	if err != nil {
		return DockerEnv{}, err
	}
	state, err := m.Driver.State(ctx, profile)
	if err != nil {
		return DockerEnv{}, err
	}
	if state != driver.StateRunning {
		return DockerEnv{}, fmt.Errorf("%w: cluster %s is %s; run `devk start -p %s` first", ErrNotRunning, profile, state, profile)
	}
	pki, err := LoadPKI(m.Home.CertsDir(profile))
	if err != nil {
		return DockerEnv{}, err
	}
	dir := filepath.Join(m.Home.ProfileDir(profile), "docker-certs")
	client := pki.Leaves[CertDockerClient]
	for _, f := range []struct {
		name string
		data []byte
		mode uint32
	}{{"ca.pem", pki.CA.CertPEM, 0o644}, {"cert.pem", client.CertPEM, 0o644}, {"key.pem", client.KeyPEM, 0o600}} {
		if err := WriteFileAtomic(filepath.Join(dir, f.name), f.data, os.FileMode(f.mode)); err != nil {
			return DockerEnv{}, err
		}
	}
	return DockerEnv{
		Profile:   profile,
		Host:      fmt.Sprintf("tcp://127.0.0.1:%d", prof.DockerPort),
		TLSVerify: "1",
		CertPath:  dir,
	}, nil
}
