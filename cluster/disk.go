package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/devk-dev/devk/driver"
)

// MinFreeDisk is the free space start needs on the node's /var. The docker driver's
// /var is a volume on the host's disk, and the kubelet's disk-pressure eviction is off
// (see templates/kubelet-config.yaml): below this, etcd and the pods would fail to write
// with nothing evicted to make room.
const MinFreeDisk = 1 << 30

// ErrDiskFull means the node's disk has less free space than MinFreeDisk.
var ErrDiskFull = errors.New("the node's disk is nearly full")

// nodeDiskFree reads the free bytes of the node's /var (POSIX df, so any node has it).
func nodeDiskFree(ctx context.Context, node driver.Node) (int64, error) {
	out, err := driver.Output(ctx, node, "df", "-P", "-k", "/var")
	if err != nil {
		return 0, err
	}
	return parseDFAvailable(out)
}

// parseDFAvailable reads the available bytes from `df -P -k` output.
func parseDFAvailable(out string) (int64, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return 0, fmt.Errorf("df printed %q", out)
	}
	fields := strings.Fields(lines[len(lines)-1])
	if len(fields) < 6 {
		return 0, fmt.Errorf("df printed %q", out)
	}
	kb, err := strconv.ParseInt(fields[3], 10, 64)
	if err != nil || kb < 0 {
		return 0, fmt.Errorf("df printed %q", out)
	}
	return kb * 1024, nil
}

// checkDiskFree refuses free space below MinFreeDisk, saying how much there is and how
// to make room.
func checkDiskFree(profile string, free int64) error {
	if free >= MinFreeDisk {
		return nil
	}
	return fmt.Errorf("%w: %s free on its /var (the host's disk for the docker driver), below the %s the cluster needs; "+
		"free space (`docker system prune`, `devk image rm IMAGE -p %s`, or remove files on the host), then run `devk start -p %s`",
		ErrDiskFull, formatBytes(free), formatBytes(MinFreeDisk), profile, profile)
}

// checkDisk is the start step that refuses to bring the cluster up on a nearly full disk.
// A node that cannot say (df missing or unreadable) is not refused.
func (m *Manager) checkDisk(ctx context.Context, s *startState) error {
	free, err := nodeDiskFree(ctx, s.node)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return nil
	}
	return checkDiskFree(s.prof.Name, free)
}

// formatBytes renders a size in MiB below a GiB and in GiB (one decimal) above.
func formatBytes(n int64) string {
	if n < 1<<30 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
}
