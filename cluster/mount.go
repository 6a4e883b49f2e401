package cluster

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/devk-dev/devk/driver"
)

// ParseMount reads HOST_DIR:NODE_DIR (`devk mount`, `devk start --mount-string`) and checks
// it before anything changes: the host folder must exist (a relative one is taken from the
// working directory, symbolic links are resolved) and the node folder must be absolute and
// clear of the node's system folders. The last colon separates the two.
func ParseMount(s string) (driver.Mount, error) {
	i := strings.LastIndex(s, ":")
	if i <= 0 || i == len(s)-1 {
		return driver.Mount{}, fmt.Errorf("%w: mount %q: use HOST_DIR:NODE_DIR, for example ./data:/data", ErrInvalid, s)
	}
	hostDir, nodeDir := s[:i], s[i+1:]
	abs, err := filepath.Abs(hostDir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return driver.Mount{}, fmt.Errorf("%w: mount host folder %q does not exist: %v", ErrInvalid, hostDir, err)
	}
	if st, err := os.Stat(abs); err != nil || !st.IsDir() {
		return driver.Mount{}, fmt.Errorf("%w: mount host path %q is not a folder", ErrInvalid, hostDir)
	}
	if !strings.HasPrefix(nodeDir, "/") {
		return driver.Mount{}, fmt.Errorf("%w: mount node path %q must be absolute, such as /data", ErrInvalid, nodeDir)
	}
	nodeDir = path.Clean(nodeDir)
	// Folders a mount must not cover: the node's own system (covering it breaks the node),
	// what the node's components manage, and the kernel's virtual filesystems.
	for _, r := range []string{"/", "/bin", "/boot", "/etc", "/lib", "/lib64", "/sbin", "/tmp", "/usr", "/var"} {
		if nodeDir == r {
			return driver.Mount{}, fmt.Errorf("%w: mount node path %s would hide the node's own files; pick a folder such as /data or /mnt/src", ErrInvalid, nodeDir)
		}
	}
	for _, r := range []string{"/proc", "/sys", "/dev", "/run", "/etc/kubernetes", "/var/lib/kubelet", "/var/lib/containerd", "/var/lib/etcd", "/var/lib/docker"} {
		if nodeDir == r || strings.HasPrefix(nodeDir, r+"/") {
			return driver.Mount{}, fmt.Errorf("%w: mount node path %s is inside %s, which the node manages; pick a folder such as /data or /mnt/src", ErrInvalid, nodeDir, r)
		}
	}
	return driver.Mount{HostPath: abs, NodePath: nodeDir}, nil
}

// Mount shares a host folder with the profile's running node until unmount is called.
func (m *Manager) Mount(ctx context.Context, profile string, mnt driver.Mount) (unmount func() error, err error) {
	if _, _, err := m.RunningNode(ctx, profile); err != nil {
		return nil, err
	}
	mounter, ok := m.Driver.(driver.Mounter)
	if !ok {
		return nil, fmt.Errorf("%w: the %s driver cannot add a mount to a running node; use `devk start --mount-string` when creating the cluster",
			driver.ErrUnsupported, m.Driver.Name())
	}
	return mounter.Mount(ctx, profile, mnt.HostPath, mnt.NodePath)
}
