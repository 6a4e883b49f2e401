// Package docker runs a devk node as a Docker container that boots systemd
// ("Docker-in-Docker"), through the Docker Engine API.
package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"

	"github.com/devk-dev/devk/driver"
)

const (
	// NetworkName is the bridge network every devk node joins, so nodes keep a static IP.
	NetworkName = "devk"
	// LabelProfile marks every object devk creates with the profile it belongs to.
	LabelProfile = "dev.devk.profile"
	labelManaged = "dev.devk.managed"
	// LabelHome names the devk home (its ID) that created an object, so two DEVK_HOMEs on
	// one engine never act on each other's nodes.
	LabelHome = "dev.devk.home"
	// labelCgroupRoot records NodeSpec.CgroupRoot, and labelImage the node's image, on the
	// container and on its volume (which outlives a `docker rm`), for Delete.
	labelCgroupRoot = "dev.devk.cgroup-root"
	labelImage      = "dev.devk.image"
	// labelHelperFor marks a short-lived helper container (cgroup cleanup, snapshot
	// restore) with the profile it works for; with LabelHome it finds helpers that a
	// killed devk left before it could start or remove them.
	labelHelperFor = "dev.devk.helper-for"
)

// Driver implements driver.Driver with a Docker engine.
type Driver struct {
	api *client.Client
	// cgroupV2 tells how to give the node its cgroups; read from the engine.
	cgroupV2 *bool
	// engineID names the engine, for what the driver remembers about it.
	engineID string
	// stateDir is where the driver remembers engine facts between runs ("" = nowhere).
	stateDir string
	// homeID is the ID of the devk home this driver acts for (see LabelHome).
	homeID string
}

// New connects to the engine named by the environment (DOCKER_HOST and friends), the
// way the docker CLI does. stateDir, if not empty, is where the driver remembers what
// it learnt about an engine (that it refuses --privileged) between runs. homeID labels
// what this driver creates, and it acts only on objects that carry it.
func New(stateDir, homeID string) (*Driver, error) {
	return NewWithEnv(stateDir, homeID, os.Getenv)
}

// ActiveDockerdVar marks a shell that `devk docker-env` pointed at a node's dockerd, and
// BeforeHostVar keeps the DOCKER_HOST it had before (empty: the default engine).
const (
	ActiveDockerdVar = "DEVK_ACTIVE_DOCKERD"
	BeforeHostVar    = "DEVK_DOCKER_HOST_BEFORE"
)

// NewWithEnv is New reading the engine's settings through getenv. In a shell that
// `devk docker-env` pointed at a node, devk itself keeps using the engine from before:
// following DOCKER_HOST would lose every node, and create new ones inside a node.
func NewWithEnv(stateDir, homeID string, getenv func(string) string) (*Driver, error) {
	opts := []client.Opt{client.WithAPIVersionNegotiation()}
	if getenv(ActiveDockerdVar) != "" {
		if host := getenv(BeforeHostVar); host != "" {
			opts = append(opts, client.WithHost(host))
		}
	} else {
		opts = append(opts, client.FromEnv)
	}
	api, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return &Driver{api: api, stateDir: stateDir, homeID: homeID}, nil
}

// owned tells whether labels mark an object this home created for profile. Nodes made
// before devk labelled its home carry no home label; they are still the profile's.
func (d *Driver) owned(labels map[string]string, profile string) bool {
	if labels[labelManaged] != "true" || labels[LabelProfile] != profile {
		return false
	}
	home, ok := labels[LabelHome]
	return !ok || home == d.homeID
}

// foreign explains an object with a node's name that devk did not create here.
func foreign(kind, name string, labels map[string]string) error {
	owner := "no devk labels"
	if labels[labelManaged] == "true" {
		owner = fmt.Sprintf("devk profile %q of another DEVK_HOME", labels[LabelProfile])
	}
	return fmt.Errorf("%w: %s %s exists and was not created by this devk for profile %s (%s); devk leaves it alone: rename or remove it yourself, or use another profile name",
		driver.ErrForeign, kind, name, name, owner)
}

// privilegedRefusedMark is the file that says this engine refuses --privileged: trying
// first costs a failed container start (most of a second) on every create.
func (d *Driver) privilegedRefusedMark() string {
	if d.stateDir == "" || d.engineID == "" {
		return ""
	}
	return filepath.Join(d.stateDir, "privileged-refused-"+strings.NewReplacer(":", "_", "/", "_").Replace(d.engineID))
}

// API exposes the engine client to code that builds images for this driver.
func (d *Driver) API() *client.Client { return d.api }

func (d *Driver) Name() string { return "docker" }

// HostCgroupV2 says whether the engine's host uses cgroup v2; known once Preflight ran.
func (d *Driver) HostCgroupV2() (v2, known bool) {
	if d.cgroupV2 == nil {
		return false, false
	}
	return *d.cgroupV2, true
}

// ErrEngineUnreachable says the Docker engine is not installed or not running.
var ErrEngineUnreachable = errors.New("the Docker engine is not reachable")

// inspectTimeout bounds a container lookup: an engine that accepts connections and never
// answers would otherwise hang every command.
const inspectTimeout = 10 * time.Second

// engineError says what failed talking to the engine: unreachable (down, or no answer in
// time) gets the message start gives; an interrupt stays an interrupt.
func (d *Driver) engineError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if client.IsErrConnectionFailed(err) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w at %s (%v); start it (for example `dockerd &` or `systemctl start docker`) and retry", ErrEngineUnreachable, d.api.DaemonHost(), err)
	}
	return fmt.Errorf("docker engine at %s: %w", d.api.DaemonHost(), err)
}

func (d *Driver) Preflight(ctx context.Context) error {
	callCtx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	if _, err := d.api.Ping(callCtx); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w at %s (%v); start it (for example `dockerd &` or `systemctl start docker`) and retry", ErrEngineUnreachable, d.api.DaemonHost(), err)
	}
	ctx = callCtx
	info, err := d.api.Info(ctx)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrEngineUnreachable, err)
	}
	v2 := info.CgroupVersion == "2"
	d.cgroupV2 = &v2
	d.engineID = info.ID
	return nil
}

func (d *Driver) Create(ctx context.Context, spec driver.NodeSpec) (driver.Node, error) {
	if d.cgroupV2 == nil {
		if err := d.Preflight(ctx); err != nil {
			return nil, err
		}
	}
	ip, err := d.ensureNetwork(ctx)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{labelManaged: "true", LabelProfile: spec.Profile, LabelHome: d.homeID}
	for k, v := range spec.Labels {
		labels[k] = v
	}
	if spec.CgroupRoot != "" {
		labels[labelCgroupRoot] = spec.CgroupRoot
		labels[labelImage] = spec.Image
	}
	varVolume := spec.Name + "-var"
	// Creating a volume that exists returns it: someone else's would become the node's /var.
	if vol, err := d.api.VolumeInspect(ctx, varVolume); err == nil && !d.owned(vol.Labels, spec.Profile) {
		return nil, foreign("volume", varVolume, vol.Labels)
	}
	if _, err := d.api.VolumeCreate(ctx, volume.CreateOptions{Name: varVolume, Labels: labels}); err != nil {
		return nil, fmt.Errorf("create volume %s: %w", varVolume, err)
	}
	exposed, bindings, err := portSpecs(spec.Ports)
	if err != nil {
		return nil, err
	}
	cfg := &container.Config{
		Hostname:     spec.Name,
		Image:        spec.Image,
		Labels:       labels,
		ExposedPorts: exposed,
		Env:          []string{"container=docker"},
		// systemd stops cleanly on SIGRTMIN+3, not SIGTERM.
		StopSignal: "SIGRTMIN+3",
		Tty:        true, // systemd's console output goes to `docker logs`
	}
	host := NodeHostConfig(spec, *d.cgroupV2, true)
	host.PortBindings = bindings
	host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeVolume, Source: varVolume, Target: "/var"})
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		NetworkName: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip}},
	}}
	fallback := NodeHostConfig(spec, *d.cgroupV2, false)
	fallback.PortBindings = host.PortBindings
	fallback.Mounts = host.Mounts
	mark := d.privilegedRefusedMark()
	if _, err := os.Stat(mark); mark != "" && err == nil {
		host = fallback
	}
	var seed []byte
	if spec.Preseed != nil {
		if seed, err = spec.Preseed(ip); err != nil {
			return nil, err
		}
	}
	err = d.createAndStart(ctx, spec.Name, cfg, host, netCfg, seed)
	if errdefs.IsConflict(err) && d.removeUnstarted(ctx, spec.Name, spec.Profile) {
		// A start killed in its first second can leave the engine to finish creating the
		// container after the next start found none: that leftover never ran.
		err = d.createAndStart(ctx, spec.Name, cfg, host, netCfg, seed)
	}
	if err != nil {
		if !privilegedRefused(err) {
			return nil, err
		}
		// Engines whose root lacks some capabilities (rootless engines, sandboxes such
		// as our CI) refuse --privileged; the explicit capability set works there.
		_ = d.api.ContainerRemove(ctx, spec.Name, container.RemoveOptions{Force: true})
		if err := d.createAndStart(ctx, spec.Name, cfg, fallback, netCfg, seed); err != nil {
			return nil, err
		}
		if mark != "" && os.MkdirAll(d.stateDir, 0o755) == nil {
			_ = os.WriteFile(mark, nil, 0o644) // only a shortcut: losing it costs a retry
		}
	}
	return d.Node(ctx, spec.Name)
}

// createAndStart creates the node container, extracts seed (a tar archive, if any)
// into its root filesystem and starts it.
func (d *Driver) createAndStart(ctx context.Context, name string, cfg *container.Config, host *container.HostConfig, netCfg *network.NetworkingConfig, seed []byte) error {
	if _, err := d.api.ContainerCreate(ctx, cfg, host, netCfg, nil, name); err != nil {
		if errdefs.IsConflict(err) {
			return errdefs.Conflict(fmt.Errorf("a container named %s already exists; run `devk delete -p %s` or pick another profile: %w", name, name, err))
		}
		return fmt.Errorf("create node container %s: %w", name, err)
	}
	if len(seed) > 0 {
		if err := d.api.CopyToContainer(ctx, name, "/", bytes.NewReader(seed), container.CopyToContainerOptions{}); err != nil {
			return fmt.Errorf("write configuration into node container %s: %w", name, err)
		}
	}
	if err := d.api.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		return fmt.Errorf("start node container %s: %w", name, err)
	}
	return nil
}

// removeUnstarted removes this profile's container if it was created and never started,
// and reports whether it did.
func (d *Driver) removeUnstarted(ctx context.Context, name, profile string) bool {
	info, err := d.api.ContainerInspect(ctx, name)
	if err != nil || info.Config == nil || !d.owned(info.Config.Labels, profile) || info.State == nil || info.State.Status != "created" {
		return false
	}
	return d.api.ContainerRemove(ctx, name, container.RemoveOptions{Force: true}) == nil
}

func privilegedRefused(err error) bool {
	return err != nil && strings.Contains(err.Error(), "apply caps")
}

// NodeHostConfig is the container host configuration a node needs to run systemd,
// containerd and the kubelet (see shared FINDINGS). privileged=false gives the explicit
// capability set and devices for engines that refuse --privileged.
func NodeHostConfig(spec driver.NodeSpec, cgroupV2, privileged bool) *container.HostConfig {
	h := &container.HostConfig{
		SecurityOpt: []string{"seccomp=unconfined", "apparmor=unconfined", "label=disable"},
		Tmpfs:       map[string]string{"/run": "rw,exec", "/run/lock": "rw", "/tmp": "rw,exec"},
		Resources: container.Resources{
			Memory:   int64(spec.MemoryMB) * 1024 * 1024,
			NanoCPUs: int64(spec.CPUs) * 1e9,
		},
		Init: boolPtr(false),
	}
	// Kernel modules let the node load what kube-proxy and CNI need; absent on some hosts.
	if _, err := os.Stat("/lib/modules"); err == nil {
		h.Mounts = append(h.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/lib/modules", Target: "/lib/modules", ReadOnly: true})
	}
	// The user's folders (devk start --mount-string), for the life of the node.
	for _, m := range spec.Mounts {
		h.Mounts = append(h.Mounts, mount.Mount{Type: mount.TypeBind, Source: m.HostPath, Target: m.NodePath})
	}
	if cgroupV2 {
		h.CgroupnsMode = container.CgroupnsModePrivate
	} else {
		h.Mounts = append(h.Mounts, mount.Mount{Type: mount.TypeBind, Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"})
	}
	if privileged {
		h.Privileged = true
		return h
	}
	h.CapAdd = []string{"ALL"}
	h.CapDrop = []string{"SYS_RESOURCE"}
	for _, dev := range []string{"/dev/kmsg", "/dev/fuse"} {
		if _, err := os.Stat(dev); err == nil {
			h.Devices = append(h.Devices, container.DeviceMapping{PathOnHost: dev, PathInContainer: dev, CgroupPermissions: "rwm"})
		}
	}
	return h
}

func boolPtr(b bool) *bool { return &b }

// portSpecs publishes every mapping on 127.0.0.1 only. A zero host port is resolved to a
// free port now, so the port stays the same across stop and start.
func portSpecs(ports []driver.PortMapping) (nat.PortSet, nat.PortMap, error) {
	exposed := nat.PortSet{}
	bindings := nat.PortMap{}
	ports, err := driver.AssignFreePorts(ports)
	if err != nil {
		return nil, nil, err
	}
	for _, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, err := nat.NewPort(proto, strconv.Itoa(p.NodePort))
		if err != nil {
			return nil, nil, fmt.Errorf("port %d: %w", p.NodePort, err)
		}
		exposed[port] = struct{}{}
		bindings[port] = append(bindings[port], nat.PortBinding{HostIP: "127.0.0.1", HostPort: strconv.Itoa(p.HostPort)})
	}
	return exposed, bindings, nil
}

// subnets are tried in order, as minikube does, skipping ones the host already uses.
var subnets = []string{"192.168.49.0/24", "192.168.58.0/24", "192.168.67.0/24", "192.168.76.0/24", "192.168.85.0/24", "192.168.94.0/24"}

// ensureNetwork creates the devk network if needed and returns a free address on it.
func (d *Driver) ensureNetwork(ctx context.Context) (string, error) {
	ipnet, nw, err := d.ensureSubnet(ctx)
	if err != nil {
		return "", err
	}
	used := map[string]bool{}
	for _, c := range nw.Containers {
		used[strings.Split(c.IPv4Address, "/")[0]] = true
	}
	// Stopped containers keep their configured address but are not listed on the network.
	all, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelManaged+"=true"))})
	if err != nil {
		return "", fmt.Errorf("list devk containers: %w", err)
	}
	for _, c := range all {
		if c.NetworkSettings == nil {
			continue
		}
		if ep, ok := c.NetworkSettings.Networks[NetworkName]; ok && ep.IPAMConfig != nil {
			used[ep.IPAMConfig.IPv4Address] = true
		}
	}
	// .200 and up are left to LoadBalancer Services (the default --lb-range).
	for i := 2; i < 200; i++ {
		ip := nthIP(ipnet, i).String()
		if !used[ip] {
			return ip, nil
		}
	}
	return "", fmt.Errorf("docker network %s has no free address", NetworkName)
}

// ensureSubnet creates the devk network if needed and returns its subnet.
func (d *Driver) ensureSubnet(ctx context.Context) (*net.IPNet, network.Inspect, error) {
	nw, err := d.api.NetworkInspect(ctx, NetworkName, network.InspectOptions{})
	if errdefs.IsNotFound(err) {
		var lastErr error
		for _, subnet := range subnets {
			_, ipnet, _ := net.ParseCIDR(subnet)
			gw := nthIP(ipnet, 1)
			_, lastErr = d.api.NetworkCreate(ctx, NetworkName, network.CreateOptions{
				Driver: "bridge",
				IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: subnet, Gateway: gw.String()}}},
				Labels: map[string]string{labelManaged: "true"},
				Options: map[string]string{
					"com.docker.network.bridge.enable_ip_masquerade": "true",
					"com.docker.network.driver.mtu":                  "1500",
				},
			})
			if lastErr == nil || errdefs.IsConflict(lastErr) && strings.Contains(lastErr.Error(), "already exists") {
				break
			}
		}
		if lastErr != nil && !strings.Contains(lastErr.Error(), "already exists") {
			return nil, nw, fmt.Errorf("create docker network %s: %w", NetworkName, lastErr)
		}
		nw, err = d.api.NetworkInspect(ctx, NetworkName, network.InspectOptions{})
	}
	if err != nil {
		return nil, nw, fmt.Errorf("inspect docker network %s: %w", NetworkName, err)
	}
	if nw.Labels[labelManaged] != "true" {
		return nil, nw, fmt.Errorf("%w: docker network %s exists and was not created by devk; remove or rename it (`docker network rm %s`)", driver.ErrForeign, NetworkName, NetworkName)
	}
	if len(nw.IPAM.Config) == 0 {
		return nil, nw, fmt.Errorf("docker network %s has no subnet; remove it with `docker network rm %s`", NetworkName, NetworkName)
	}
	_, ipnet, err := net.ParseCIDR(nw.IPAM.Config[0].Subnet)
	if err != nil {
		return nil, nw, fmt.Errorf("docker network %s: %w", NetworkName, err)
	}
	return ipnet, nw, nil
}

func nthIP(n *net.IPNet, i int) net.IP {
	ip := n.IP.To4()
	out := make(net.IP, 4)
	copy(out, ip)
	out[3] += byte(i)
	return out
}

func (d *Driver) Node(ctx context.Context, name string) (driver.Node, error) {
	if _, err := d.inspect(ctx, name); err != nil {
		return nil, err
	}
	return &Node{api: d.api, name: name}, nil
}

// inspect returns the node container, refusing one this home did not create.
// Every command looks its node up here first, so this is where an engine that is down or
// hung is noticed: within inspectTimeout, as ErrEngineUnreachable.
func (d *Driver) inspect(ctx context.Context, name string) (container.InspectResponse, error) {
	callCtx, cancel := context.WithTimeout(ctx, inspectTimeout)
	defer cancel()
	info, err := d.api.ContainerInspect(callCtx, name)
	if errdefs.IsNotFound(err) {
		return info, fmt.Errorf("container %s: %w", name, driver.ErrNotFound)
	}
	if err != nil {
		return info, d.engineError(ctx, err)
	}
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
	}
	if !d.owned(labels, name) {
		return info, foreign("container", name, labels)
	}
	return info, nil
}

func (d *Driver) Start(ctx context.Context, name string) error {
	if _, err := d.inspect(ctx, name); err != nil {
		return err
	}
	if err := d.api.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("container %s: %w", name, driver.ErrNotFound)
		}
		return fmt.Errorf("start container %s: %w", name, err)
	}
	return nil
}

func (d *Driver) Stop(ctx context.Context, name string) error { return d.stopWithin(ctx, name, 10) }

// stopWithin sends the node's stop signal (systemd shuts down) and kills it after seconds.
func (d *Driver) stopWithin(ctx context.Context, name string, seconds int) error {
	if _, err := d.inspect(ctx, name); err != nil {
		return err
	}
	if err := d.api.ContainerStop(ctx, name, container.StopOptions{Timeout: &seconds}); err != nil {
		if errdefs.IsNotFound(err) {
			return fmt.Errorf("container %s: %w", name, driver.ErrNotFound)
		}
		return fmt.Errorf("stop container %s: %w", name, d.engineError(ctx, err))
	}
	return nil
}

func (d *Driver) Pause(ctx context.Context, name string) error {
	if _, err := d.inspect(ctx, name); err != nil {
		return err
	}
	if err := d.api.ContainerPause(ctx, name); err != nil {
		return fmt.Errorf("pause container %s: %w", name, err)
	}
	return nil
}

func (d *Driver) Unpause(ctx context.Context, name string) error {
	if _, err := d.inspect(ctx, name); err != nil {
		return err
	}
	if err := d.api.ContainerUnpause(ctx, name); err != nil {
		return fmt.Errorf("unpause container %s: %w", name, err)
	}
	return nil
}

// Delete removes the node container and its volume, and the shared network with the last
// node; objects with those names that this home did not create are left alone.
func (d *Driver) Delete(ctx context.Context, name string) error {
	info, err := d.inspect(ctx, name)
	if err != nil && !errors.Is(err, driver.ErrNotFound) {
		return err
	}
	if err := d.removeLeftHelpers(ctx, name); err != nil {
		return err
	}
	err = d.api.ContainerRemove(ctx, name, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", name, err)
	}
	vol, volErr := d.api.VolumeInspect(ctx, name+"-var")
	// The node's cgroups: known from the container, or from its volume when the container
	// was removed behind devk's back.
	labels := vol.Labels
	if info.Config != nil {
		labels = info.Config.Labels
	}
	if volErr == nil && !d.owned(vol.Labels, name) {
		labels = nil // not ours: nothing of it is trusted
	}
	root, image := labels[labelCgroupRoot], helperImage(info, labels[labelImage])
	if root != "" && image != "" {
		if err := d.removeHostCgroups(ctx, name, image, root); err != nil {
			return err
		}
	}
	if volErr == nil {
		if !d.owned(vol.Labels, name) {
			return foreign("volume", name+"-var", vol.Labels)
		}
		if err := d.api.VolumeRemove(ctx, name+"-var", true); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove volume %s-var: %w", name, err)
		}
	} else if !errdefs.IsNotFound(volErr) {
		return fmt.Errorf("inspect volume %s-var: %w", name, volErr)
	}
	// The shared network goes with the last node, if devk made it.
	left, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", labelManaged+"=true"))})
	if nw, nerr := d.api.NetworkInspect(ctx, NetworkName, network.InspectOptions{}); nerr == nil && nw.Labels[labelManaged] == "true" && err == nil && len(left) == 0 {
		if err := d.api.NetworkRemove(ctx, NetworkName); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove docker network %s: %w", NetworkName, err)
		}
	}
	return nil
}

// removeHostCgroups removes the pods' cgroups of a removed node on a cgroup v1 host, where
// they are folders in the host's hierarchies (under root) that no process uses any more. It
// runs in a short-lived container of the node's image, so it works for users who are not
// root on the host and for remote engines.
func (d *Driver) removeHostCgroups(ctx context.Context, name, image, root string) error {
	if d.cgroupV2 == nil {
		if err := d.Preflight(ctx); err != nil {
			return err
		}
	}
	if *d.cgroupV2 || !strings.HasPrefix(root, "/devk-") || strings.Contains(root, "..") {
		return nil
	}
	// The node's processes die with it, but not at once: retry for a few seconds.
	const script = `for i in $(seq 20); do for d in /sys/fs/cgroup/*"$1"; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} + 2>/dev/null; done; ` +
		`ls -d /sys/fs/cgroup/*"$1" >/dev/null 2>&1 || exit 0; sleep 0.25; done; exit 1`
	// The engine removes it when it exits (AutoRemove), even if devk is killed meanwhile.
	created, err := d.api.ContainerCreate(ctx, &container.Config{Image: image, Entrypoint: []string{"sh", "-c", script, "sh", root}, Labels: d.helperLabels(name)},
		&container.HostConfig{Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/sys/fs/cgroup", Target: "/sys/fs/cgroup"}}, NetworkMode: "none", AutoRemove: true}, nil, nil, "")
	if err != nil {
		return fmt.Errorf("remove the node's cgroups under %s: %w", root, err)
	}
	// Waiting for its removal is asked before the start, so the exit cannot be missed.
	waitC, errC := d.api.ContainerWait(ctx, created.ID, container.WaitConditionRemoved)
	if err := d.api.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		_ = d.api.ContainerRemove(context.WithoutCancel(ctx), created.ID, container.RemoveOptions{Force: true})
		return fmt.Errorf("remove the node's cgroups under %s: %w", root, err)
	}
	select {
	case res := <-waitC:
		if res.StatusCode != 0 {
			return fmt.Errorf("the node is removed but its cgroups under %s are still in use (exit %d); when its processes are gone, remove them as root with `find /sys/fs/cgroup/*%s -depth -type d -delete` and re-run delete", root, res.StatusCode, root)
		}
	case err := <-errC:
		return fmt.Errorf("remove the node's cgroups under %s: %w", root, err)
	}
	return nil
}

// helperImage is the image of a helper container for a node: the node's own image by ID,
// which the container keeps even if its name was removed since (docker rmi, a prune) or
// now names a rebuilt image; else the name it was created with (from its volume when the
// container is gone).
func helperImage(info container.InspectResponse, created string) string {
	if info.ContainerJSONBase != nil && info.Image != "" {
		return info.Image
	}
	if info.Config != nil && info.Config.Image != "" {
		return info.Config.Image
	}
	return created
}

func (d *Driver) helperLabels(profile string) map[string]string {
	return map[string]string{labelHelperFor: profile, LabelHome: d.homeID}
}

// removeLeftHelpers removes the helper containers of profile that a killed devk left:
// created and never started (AutoRemove never fires), or never removed. The caller holds
// the profile's lock, so no other devk command is using them.
func (d *Driver) removeLeftHelpers(ctx context.Context, profile string) error {
	left, err := d.api.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(
		filters.Arg("label", labelHelperFor+"="+profile), filters.Arg("label", LabelHome+"="+d.homeID))})
	if err != nil {
		return fmt.Errorf("list helper containers of %s: %w", profile, d.engineError(ctx, err))
	}
	for _, c := range left {
		if err := d.api.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove helper container %s of %s: %w", c.ID[:12], profile, err)
		}
	}
	return nil
}

func (d *Driver) State(ctx context.Context, name string) (driver.State, error) {
	info, err := d.inspect(ctx, name)
	if errors.Is(err, driver.ErrNotFound) {
		return driver.StateNonexistent, nil
	}
	if err != nil {
		return driver.StateError, err
	}
	switch {
	case info.State.Paused:
		return driver.StatePaused, nil
	case info.State.Running:
		return driver.StateRunning, nil
	case info.State.Status == "created":
		// Never started: what a create interrupted before its start leaves (perhaps with
		// settings this engine refuses). Create replaces it; the volume is kept.
		return driver.StateNonexistent, nil
	case info.State.Status == "exited":
		return driver.StateStopped, nil
	}
	return driver.StateError, nil
}

// Node is a node container.
type Node struct {
	api  *client.Client
	name string
}

func (n *Node) Name() string { return n.name }

func (n *Node) Exec(ctx context.Context, argv []string, opts driver.ExecOptions) error {
	created, err := n.api.ContainerExecCreate(ctx, n.name, container.ExecOptions{
		Cmd:          argv,
		AttachStdin:  opts.Stdin != nil,
		AttachStdout: true,
		AttachStderr: true,
		Tty:          opts.TTY,
	})
	if err != nil {
		return fmt.Errorf("exec %s in %s: %w", argv[0], n.name, err)
	}
	resp, err := n.api.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: opts.TTY})
	if err != nil {
		return fmt.Errorf("attach to %s in %s: %w", argv[0], n.name, err)
	}
	defer resp.Close()
	stdout, stderr := opts.Stdout, opts.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	var stderrBuf bytes.Buffer
	if stderr == nil {
		stderr = &limitedBuffer{buf: &stderrBuf, max: 4096}
	}
	inputDone := make(chan error, 1)
	if opts.Stdin != nil {
		go func() {
			_, err := io.Copy(resp.Conn, opts.Stdin)
			_ = resp.CloseWrite()
			inputDone <- err
		}()
	}
	outputDone := make(chan error, 1)
	go func() {
		var err error
		if opts.TTY {
			_, err = io.Copy(stdout, resp.Reader)
		} else {
			_, err = stdcopy.StdCopy(stdout, stderr, resp.Reader)
		}
		outputDone <- err
	}()
	select {
	case err := <-outputDone:
		if err != nil {
			return fmt.Errorf("read output of %s: %w", argv[0], err)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	if opts.Stdin != nil {
		select {
		case err := <-inputDone:
			if err != nil {
				return fmt.Errorf("write input of %s: %w", argv[0], err)
			}
		default:
		}
	}
	inspect, err := n.api.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return fmt.Errorf("inspect exec of %s: %w", argv[0], err)
	}
	if inspect.ExitCode != 0 {
		return &driver.ExitError{Argv: argv, Code: inspect.ExitCode, Stderr: strings.TrimSpace(stderrBuf.String())}
	}
	return nil
}

// limitedBuffer keeps the first max bytes of a command's standard error for the error message.
type limitedBuffer struct {
	buf *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := l.max - l.buf.Len(); room > 0 {
		if len(p) < room {
			room = len(p)
		}
		l.buf.Write(p[:room])
	}
	return len(p), nil
}

// CopyTo streams content through `cat` rather than the archive API: the archive API
// writes beneath tmpfs mounts such as /run instead of into them.
func (n *Node) CopyTo(ctx context.Context, content io.Reader, _ int64, path string, mode int64) error {
	if err := n.Exec(ctx, driver.CopyToArgv(path, mode), driver.ExecOptions{Stdin: content}); err != nil {
		return fmt.Errorf("copy to %s:%s: %w", n.name, path, err)
	}
	return nil
}

func (n *Node) CopyFrom(ctx context.Context, path string) (io.ReadCloser, error) {
	var out bytes.Buffer
	if err := n.Exec(ctx, []string{"cat", path}, driver.ExecOptions{Stdout: &out}); err != nil {
		return nil, fmt.Errorf("copy from %s:%s: %w", n.name, path, err)
	}
	return io.NopCloser(&out), nil
}

func (n *Node) IP(ctx context.Context) (string, error) {
	info, err := n.api.ContainerInspect(ctx, n.name)
	if err != nil {
		return "", fmt.Errorf("inspect container %s: %w", n.name, err)
	}
	if ep, ok := info.NetworkSettings.Networks[NetworkName]; ok && ep.IPAddress != "" {
		return ep.IPAddress, nil
	}
	return "", fmt.Errorf("container %s has no address on network %s (is it running?)", n.name, NetworkName)
}

func (n *Node) HostPort(ctx context.Context, nodePort int) (int, error) {
	info, err := n.api.ContainerInspect(ctx, n.name)
	if err != nil {
		return 0, fmt.Errorf("inspect container %s: %w", n.name, err)
	}
	// A stopped container has no live bindings; the configured ones are what it will get.
	bindings := info.HostConfig.PortBindings
	if info.NetworkSettings != nil && len(info.NetworkSettings.Ports) > 0 {
		bindings = info.NetworkSettings.Ports
	}
	for _, b := range bindings[nat.Port(fmt.Sprintf("%d/tcp", nodePort))] {
		if p, err := strconv.Atoi(b.HostPort); err == nil && p > 0 {
			return p, nil
		}
	}
	return 0, fmt.Errorf("node port %d of %s is not published on the host", nodePort, n.name)
}
