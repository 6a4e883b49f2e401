package cluster

import (
	"context"
	"errors"
	"fmt"
	"k8s.io/client-go/kubernetes"
	"os"
	"time"

	"github.com/devk-dev/devk/driver"
)

// lockedState takes the profile's lock, checks that the profile exists and reads its
// node's state. The caller releases the lock.
func (m *Manager) lockedState(ctx context.Context, profile string) (unlock func(), state driver.State, err error) {
	if unlock, err = m.Home.Lock(profile); err != nil {
		return nil, "", err
	}
	if _, err = m.Home.Load(profile); err == nil {
		state, err = m.Driver.State(ctx, profile)
	}
	if err != nil {
		unlock()
		return nil, "", err
	}
	return unlock, state, nil
}

// Stop stops the node; every object and volume is kept for the next start.
func (m *Manager) Stop(ctx context.Context, profile string) error {
	unlock, state, err := m.lockedState(ctx, profile)
	if err != nil {
		return err
	}
	defer unlock()
	switch state {
	case driver.StateNonexistent:
		return fmt.Errorf("%w: the node of profile %s is gone; run `devk start -p %s` to recreate it", driver.ErrNotFound, profile, profile)
	case driver.StateStopped:
		return nil
	case driver.StatePaused:
		// Frozen processes cannot exit: thaw the node and its workloads first.
		if err := m.unpause(ctx, profile); err != nil {
			return err
		}
	}
	return m.step("Stopping node "+profile, func() error { return m.Driver.Stop(ctx, profile) })
}

// Delete removes the node, its volume, the profile folder and the kubeconfig entries.
// A profile that is half created or already gone is cleaned up all the same.
func (m *Manager) Delete(ctx context.Context, profile string) error {
	unlock, err := m.Home.Lock(profile)
	if err != nil {
		return err
	}
	defer unlock()
	foreign := m.step("Deleting node "+profile, func() error {
		st, err := m.Driver.State(ctx, profile)
		if err != nil && !errors.Is(err, driver.ErrForeign) {
			return err // the engine is not answering: nothing can be deleted now
		}
		// Frozen processes cannot exit: a paused node is thawed first (best effort).
		if st == driver.StatePaused && m.unpause(ctx, profile) == nil {
			st = driver.StateRunning
		}
		if st == driver.StateRunning {
			if node, err := m.Driver.Node(ctx, profile); err == nil {
				m.cleanupCgroups(ctx, node, profile)
			}
		}
		return m.Driver.Delete(ctx, profile)
	})
	// Something with the node's name that devk did not create is left alone and
	// reported; the profile's own state still goes.
	if foreign != nil && !errors.Is(foreign, driver.ErrForeign) {
		return foreign
	}
	// The node is gone: its profile goes too, even if the kubeconfig cannot be edited.
	kubeconfigErr := RemoveKubeconfig(m.Kubeconfig, profile)
	if err := m.Home.Remove(profile); err != nil {
		return err
	}
	if kubeconfigErr != nil {
		return fmt.Errorf("cluster %s deleted, but its kubeconfig entries were left: %w", profile, kubeconfigErr)
	}
	return foreign
}

// cleanupCgroups stops the running node's containers and removes its cgroup root: on a
// cgroup v1 host those live in the host's hierarchy and would outlive the node container.
func (m *Manager) cleanupCgroups(ctx context.Context, node driver.Node, profile string) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	root := NewNodeParams(profile, "").CgroupRoot
	script := `[ -e /sys/fs/cgroup/cgroup.controllers ] && exit 0; systemctl stop kubelet 2>/dev/null; ` +
		`ctr -n k8s.io tasks ls -q 2>/dev/null | while read t; do ctr -n k8s.io tasks kill -s KILL "$t"; done; sleep 1; ` +
		`for d in /sys/fs/cgroup/*` + root + `; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done; true`
	_, _ = driver.Output(ctx, node, "sh", "-c", script)
}

// Status is what `devk status` reports. Field names are stable.
type Status struct {
	Name       string `json:"name"`
	Host       string `json:"host"`
	Kubelet    string `json:"kubelet"`
	APIServer  string `json:"apiServer"`
	Kubeconfig string `json:"kubeconfig"`
	NodeIP     string `json:"nodeIP,omitempty"`
	Server     string `json:"server,omitempty"`
	// Warning is what needs the user's attention on a running node (a nearly full disk).
	Warning string `json:"warning,omitempty"`
}

// Status values.
const (
	Running       = "Running"
	Stopped       = "Stopped"
	Paused        = "Paused"
	Nonexistent   = "Nonexistent"
	Configured    = "Configured"
	Misconfigured = "Misconfigured"
	ErrorState    = "Error"
)

// ExitCode encodes the status as minikube does: bit 0 host, bit 1 kubelet, bit 2 API server.
func (s Status) ExitCode() int {
	code := 0
	if s.Host != Running {
		code |= 1
	}
	if s.Kubelet != Running {
		code |= 2
	}
	if s.APIServer != Running {
		code |= 4
	}
	return code
}

// Status inspects the node, the kubelet, the API server and the kubeconfig context.
func (m *Manager) Status(ctx context.Context, profile string) (Status, error) {
	st := Status{Name: profile, Host: Nonexistent, Kubelet: Nonexistent, APIServer: Nonexistent, Kubeconfig: Nonexistent}
	prof, err := m.Home.Load(profile)
	if err != nil {
		return st, err
	}
	state, err := m.Driver.State(ctx, profile)
	if err != nil {
		return st, err
	}
	st.NodeIP = prof.NodeIP
	st.Server = prof.Server()
	if s := KubeconfigServer(m.Kubeconfig, profile); s == st.Server {
		st.Kubeconfig = Configured
	} else if s != "" {
		st.Kubeconfig = Misconfigured
	}
	switch state {
	case driver.StateNonexistent:
		return st, nil
	case driver.StateStopped:
		st.Host, st.Kubelet, st.APIServer = Stopped, Stopped, Stopped
		return st, nil
	case driver.StatePaused:
		st.Host, st.Kubelet, st.APIServer = Paused, Paused, Paused
		return st, nil
	case driver.StateRunning:
		st.Host = Running
	default:
		st.Host = ErrorState
		return st, nil
	}
	node, err := m.Driver.Node(ctx, profile)
	if err != nil {
		return st, err
	}
	st.Kubelet = Stopped
	if out, _ := driver.Output(ctx, node, "systemctl", "is-active", "kubelet"); out == "active" {
		st.Kubelet = Running
	}
	if free, err := nodeDiskFree(ctx, node); err == nil {
		if err := checkDiskFree(profile, free); err != nil {
			st.Warning = err.Error()
		}
	}
	st.APIServer = Stopped
	cfg, _, err := m.connect(prof)
	if err != nil {
		return st, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return st, err
	}
	if err := APIServerReady(ctx, client); err == nil {
		st.APIServer = Running
	} else if !errors.Is(err, context.Canceled) {
		st.APIServer = Stopped
	}
	return st, nil
}

// Purge removes devk's whole home: profiles, certificates, the node image cache and the
// shared image cache (its container too).
func (m *Manager) Purge(ctx context.Context) error {
	// The image cache's container goes first: its storage is in the home. An engine
	// that does not answer leaves it, with a warning.
	if host, _, err := m.cacheHost(ctx); err == nil && host != nil {
		if err := host.RemoveService(ctx, ImageCacheService); err != nil {
			m.warn(fmt.Sprintf("the image cache's container stays: %v (remove it with `docker rm -f`)", err))
		}
	}
	if err := os.RemoveAll(m.Home.Dir); err != nil {
		return fmt.Errorf("remove %s: %w", m.Home.Dir, err)
	}
	return nil
}
