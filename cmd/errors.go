package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/devk-dev/devk/addons"
	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/driver"
	"github.com/devk-dev/devk/driver/docker"
	"github.com/devk-dev/devk/driver/qemu"
	"github.com/devk-dev/devk/iso"
)

// Exit codes are stable; scripts depend on them. `devk status` uses 0-7 as minikube
// does (bit 0 host, bit 1 kubelet, bit 2 API server not running).
const (
	ExitOK           = 0
	ExitError        = 1  // anything not listed below
	ExitUsage        = 2  // bad flags, names or values; nothing was changed
	ExitNoProfile    = 3  // the profile does not exist
	ExitConflict     = 4  // another devk command holds the profile
	ExitInterrupted  = 5  // interrupted by the user (re-run to resume)
	ExitCorrupt      = 8  // the profile's config.json is unreadable (delete the profile)
	ExitDriver       = 10 // the driver's engine is missing or not running
	ExitNodeImage    = 11 // the node image could not be built
	ExitNode         = 20 // the node is missing or broken
	ExitNotRunning   = 21 // the command needs a running cluster
	ExitDiskFull     = 22 // the node's disk (the host's, for docker) is nearly full
	ExitTimeout      = 30 // the control plane did not come up in time
	ExitService      = 40 // the service has no host URL or no ready pod
	ExitImage        = 41 // an image could not be loaded, built, listed or removed
	ExitSnapshot     = 50 // no such snapshot, or one of that name exists
	ExitIncompatible = 51 // the snapshot was made by another devk or node image
	ExitRestore      = 52 // a snapshot restore was interrupted: finish it
)

// exitReason is a failure's exit code and stable reason ID.
type exitReason struct {
	code   int
	reason string
}

var reasons = []struct {
	target error
	exitReason
}{
	{cluster.ErrInvalid, exitReason{ExitUsage, "USAGE"}},
	{iso.ErrBadVersion, exitReason{ExitUsage, "USAGE_K8S_VERSION"}},
	{iso.ErrUnknownVersion, exitReason{ExitUsage, "USAGE_K8S_VERSION_UNKNOWN"}},
	{errUsage, exitReason{ExitUsage, "USAGE"}},
	{cluster.ErrNoProfile, exitReason{ExitNoProfile, "PROFILE_NOT_FOUND"}},
	{cluster.ErrLocked, exitReason{ExitConflict, "PROFILE_LOCKED"}},
	{cluster.ErrCorruptProfile, exitReason{ExitCorrupt, "PROFILE_CORRUPT"}},
	{context.Canceled, exitReason{ExitInterrupted, "INTERRUPTED"}},
	{docker.ErrEngineUnreachable, exitReason{ExitDriver, "DRIVER_UNAVAILABLE"}},
	{qemu.ErrUnavailable, exitReason{ExitDriver, "DRIVER_UNAVAILABLE"}},
	{qemu.ErrKVMUnusable, exitReason{ExitDriver, "DRIVER_KVM_UNUSABLE"}},
	{iso.ErrMissingTool, exitReason{ExitNodeImage, "NODE_IMAGE_TOOL_MISSING"}},
	{iso.ErrBuildFailed, exitReason{ExitNodeImage, "NODE_IMAGE_BUILD"}},
	{driver.ErrUnsupported, exitReason{ExitDriver, "DRIVER_UNSUPPORTED"}},
	{driver.ErrNotFound, exitReason{ExitNode, "NODE_NOT_FOUND"}},
	{driver.ErrForeign, exitReason{ExitNode, "NODE_NOT_OURS"}},
	{cluster.ErrTimeout, exitReason{ExitTimeout, "CONTROL_PLANE_TIMEOUT"}},
	{addons.ErrUnhealthy, exitReason{ExitTimeout, "ADDON_UNHEALTHY"}},
	{cluster.ErrNotRunning, exitReason{ExitNotRunning, "CLUSTER_NOT_RUNNING"}},
	{cluster.ErrDiskFull, exitReason{ExitDiskFull, "NODE_DISK_FULL"}},
	{cluster.ErrService, exitReason{ExitService, "SERVICE_UNREACHABLE"}},
	{cluster.ErrImage, exitReason{ExitImage, "IMAGE"}},
	{cluster.ErrNotCached, exitReason{ExitImage, "IMAGE_NOT_CACHED"}},
	{cluster.ErrNoImageCache, exitReason{ExitDriver, "IMAGE_CACHE_UNSUPPORTED"}},
	{cluster.ErrSnapshotNotFound, exitReason{ExitSnapshot, "SNAPSHOT_NOT_FOUND"}},
	{cluster.ErrSnapshotExists, exitReason{ExitSnapshot, "SNAPSHOT_EXISTS"}},
	{cluster.ErrSnapshotIncompatible, exitReason{ExitIncompatible, "SNAPSHOT_INCOMPATIBLE"}},
	{cluster.ErrRestoreInterrupted, exitReason{ExitRestore, "RESTORE_INTERRUPTED"}},
}

// errUsage marks command-line mistakes found by cobra or by us.
var errUsage = errors.New("usage")

// ExitCode picks the exit code of an error; nil is success.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var se *statusExit
	if errors.As(err, &se) {
		return se.code
	}
	for _, r := range reasons {
		if errors.Is(err, r.target) {
			return r.code
		}
	}
	return ExitError
}

// FormatError renders the one line a user sees: reason ID and message (which says what
// went wrong, why, and how to fix it).
func FormatError(err error) string {
	var se *statusExit
	if err == nil || errors.As(err, &se) {
		return ""
	}
	reason := "ERROR"
	for _, r := range reasons {
		if errors.Is(err, r.target) {
			reason = r.reason
			break
		}
	}
	// One line, whatever a wrapped tool printed.
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", " | ")), " ")
	return fmt.Sprintf("devk: %s: %s", reason, msg)
}

// statusExit carries a non-error exit code (devk status) without printing anything.
type statusExit struct{ code int }

func (s *statusExit) Error() string { return fmt.Sprintf("exit status %d", s.code) }
