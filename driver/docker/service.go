package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	"github.com/devk-dev/devk/driver"
)

// Labels of a shared service's container: which service, and the configuration it runs.
const (
	labelService    = "dev.devk.service"
	labelServiceKey = "dev.devk.service-key"
	labelServiceEnv = "dev.devk.service-env"
)

// ServiceContainer names a service's container: one per devk home, since two homes on
// one engine each have their own.
func (d *Driver) ServiceContainer(name string) string {
	id := d.homeID
	if len(id) > 8 {
		id = id[:8]
	}
	return "devk-" + name + "-" + id
}

// EnsureService runs the service's container on the devk network, where every node
// reaches it, with its ports published on 127.0.0.1 only. It restarts with the engine.
func (d *Driver) EnsureService(ctx context.Context, spec driver.ServiceSpec) (driver.ServiceEndpoint, error) {
	return d.ensureServiceOnce(ctx, spec, false)
}

// envKey identifies an environment.
func envKey(env []string) string {
	sum := sha256.Sum256([]byte(strings.Join(env, "\x00")))
	return hex.EncodeToString(sum[:])[:16]
}

func (d *Driver) ensureServiceOnce(ctx context.Context, spec driver.ServiceSpec, retried bool) (driver.ServiceEndpoint, error) {
	none := driver.ServiceEndpoint{}
	name := d.ServiceContainer(spec.Name)
	ip, env := "", spec.Env
	info, err := d.api.ContainerInspect(ctx, name)
	switch {
	case errdefs.IsNotFound(err):
	case err != nil:
		return none, d.engineError(ctx, fmt.Errorf("inspect %s: %w", name, err))
	case info.Config == nil || info.Config.Labels[labelService] != spec.Name || info.Config.Labels[LabelHome] != d.homeID:
		return none, fmt.Errorf("%w: container %s exists and was not created by this devk; devk leaves it alone: remove it yourself (`docker rm -f %s`)", driver.ErrForeign, name, name)
	default:
		if ep, ok := info.NetworkSettings.Networks[NetworkName]; ok && ep.IPAMConfig != nil {
			ip = ep.IPAMConfig.IPv4Address
		}
		// An empty Env keeps the environment the service runs with (see ServiceSpec).
		sameEnv := len(spec.Env) == 0 || info.Config.Labels[labelServiceEnv] == envKey(spec.Env)
		if info.Config.Labels[labelServiceKey] == spec.Key && sameEnv && ip != "" {
			running := info.State != nil && info.State.Running
			if running || d.api.ContainerStart(ctx, name, container.StartOptions{}) == nil {
				return driver.ServiceEndpoint{IP: ip, HostPorts: hostPorts(info.HostConfig)}, nil
			}
		}
		// Another configuration, or it will not start: replace it (its data and, unless
		// Env is given, its environment stay), and its image with it when that is older.
		if len(env) == 0 {
			env = info.Config.Env
		}
		if err := d.api.ContainerRemove(ctx, name, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
			return none, fmt.Errorf("replace %s: %w", name, err)
		}
		if old := info.Config.Image; old != spec.Image {
			defer func() { _, _ = d.api.ImageRemove(ctx, old, image.RemoveOptions{PruneChildren: true}) }()
		}
	}
	if ip == "" {
		if ip, err = d.ensureNetwork(ctx); err != nil {
			return none, err
		}
	}
	if err := d.ensureImage(ctx, spec); err != nil {
		return none, err
	}
	if spec.DataDir != "" {
		if err := os.MkdirAll(spec.DataDir, 0o755); err != nil {
			return none, fmt.Errorf("create %s: %w", spec.DataDir, err)
		}
	}
	cfg := &container.Config{
		Image: spec.Image,
		Cmd:   spec.Args,
		Env:   env,
		Labels: map[string]string{
			labelManaged: "true", LabelHome: d.homeID, labelService: spec.Name, labelServiceKey: spec.Key,
			labelServiceEnv: envKey(env),
		},
	}
	if uid := os.Getuid(); uid != 0 && !d.rootless(ctx) {
		// The data folder is in the user's home: files the service writes stay theirs.
		cfg.User = fmt.Sprintf("%d:%d", uid, os.Getgid())
	}
	host := &container.HostConfig{
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "2"}},
		// host.docker.internal: the host, for upstreams and proxies on it.
		ExtraHosts: []string{"host.docker.internal:host-gateway"},
	}
	if spec.DataDir != "" {
		host.Mounts = []mount.Mount{{Type: mount.TypeBind, Source: spec.DataDir, Target: spec.DataTarget}}
	}
	// Each port on 127.0.0.1 at a port picked now and kept, so it stays across restarts.
	var ports []driver.PortMapping
	for _, p := range spec.Ports {
		ports = append(ports, driver.PortMapping{NodePort: p})
	}
	if cfg.ExposedPorts, host.PortBindings, err = portSpecs(ports); err != nil {
		return none, err
	}
	netCfg := &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
		NetworkName: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: ip}},
	}}
	if _, err := d.api.ContainerCreate(ctx, cfg, host, netCfg, nil, name); err != nil {
		if errdefs.IsConflict(err) && !retried {
			// Another devk (a start of another profile) created it meanwhile.
			return d.ensureServiceOnce(ctx, spec, true)
		}
		return none, fmt.Errorf("create %s: %w", name, err)
	}
	if err := d.api.ContainerStart(ctx, name, container.StartOptions{}); err != nil {
		return none, fmt.Errorf("start %s: %w", name, err)
	}
	return driver.ServiceEndpoint{IP: ip, HostPorts: hostPorts(host)}, nil
}

// hostPorts reads back the ports a service publishes on 127.0.0.1.
func hostPorts(h *container.HostConfig) map[int]int {
	out := map[int]int{}
	if h == nil {
		return out
	}
	for port, bindings := range h.PortBindings {
		for _, b := range bindings {
			if hp, err := strconv.Atoi(b.HostPort); err == nil {
				out[port.Int()] = hp
			}
		}
	}
	return out
}

// rootless tells whether the engine runs as an ordinary user, whose root in a container
// is that user on the host.
func (d *Driver) rootless(ctx context.Context) bool {
	info, err := d.api.Info(ctx)
	if err != nil {
		return false
	}
	for _, opt := range info.SecurityOptions {
		if strings.Contains(opt, "name=rootless") {
			return true
		}
	}
	return false
}

// ensureImage loads the service's image into the engine if it lacks it.
func (d *Driver) ensureImage(ctx context.Context, spec driver.ServiceSpec) error {
	if _, err := d.api.ImageInspect(ctx, spec.Image); err == nil {
		return nil
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("inspect image %s: %w", spec.Image, err)
	}
	if spec.LoadImage == nil {
		return fmt.Errorf("image %s is missing and there is no way to build it", spec.Image)
	}
	archive, err := spec.LoadImage(ctx)
	if err != nil {
		return err
	}
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("load %s: %w", spec.Image, err)
	}
	defer f.Close()
	return d.LoadImage(ctx, f)
}

// ServiceExec runs argv in the service's container, starting it if it is stopped; a
// service that does not exist is driver.ErrNotFound.
func (d *Driver) ServiceExec(ctx context.Context, name string, argv []string) error {
	cname := d.ServiceContainer(name)
	info, err := d.api.ContainerInspect(ctx, cname)
	switch {
	case errdefs.IsNotFound(err):
		return fmt.Errorf("%s: %w", cname, driver.ErrNotFound)
	case err != nil:
		return d.engineError(ctx, fmt.Errorf("inspect %s: %w", cname, err))
	case info.Config == nil || info.Config.Labels[labelService] != name || info.Config.Labels[LabelHome] != d.homeID:
		return fmt.Errorf("%w: container %s was not created by this devk", driver.ErrForeign, cname)
	case info.State == nil || !info.State.Running:
		if err := d.api.ContainerStart(ctx, cname, container.StartOptions{}); err != nil {
			return fmt.Errorf("start %s: %w", cname, err)
		}
	}
	_, err = driver.Output(ctx, &Node{api: d.api, name: cname}, argv...)
	return err
}

// RemoveService removes the service's container; its data folder stays.
func (d *Driver) RemoveService(ctx context.Context, name string) error {
	cname := d.ServiceContainer(name)
	info, err := d.api.ContainerInspect(ctx, cname)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return d.engineError(ctx, fmt.Errorf("inspect %s: %w", cname, err))
	}
	if info.Config == nil || info.Config.Labels[labelService] != name || info.Config.Labels[LabelHome] != d.homeID {
		return nil // not ours
	}
	if err := d.api.ContainerRemove(ctx, cname, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", cname, err)
	}
	return nil
}

// HostNetwork is the devk network: its gateway is the host, as nodes see it and on the
// host alike.
func (d *Driver) HostNetwork(ctx context.Context) (driver.HostNetwork, error) {
	ipnet, _, err := d.ensureSubnet(ctx)
	if err != nil {
		return driver.HostNetwork{}, err
	}
	gw := nthIP(ipnet, 1).String()
	return driver.HostNetwork{FromNode: gw, OnHost: gw, NodeCIDR: ipnet.String()}, nil
}
