// Package qemu runs a devk node as a QEMU virtual machine booted from the node image's
// VM files (kernel, initrd, root disk), with a copy-on-write disk per profile, user-mode
// networking whose host forwards bind 127.0.0.1 only, and commands over SSH.
package qemu

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/devk-dev/devk/driver"
)

// GuestIP is the address QEMU's user-mode network gives the guest.
const GuestIP = "10.0.2.15"

// ErrUnavailable says QEMU is not installed.
var ErrUnavailable = errors.New("QEMU is not available")

// BootFiles are what a VM boots; the node image of the qemu driver.
type BootFiles struct {
	Kernel string `json:"kernel"`
	Initrd string `json:"initrd"`
	Disk   string `json:"disk"`
}

// Driver implements driver.Driver with QEMU.
type Driver struct {
	// Dir holds one folder per machine: disk overlay, key, ports, pid, monitor, console log.
	Dir string
	// Warn receives one-line warnings (software emulation is slow).
	Warn func(string)
	// Binary is qemu-system-x86_64 unless set.
	Binary string
	// Accel is auto (default), kvm or tcg; see chooseAccel.
	Accel string
	// StateDir is where the driver remembers whether KVM works on this host ("" = nowhere).
	StateDir string
	// probe replaces the KVM test boot in unit tests.
	probe func(context.Context) error
	// accel is the decision Preflight made, so a start decides (and warns) once.
	accel []string
}

func (d *Driver) Name() string { return "qemu" }

func (d *Driver) binary() string {
	if d.Binary != "" {
		return d.Binary
	}
	return "qemu-system-x86_64"
}

func (d *Driver) Preflight(ctx context.Context) error {
	for _, tool := range []string{d.binary(), "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found; install it (apt-get install qemu-system-x86 qemu-utils)", ErrUnavailable, tool)
		}
	}
	// Decided before anything is created, so --accel kvm on a host where KVM fails
	// changes nothing.
	accel, err := d.accelArgs(ctx)
	if err != nil {
		return err
	}
	d.accel = accel
	return nil
}

// accelArgs decides, once per boot, how this VM is accelerated.
func (d *Driver) accelArgs(ctx context.Context) ([]string, error) {
	if d.accel != nil {
		return d.accel, nil
	}
	probe := d.probe
	if probe == nil {
		probe = probeKVM(d.binary())
	}
	args, warning, err := chooseAccel(ctx, d.Accel, openKVMDevice, rememberedProbe(d.StateDir, d.binary(), probe))
	if warning != "" && d.Warn != nil {
		d.Warn(warning)
	}
	return args, err
}

// machine is what a VM's folder records about it.
type machine struct {
	Name     string               `json:"name"`
	Boot     BootFiles            `json:"boot"`
	CPUs     int                  `json:"cpus"`
	MemoryMB int                  `json:"memoryMB"`
	Ports    []driver.PortMapping `json:"ports"` // host ports resolved
	// Stopped is set by Stop: a dead process without it is a crashed VM.
	Stopped bool `json:"stopped"`
}

func (d *Driver) dir(name string) string        { return filepath.Join(d.Dir, name) }
func (d *Driver) path(name, file string) string { return filepath.Join(d.dir(name), file) }

func (d *Driver) load(name string) (*machine, error) {
	data, err := os.ReadFile(d.path(name, "machine.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("VM %s: %w", name, driver.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	var m machine
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("VM %s: corrupt machine.json: %w", name, err)
	}
	return &m, nil
}

func (d *Driver) save(m *machine) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := d.path(m.Name, "machine.json.tmp")
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, d.path(m.Name, "machine.json"))
}

// Create makes the VM's copy-on-write disk and key, resolves its host ports and boots it.
// spec.Image is the directory holding the VM files (vmlinuz, initrd.img, disk.img).
func (d *Driver) Create(ctx context.Context, spec driver.NodeSpec) (driver.Node, error) {
	if err := d.Preflight(ctx); err != nil {
		return nil, err
	}
	if _, err := d.load(spec.Name); err == nil {
		return nil, fmt.Errorf("a VM named %s already exists; run `devk delete -p %s` first", spec.Name, spec.Name)
	}
	boot := BootFiles{Kernel: filepath.Join(spec.Image, "vmlinuz"), Initrd: filepath.Join(spec.Image, "initrd.img"), Disk: filepath.Join(spec.Image, "disk.img")}
	for _, f := range []string{boot.Kernel, boot.Initrd, boot.Disk} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("VM file missing (rebuild with `devk node-image --vm`): %w", err)
		}
	}
	if err := os.MkdirAll(d.dir(spec.Name), 0o700); err != nil {
		return nil, err
	}
	if out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", boot.Disk, d.path(spec.Name, "disk.qcow2")).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("create the VM disk: %v: %s", err, out)
	}
	if err := newKey(d.path(spec.Name, "id_ed25519")); err != nil {
		return nil, err
	}
	m := &machine{Name: spec.Name, Boot: boot, CPUs: spec.CPUs, MemoryMB: spec.MemoryMB}
	ports, err := driver.AssignFreePorts(append([]driver.PortMapping{{NodePort: 22}}, spec.Ports...))
	if err != nil {
		return nil, err
	}
	m.Ports = ports
	if err := d.save(m); err != nil {
		return nil, err
	}
	if err := d.boot(ctx, m); err != nil {
		return nil, err
	}
	return d.Node(ctx, spec.Name)
}

func newKey(path string) error {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	block, err := ssh.MarshalPrivateKey(priv, "devk")
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(block), 0o600)
}

func (d *Driver) signer(name string) (ssh.Signer, error) {
	data, err := os.ReadFile(d.path(name, "id_ed25519"))
	if err != nil {
		return nil, fmt.Errorf("VM %s key: %w", name, err)
	}
	return ssh.ParsePrivateKey(data)
}

// boot starts QEMU in the background, detached from devk, supervised through its pid file.
func (d *Driver) boot(ctx context.Context, m *machine) error {
	signer, err := d.signer(m.Name)
	if err != nil {
		return err
	}
	pub := base64.StdEncoding.EncodeToString(ssh.MarshalAuthorizedKey(signer.PublicKey()))
	accel, err := d.accelArgs(ctx)
	if err != nil {
		return err
	}
	var fwd []string
	for _, p := range m.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		fwd = append(fwd, fmt.Sprintf("hostfwd=%s:127.0.0.1:%d-:%d", proto, p.HostPort, p.NodePort))
	}
	args := append(append([]string{}, accel...),
		"-name", "devk-"+m.Name,
		"-m", strconv.Itoa(m.MemoryMB), "-smp", strconv.Itoa(m.CPUs),
		"-kernel", m.Boot.Kernel, "-initrd", m.Boot.Initrd,
		"-append", "root=LABEL=devkroot rw console=ttyS0 systemd.hostname="+m.Name+" devk.ssh_key="+strings.TrimSpace(pub),
		"-drive", "file="+d.path(m.Name, "disk.qcow2")+",if=virtio,format=qcow2",
		"-netdev", "user,id=n0,"+strings.Join(fwd, ","), "-device", "virtio-net-pci,netdev=n0",
		"-display", "none", "-serial", "file:"+d.path(m.Name, "console.log"),
		"-monitor", "unix:"+d.path(m.Name, "monitor.sock")+",server,nowait",
		"-pidfile", d.path(m.Name, "qemu.pid"), "-daemonize")
	cmd := exec.CommandContext(ctx, d.binary(), args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("start QEMU: %v: %s", err, strings.TrimSpace(string(out)))
	}
	m.Stopped = false
	return d.save(m)
}

// pid returns QEMU's process id if it is alive.
func (d *Driver) pid(name string) (int, bool) {
	data, err := os.ReadFile(d.path(name, "qemu.pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil {
		return pid, false
	}
	// A recycled pid would not be QEMU.
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return pid, strings.Contains(string(cmdline), "devk-"+name)
}

// monitor sends one command to QEMU's human monitor and returns its answer.
func (d *Driver) monitor(name, command string) (string, error) {
	conn, err := net.DialTimeout("unix", d.path(name, "monitor.sock"), 3*time.Second)
	if err != nil {
		return "", fmt.Errorf("QEMU monitor of %s: %w", name, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	readPrompt := func() (string, error) {
		var sb strings.Builder
		for {
			b, err := r.ReadByte()
			if err != nil {
				return sb.String(), err
			}
			sb.WriteByte(b)
			if strings.HasSuffix(sb.String(), "(qemu) ") {
				return sb.String(), nil
			}
		}
	}
	if _, err := readPrompt(); err != nil {
		return "", err
	}
	if _, err := fmt.Fprintf(conn, "%s\n", command); err != nil {
		return "", err
	}
	out, err := readPrompt()
	out = strings.TrimSuffix(out, "(qemu) ")
	// The monitor echoes the command with terminal escapes; keep the answer lines.
	lines := strings.Split(strings.ReplaceAll(out, "\r", ""), "\n")
	if len(lines) > 0 {
		lines = lines[1:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n")), err
}

func (d *Driver) Node(ctx context.Context, name string) (driver.Node, error) {
	m, err := d.load(name)
	if err != nil {
		return nil, err
	}
	return &Node{d: d, m: m}, nil
}

func (d *Driver) Start(ctx context.Context, name string) error {
	m, err := d.load(name)
	if err != nil {
		return err
	}
	if _, alive := d.pid(name); alive {
		return nil
	}
	return d.boot(ctx, m)
}

// Stop powers the guest off cleanly (ACPI), killing QEMU if it has not exited in time.
func (d *Driver) Stop(ctx context.Context, name string) error {
	if err := d.markStopped(name); err != nil {
		return err
	}
	pid, alive := d.pid(name)
	if !alive {
		return nil
	}
	_, _ = d.monitor(name, "system_powerdown")
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if _, alive := d.pid(name); !alive {
			return nil
		}
		time.Sleep(250 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	return nil
}

func (d *Driver) Pause(ctx context.Context, name string) error {
	_, err := d.monitor(name, "stop")
	return err
}

func (d *Driver) Unpause(ctx context.Context, name string) error {
	_, err := d.monitor(name, "cont")
	return err
}

// markStopped records that devk stopped the VM (State tells it from a crash).
func (d *Driver) markStopped(name string) error {
	m, err := d.load(name)
	if err != nil {
		return err
	}
	m.Stopped = true
	return d.save(m)
}

// kill ends the VM's QEMU at once and waits (up to 2 s) for it to be gone.
func (d *Driver) kill(name string) {
	pid, alive := d.pid(name)
	if !alive {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 40; i++ {
		if _, alive := d.pid(name); !alive {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Delete kills the VM and removes its folder (disk overlay, key, logs).
func (d *Driver) Delete(ctx context.Context, name string) error {
	d.kill(name)
	if err := os.RemoveAll(d.dir(name)); err != nil {
		return fmt.Errorf("remove VM %s: %w", name, err)
	}
	return nil
}

// State tells a stopped VM (devk stopped it) from a crashed one (its process died).
func (d *Driver) State(ctx context.Context, name string) (driver.State, error) {
	m, err := d.load(name)
	if errors.Is(err, driver.ErrNotFound) {
		return driver.StateNonexistent, nil
	}
	if err != nil {
		return driver.StateError, err
	}
	if _, alive := d.pid(name); !alive {
		if m.Stopped {
			return driver.StateStopped, nil
		}
		return driver.StateError, nil
	}
	if out, err := d.monitor(name, "info status"); err == nil && strings.Contains(out, "paused") {
		return driver.StatePaused, nil
	}
	return driver.StateRunning, nil
}

// ForwardPort publishes a guest port on 127.0.0.1, on demand, through QEMU's monitor.
func (d *Driver) ForwardPort(ctx context.Context, name string, nodePort int) (int, error) {
	m, err := d.load(name)
	if err != nil {
		return 0, err
	}
	for _, p := range m.Ports {
		if p.NodePort == nodePort && (p.Protocol == "" || p.Protocol == "tcp") {
			return p.HostPort, nil
		}
	}
	hostPort, err := driver.FreePort()
	if err != nil {
		return 0, err
	}
	out, err := d.monitor(name, fmt.Sprintf("hostfwd_add n0 tcp:127.0.0.1:%d-:%d", hostPort, nodePort))
	if err != nil {
		return 0, err
	}
	if out != "" {
		return 0, fmt.Errorf("QEMU refused to forward port %d: %s", nodePort, out)
	}
	// Recorded so the forward is re-created when the VM boots again.
	m.Ports = append(m.Ports, driver.PortMapping{HostPort: hostPort, NodePort: nodePort, Protocol: "tcp"})
	return hostPort, d.save(m)
}

// HostNetwork is QEMU's user-mode network, where 10.0.2.2 connects to the host's
// loopback.
func (d *Driver) HostNetwork(context.Context) (driver.HostNetwork, error) {
	return driver.HostNetwork{FromNode: "10.0.2.2", OnHost: "127.0.0.1", NodeCIDR: "10.0.2.0/24"}, nil
}
