package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Accelerator choices for --accel.
const (
	AccelAuto = "auto" // KVM when it works here, software emulation otherwise
	AccelKVM  = "kvm"  // KVM or an error
	AccelTCG  = "tcg"  // software emulation
)

// Accels lists the --accel values.
func Accels() []string { return []string{AccelAuto, AccelKVM, AccelTCG} }

// ErrKVMUnusable says KVM was asked for (--accel kvm) and does not work here.
var ErrKVMUnusable = errors.New("KVM does not work here")

// kvmArgs are the accelerator arguments of a KVM boot; the probe boots with exactly these,
// because a broken nested KVM often fails only on what `-cpu host` asks of it.
var kvmArgs = []string{"-accel", "kvm", "-cpu", "host"}

var tcgArgs = []string{"-accel", "tcg"}

// probeTimeout bounds the probe boot: working KVM finishes it in well under a second; a
// guest that hit a "KVM internal error" is paused by QEMU and never exits.
const probeTimeout = 15 * time.Second

// chooseAccel decides how a VM boots. openDevice checks that /dev/kvm opens read-write;
// probe checks that KVM actually runs a guest (a device that opens can still be broken,
// as under nested virtualisation). It returns QEMU's accelerator arguments and, when auto
// falls back to software emulation, the one-line warning to show.
func chooseAccel(ctx context.Context, mode string, openDevice func() error, probe func(context.Context) error) (args []string, warning string, err error) {
	switch mode {
	case AccelTCG:
		return tcgArgs, "", nil
	case AccelAuto, "":
	case AccelKVM:
	default:
		return nil, "", fmt.Errorf("--accel %q: use one of %s", mode, strings.Join(Accels(), ", "))
	}
	why := openDevice()
	if why == nil {
		why = probe(ctx)
	}
	if ctx.Err() != nil {
		return nil, "", ctx.Err()
	}
	if why == nil {
		return kvmArgs, "", nil
	}
	if mode == AccelKVM {
		return nil, "", fmt.Errorf("%w (%v); start with --accel auto or --accel tcg for software emulation", ErrKVMUnusable, why)
	}
	return tcgArgs, fmt.Sprintf("KVM is not usable here (%v): the VM runs under software emulation, several times slower; --accel tcg skips this check", why), nil
}

// openKVMDevice checks that /dev/kvm exists and opens read-write.
func openKVMDevice() error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return errors.New("no /dev/kvm")
		}
		return fmt.Errorf("/dev/kvm: %w", err)
	}
	return f.Close()
}

// probeKVM boots an empty machine with KVM: its firmware runs in the guest, finds nothing
// to boot and reboots at once, which -no-reboot turns into a clean exit. Broken KVM aborts
// QEMU (failed MSR writes) or pauses the guest (internal error) instead.
func probeKVM(binary string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		args := append(append([]string{}, kvmArgs...), "-machine", "pc", "-m", "32", "-nodefaults",
			"-display", "none", "-serial", "none", "-monitor", "none", "-no-reboot", "-boot", "reboot-timeout=0")
		cmd := exec.CommandContext(ctx, binary, args...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			return nil
		}
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("a test boot under KVM did not finish in %s", probeTimeout)
		}
		return fmt.Errorf("a test boot under KVM failed: %s", firstLine(string(out), err))
	}
}

func firstLine(out string, err error) string {
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return err.Error()
}

// rememberedProbe wraps probe so its verdict is kept in dir, per host: the key names the
// kernel and the QEMU binary, so an upgrade of either probes again, and later starts pay
// nothing. An empty dir remembers nothing.
func rememberedProbe(dir, binary string, probe func(context.Context) error) func(context.Context) error {
	if dir == "" {
		return probe
	}
	return func(ctx context.Context) error {
		path := filepath.Join(dir, "kvm-"+hostKey(binary))
		if data, err := os.ReadFile(path); err == nil {
			if verdict := strings.TrimSpace(string(data)); verdict != "works" {
				return errors.New(strings.TrimPrefix(verdict, "broken: "))
			}
			return nil
		}
		err := probe(ctx)
		if ctx.Err() != nil {
			return err // interrupted: no verdict
		}
		verdict := "works"
		if err != nil {
			verdict = "broken: " + err.Error()
		}
		if mkErr := os.MkdirAll(dir, 0o700); mkErr == nil {
			tmp := path + ".tmp"
			if os.WriteFile(tmp, []byte(verdict+"\n"), 0o600) == nil {
				_ = os.Rename(tmp, path)
			}
		}
		return err
	}
}

// hostKey names this host's kernel and QEMU build.
func hostKey(binary string) string {
	release, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	id := strings.TrimSpace(string(release))
	if path, err := exec.LookPath(binary); err == nil {
		if st, err := os.Stat(path); err == nil {
			id += fmt.Sprintf("|%s|%d|%d", path, st.Size(), st.ModTime().Unix())
		}
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:8])
}
