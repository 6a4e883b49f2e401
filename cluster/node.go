package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/devk-dev/devk/driver"
)

// RunningNode returns the profile's node, failing with ErrNotRunning unless it runs.
func (m *Manager) RunningNode(ctx context.Context, profile string) (driver.Node, *Profile, error) {
	prof, err := m.Home.Load(profile)
	if err != nil {
		return nil, nil, err
	}
	state, err := m.Driver.State(ctx, profile)
	if err != nil {
		return nil, nil, err
	}
	if state != driver.StateRunning {
		return nil, nil, fmt.Errorf("%w: cluster %s is %s; run `devk start -p %s` first", ErrNotRunning, profile, state, profile)
	}
	node, err := m.Driver.Node(ctx, profile)
	return node, prof, err
}

// LogComponents maps `devk logs --component` names to systemd units in the node.
var LogComponents = map[string]string{
	"kubelet": "kubelet", "apiserver": "kube-apiserver", "kube-apiserver": "kube-apiserver",
	"controller-manager": "kube-controller-manager", "kube-controller-manager": "kube-controller-manager",
	"scheduler": "kube-scheduler", "kube-scheduler": "kube-scheduler", "proxy": "kube-proxy", "kube-proxy": "kube-proxy",
	"etcd": "etcd", "containerd": "containerd", "docker": "docker", "preload": "devk-preload",
}

// LogOptions select what `devk logs` shows.
type LogOptions struct {
	Components []string // empty: every component
	Lines      int
	Follow     bool
	Problems   bool // only lines that look like errors
}

// Logs streams component logs from the node's journal.
func (m *Manager) Logs(ctx context.Context, profile string, o LogOptions, out io.Writer) error {
	units, err := logUnits(o.Components)
	if err != nil {
		return err
	}
	node, _, err := m.RunningNode(ctx, profile)
	if err != nil {
		return err
	}
	if o.Follow {
		// A stream cannot be grouped: one journal, the components' lines interleaved.
		return journal(ctx, node, o, units, out)
	}
	// The last lines of each component under a header, as `minikube logs` shows them:
	// interleaved, a fresh cluster's last lines would all be the controller-manager's.
	for i, u := range units {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "==> %s <==\n", u.component)
		if err := journal(ctx, node, o, []logUnit{u}, out); err != nil {
			return err
		}
	}
	return nil
}

type logUnit struct{ component, unit string }

// defaultLogComponents are the components `devk logs` shows, in start order.
var defaultLogComponents = []string{"etcd", "apiserver", "controller-manager", "scheduler", "kubelet", "proxy", "containerd", "docker", "preload"}

// logUnits maps component names to their systemd units, refusing unknown names.
func logUnits(components []string) ([]logUnit, error) {
	if len(components) == 0 {
		components = defaultLogComponents
	}
	var units []logUnit
	for _, c := range components {
		unit, ok := LogComponents[c]
		if !ok {
			names := make([]string, 0, len(LogComponents))
			for n := range LogComponents {
				names = append(names, n)
			}
			slices.Sort(names)
			return nil, fmt.Errorf("%w: unknown component %q: use one of %s", ErrInvalid, c, strings.Join(names, ", "))
		}
		units = append(units, logUnit{c, unit})
	}
	return units, nil
}

// journal prints the units' journal lines.
func journal(ctx context.Context, node driver.Node, o LogOptions, units []logUnit, out io.Writer) error {
	argv := []string{"journalctl", "--no-pager", "--output=short-iso", "-n", fmt.Sprint(o.Lines)}
	if o.Follow {
		argv = append(argv, "-f")
	}
	if o.Problems {
		argv = append(argv, "--priority=warning", "--grep=(?i)(error|fail|fatal|panic)")
	}
	for _, u := range units {
		argv = append(argv, "-u", u.unit)
	}
	err := node.Exec(ctx, argv, driver.ExecOptions{Stdout: out, Stderr: out})
	if exit, ok := err.(*driver.ExitError); ok && o.Problems && exit.Code == 1 {
		return nil // journalctl --grep exits 1 when nothing matched: no problems
	}
	return err
}

// UpdateContext rewrites the profile's kubeconfig entries (for example after the
// user's kubeconfig was replaced) and makes its context current.
func (m *Manager) UpdateContext(ctx context.Context, profile string) (string, error) {
	prof, err := m.Home.Load(profile)
	if err != nil {
		return "", err
	}
	pki, err := LoadPKI(m.Home.CertsDir(profile))
	if err != nil {
		return "", err
	}
	return prof.Server(), MergeKubeconfig(m.Kubeconfig, profile, prof.Server(), pki.CA.CertPEM, pki.Leaves[CertAdmin])
}

// ProfileState is one row of `devk profile list`. Field names are stable.
type ProfileState struct {
	Name              string `json:"name"`
	Driver            string `json:"driver"`
	Status            string `json:"status"`
	KubernetesVersion string `json:"kubernetesVersion"`
	NodeIP            string `json:"nodeIP"`
	APIServerPort     int    `json:"apiServerPort"`
	CPUs              int    `json:"cpus"`
	MemoryMB          int    `json:"memoryMB"`
	LBRange           string `json:"lbRange,omitempty"`
}

// ListProfiles returns every profile with the state of its node, asking each profile's
// own driver. A profile that cannot be read, or whose node is not devk's, is listed as
// Error; an engine that cannot be reached fails the listing (its state is unknown).
func (m *Manager) ListProfiles(ctx context.Context) ([]ProfileState, error) {
	names, err := m.Home.Profiles()
	if err != nil {
		return nil, err
	}
	out := []ProfileState{}
	for _, n := range names {
		p, err := m.Home.Load(n)
		if err != nil {
			out = append(out, ProfileState{Name: n, Status: string(driver.StateError)})
			continue
		}
		row := ProfileState{Name: n, Driver: p.Driver, KubernetesVersion: p.KubernetesVersion,
			NodeIP: p.NodeIP, APIServerPort: p.APIServerPort, CPUs: p.CPUs, MemoryMB: p.MemoryMB, LBRange: p.LBRange}
		drv := m.Driver
		if p.Driver != m.Driver.Name() && m.DriverNamed != nil {
			if drv, err = m.DriverNamed(p.Driver); err != nil {
				return nil, err
			}
		}
		st, err := drv.State(ctx, n)
		if errors.Is(err, driver.ErrForeign) {
			st = driver.StateError
		} else if err != nil {
			return nil, err
		}
		row.Status = string(st)
		out = append(out, row)
	}
	return out, nil
}

// Pause freezes every process of the node (control plane and workloads).
func (m *Manager) Pause(ctx context.Context, profile string) error {
	unlock, err := m.Home.Lock(profile)
	if err != nil {
		return err
	}
	defer unlock()
	if _, _, err := m.RunningNode(ctx, profile); err != nil {
		return err
	}
	return m.pauseLocked(ctx, profile)
}

// Unpause thaws a paused node.
func (m *Manager) Unpause(ctx context.Context, profile string) error {
	unlock, state, err := m.lockedState(ctx, profile)
	if err != nil {
		return err
	}
	defer unlock()
	if state != driver.StatePaused {
		return nil
	}
	return m.unpause(ctx, profile)
}

// unpause thaws the node, then its workloads (frozen by Pause on a cgroup v1 host).
func (m *Manager) unpause(ctx context.Context, profile string) error {
	if err := m.Driver.Unpause(ctx, profile); err != nil {
		return err
	}
	node, err := m.Driver.Node(ctx, profile)
	if err != nil {
		return err
	}
	return setWorkloadFreezer(ctx, node, profile, "THAWED")
}

// setWorkloadFreezer freezes or thaws every pod of the node. On a cgroup v1 host the
// kubelet puts pods under the node's cgroup root in the host's hierarchy, outside the node
// container's own cgroup, so pausing the container leaves them running. Elsewhere (cgroup
// v2, a VM) pausing the node is enough and this does nothing.
func setWorkloadFreezer(ctx context.Context, node driver.Node, profile, state string) error {
	const script = `[ -e /sys/fs/cgroup/cgroup.controllers ] && exit 0
f="/sys/fs/cgroup/freezer$1"; [ -d "$f" ] || exit 0
echo "$2" > "$f/freezer.state"
for i in $(seq 100); do [ "$(cat "$f/freezer.state")" = "$2" ] && exit 0; sleep 0.05; done
echo "the workloads' freezer is $(cat "$f/freezer.state"), not $2" >&2; exit 1`
	if _, err := driver.Output(ctx, node, "sh", "-c", script, "sh", NewNodeParams(profile, "").CgroupRoot, state); err != nil {
		return fmt.Errorf("set the workloads' freezer to %s: %w", state, err)
	}
	return nil
}

// Kubectl returns the path of a kubectl matching the cluster's version: the node's own
// multi-call binary, copied out once per Kubernetes version into the cache.
func (m *Manager) Kubectl(ctx context.Context, profile string) (string, error) {
	prof, err := m.Home.Load(profile)
	if err != nil {
		return "", err
	}
	path := filepath.Join(m.Home.CacheDir(), "bin", prof.KubernetesVersion, "kubectl")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	node, _, err := m.RunningNode(ctx, profile)
	if err != nil {
		return "", err
	}
	rc, err := node.CopyFrom(ctx, "/usr/local/bin/devk-kube")
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return "", err
	}
	return path, WriteFileAtomic(path, data, 0o755)
}
