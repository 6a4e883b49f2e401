package cmd

import (
	"bytes"
	"encoding/json"
	"github.com/devk-dev/devk/internal/golden"
	"testing"

	"github.com/devk-dev/devk/cluster"
)

// TestJSONOutputGolden pins the field names (and layout) of the -o json output scripts
// parse. Each command encodes exactly these types, one JSON document per line; the values
// are fixed here, and the e2e tests check a real cluster's output has the same fields.
// config view -o json is pinned through the command in TestConfigViewJSONGolden.
func TestJSONOutputGolden(t *testing.T) {
	tests := []struct {
		golden string
		value  any
	}{
		{"status.json", cluster.Status{Name: "devk", Host: cluster.Running, Kubelet: cluster.Running, APIServer: cluster.Running,
			Kubeconfig: cluster.Configured, NodeIP: "192.168.49.2", Server: "https://127.0.0.1:32771"}},
		{"profile-list.json", []cluster.ProfileState{{Name: "devk", Driver: "docker", Status: "Running", KubernetesVersion: "v1.34.4",
			NodeIP: "192.168.49.2", APIServerPort: 32771, CPUs: 2, MemoryMB: 4096, LBRange: "192.168.49.200-192.168.49.254"}}},
		{"version.json", VersionInfo{Devk: "v0.1.0", KubernetesVersion: "v1.34.4", NodeImage: "devk/node:v1.34.4-0123456789ab"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			var buf bytes.Buffer
			if err := json.NewEncoder(&buf).Encode(tt.value); err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, "testdata/golden/"+tt.golden, buf.Bytes())
		})
	}
}
