package cluster

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/devk-dev/devk/driver"
	"github.com/devk-dev/devk/iso"
)

func TestFileGroup(t *testing.T) {
	tests := map[string]string{
		"/etc/containerd/certs.d/docker.io/hosts.toml":             groupRegistries,
		iso.ContainerdConfigPath:                                   groupContainerd,
		"/etc/systemd/system/containerd.service.d/devk-proxy.conf": groupContainerd,
		"/etc/systemd/system/docker.service.d/devk.conf":           groupDocker,
		"/etc/systemd/system/docker.service.d/devk-proxy.conf":     groupDocker,
		"/etc/systemd/system/docker.socket.d/devk.conf":            groupDocker,
		"/etc/docker/certs/server-cert.pem":                        groupDocker,
		"/etc/systemd/system/kubelet.service.d/devk-proxy.conf":    groupControlPlane,
		"/etc/kubernetes/kubelet-config.yaml":                      groupControlPlane,
		"/etc/systemd/system/sockets.target.wants/docker.socket":   groupControlPlane,
		"/etc/systemd/system/multi-user.target.wants/etcd.service": groupControlPlane,
	}
	for path, want := range tests {
		if got := fileGroup(path); got != want {
			t.Errorf("fileGroup(%s) = %s, want %s", path, got, want)
		}
	}
}

// A change restarts only what reads the changed files: a registry change nothing, a
// containerd one containerd; a node stamped by an older devk gets everything.
func TestWriteNodeFilesGroups(t *testing.T) {
	pki := newTestPKI(t, t.TempDir(), "devk", testNodeIP)
	files := func(reg RegistryConfig, proxy ProxyEnv) []NodeFile {
		p := NewNodeParams("devk", testNodeIP)
		p.Registries, p.Proxy = reg, proxy
		f, err := NodeFiles(p, pki)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	base := files(RegistryConfig{}, ProxyEnv{})
	tests := []struct {
		name  string
		stamp string // the node's stamp before ("" keeps the one base wrote)
		next  []NodeFile
		want  []string
	}{
		{"unchanged", "", base, nil},
		{"a mirror", "", files(RegistryConfig{Mirrors: []string{"http://10.0.0.5:5000"}}, ProxyEnv{}), []string{groupDocker, groupRegistries}},
		{"an insecure registry", "", files(RegistryConfig{Insecure: []string{"reg:5000"}}, ProxyEnv{}), []string{groupDocker, groupRegistries}},
		{"a proxy", "", files(RegistryConfig{}, ProxyEnv{HTTPSProxy: "http://p:1"}), []string{groupContainerd, groupControlPlane, groupDocker}},
		{"an older devk's stamp", "0123abcd", base, []string{groupContainerd, groupControlPlane, groupDocker}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := &fakeNode{}
			ctx := context.Background()
			if _, err := writeNodeFiles(ctx, node, base); err != nil {
				t.Fatal(err)
			}
			if tt.stamp != "" {
				node.contents[filesStamp] = []byte(tt.stamp)
			}
			changed, err := writeNodeFiles(ctx, node, tt.next)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Sorted(maps.Keys(changed)); !slices.Equal(got, tt.want) {
				t.Errorf("changed %v, want %v", got, tt.want)
			}
		})
	}
}

// The files are written in one command that also drops the hosts.toml files of
// registries no longer configured, and only those devk wrote.
func TestWriteFilesArgv(t *testing.T) {
	argv := writeFilesArgv([]string{"docker.io", "reg:5000"})
	if argv[0] != "sh" || !strings.HasPrefix(argv[2], "tar -x --no-same-owner -C /") || !slices.Equal(argv[3:], []string{"sh", "docker.io", "reg:5000"}) {
		t.Errorf("argv %q", argv)
	}
	if !strings.Contains(argv[2], "grep -q '^# Written by devk'") {
		t.Error("the script would remove hosts.toml files devk did not write")
	}
	if !strings.HasPrefix(string(RegistryHost{Host: "x", Server: "https://x"}.HostsTOML()), "# Written by devk") {
		t.Error("hosts.toml files lack the mark the script looks for")
	}
}

// startUnits restarts what reads the changed files, and nothing for a registry change.
func TestStartUnitsByChangedGroup(t *testing.T) {
	units := strings.Join(Units, " ")
	tests := []struct {
		name    string
		state   driver.State
		changed []string
		want    []string // systemctl commands after is-system-running
	}{
		{"registries only", driver.StateStopped, []string{groupRegistries}, nil},
		{"nothing, restarted node", driver.StateStopped, nil, nil},
		{"containerd", driver.StateStopped, []string{groupContainerd, groupRegistries},
			[]string{"systemctl daemon-reload", "systemctl try-restart containerd", "systemctl start --no-block " + units}},
		{"docker", driver.StateStopped, []string{groupDocker},
			[]string{"systemctl daemon-reload", "systemctl restart --no-block docker.socket", "systemctl start --no-block " + units}},
		{"control plane", driver.StateStopped, []string{groupControlPlane, groupDocker},
			[]string{"systemctl daemon-reload", "systemctl restart --no-block " + units}},
		{"nothing, running node: revived", driver.StateRunning, nil, []string{"systemctl start --no-block " + units}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			s := &startState{state: tt.state, node: e.node, changed: map[string]bool{}}
			for _, g := range tt.changed {
				s.changed[g] = true
			}
			if err := e.m.startUnits(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range e.node.commands {
				if strings.HasPrefix(c, "systemctl") && c != "systemctl is-system-running" {
					got = append(got, c)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("commands %q\nwant %q", got, tt.want)
			}
		})
	}
}
