package addons

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/driver"
	"github.com/devk-dev/devk/iso"
)

// ImageBuilder builds a program's image archive (iso.Builder does, with a cache).
type ImageBuilder interface {
	GoImage(ctx context.Context, p iso.GoProgram) (archive string, err error)
	HasGoImage(p iso.GoProgram) bool
}

// Reporter shows progress: Step starts a phase, Done ends the last one started.
type Reporter interface {
	Step(name string)
	Done(err error)
}

// DefaultTimeout is how long enabling an addon waits for its health checks.
const DefaultTimeout = 3 * time.Minute

// Manager enables and disables addons. It implements cluster.AddonApplier, so a
// cluster start re-applies the profile's addons.
type Manager struct {
	Catalog Catalog
	Images  ImageBuilder
	Report  Reporter // nil means quiet
	// Timeout bounds the wait for each addon's health checks; zero means DefaultTimeout.
	Timeout time.Duration
}

func (m *Manager) step(name string, fn func() error) error {
	if m.Report == nil {
		return fn()
	}
	m.Report.Step(name)
	err := fn()
	m.Report.Done(err)
	return err
}

// Defaults lists the addons a new profile starts with.
func (m *Manager) Defaults() []string { return m.Catalog.Defaults() }

// PrebuildNeeded reports whether an optional addon's image is still to be built: what a
// first `addons enable` of it would otherwise wait for.
func (m *Manager) PrebuildNeeded() bool {
	for _, p := range m.Catalog.OptionalPrograms() {
		if !m.Images.HasGoImage(p) {
			return true
		}
	}
	return false
}

// Prebuild builds the optional addons' images the cache lacks, one after another, so
// that enabling one later only loads its image into the node.
func (m *Manager) Prebuild(ctx context.Context) error {
	for _, p := range m.Catalog.OptionalPrograms() {
		if _, err := m.Images.GoImage(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// Prepare makes the images of the profile's addons present in its node, asking the
// node for its images once for all of them.
func (m *Manager) Prepare(ctx context.Context, node driver.Node, prof *cluster.Profile) error {
	list, err := m.Catalog.Select(prof.Addons)
	if err != nil {
		return fmt.Errorf("profile %s: %w", prof.Name, err)
	}
	return m.ensureImages(ctx, node, list...)
}

// Apply applies the manifests of the profile's addons, in catalog order, after Prepare;
// the returned healthy checks their health, quietly, so it can run while Start waits
// for the rest of the cluster. Start calls both on every start, so what was enabled
// comes back on a recreated node too.
func (m *Manager) Apply(ctx context.Context, node driver.Node, api cluster.ManifestApplier, prof *cluster.Profile) (healthy func() error, err error) {
	list, err := m.Catalog.Select(prof.Addons)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", prof.Name, err)
	}
	info := ClusterInfo{NodeIP: prof.NodeIP}
	for _, a := range list {
		if err := m.step("Enabling addon "+a.Name, func() error {
			manifest, err := a.Render(info)
			if err != nil {
				return err
			}
			return applyManifest(ctx, api, a, manifest)
		}); err != nil {
			return nil, err
		}
	}
	return func() error {
		for _, a := range list {
			if err := m.waitHealthy(ctx, api, a); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// Enable makes the addon's images present in the node, applies its manifests and waits
// for its health checks.
func (m *Manager) Enable(ctx context.Context, node driver.Node, api cluster.ManifestApplier, info ClusterInfo, a Addon) error {
	return m.step("Enabling addon "+a.Name, func() error {
		if err := m.apply(ctx, node, api, info, a); err != nil {
			return err
		}
		return m.waitHealthy(ctx, api, a)
	})
}

// apply makes the addon's images present in the node and applies its manifests.
func (m *Manager) apply(ctx context.Context, node driver.Node, api cluster.ManifestApplier, info ClusterInfo, a Addon) error {
	manifest, err := a.Render(info) // a broken template fails before any build
	if err != nil {
		return err
	}
	if err := m.ensureImages(ctx, node, a); err != nil {
		return err
	}
	return applyManifest(ctx, api, a, manifest)
}

func applyManifest(ctx context.Context, api cluster.ManifestApplier, a Addon, manifest []byte) error {
	if err := api.Apply(ctx, manifest, "devk-addons"); err != nil {
		return fmt.Errorf("apply addon %s: %w", a.Name, err)
	}
	return nil
}

// Disable deletes what Enable applied (the addon's images stay in the node).
func (m *Manager) Disable(ctx context.Context, api cluster.ManifestApplier, info ClusterInfo, a Addon) error {
	manifest, err := a.Render(info)
	if err != nil {
		return err
	}
	return m.step("Disabling addon "+a.Name, func() error {
		if err := api.Delete(ctx, manifest); err != nil {
			return fmt.Errorf("delete addon %s: %w", a.Name, err)
		}
		return nil
	})
}

// ensureImages loads every image of the addons that the node lacks: from the node
// image's own archives where it ships them, else built (on a cache miss) and loaded.
func (m *Manager) ensureImages(ctx context.Context, node driver.Node, addons ...Addon) error {
	var have map[string]bool // asked once, for every addon
	for _, a := range addons {
		for _, key := range sortedKeys(a.Images) {
			p := a.Images[key]
			if have == nil {
				out, err := driver.Output(ctx, node, "ctr", "--namespace", "k8s.io", "images", "ls", "-q")
				if err != nil {
					return fmt.Errorf("list images in the node: %w", err)
				}
				have = map[string]bool{}
				for _, ref := range strings.Fields(out) {
					have[ref] = true
				}
			}
			if have[p.Image] {
				continue
			}
			// Preloaded by the node image at first boot, which may still be importing it.
			if _, err := driver.Output(ctx, node, "test", "-f", p.PreloadArchive()); err == nil {
				continue
			}
			// Shipped in the node image (InNodeImage): imported, not built.
			if _, err := driver.Output(ctx, node, "test", "-f", p.NodeArchive()); err == nil {
				if err := m.step("Importing "+p.Image+" from the node image", func() error {
					return runIn(ctx, node, nil, "ctr", "--namespace", "k8s.io", "images", "import", "--all-platforms", p.NodeArchive())
				}); err != nil {
					return fmt.Errorf("import %s in the node: %w", p.NodeArchive(), err)
				}
				continue
			}
			if m.Images == nil {
				return fmt.Errorf("%w: the node lacks %s and no image builder is configured", iso.ErrBuildFailed, p.Image)
			}
			archive, err := m.Images.GoImage(ctx, p)
			if err != nil {
				return err
			}
			if err := m.step("Loading "+p.Image+" into the node", func() error { return loadArchive(ctx, node, archive) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadArchive streams a docker archive into the node's containerd, in the namespace
// the kubelet (and the node's dockerd) use.
func loadArchive(ctx context.Context, node driver.Node, archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := runIn(ctx, node, f, "ctr", "--namespace", "k8s.io", "images", "import", "--all-platforms", "-"); err != nil {
		return fmt.Errorf("import %s into the node: %w", archive, err)
	}
	return nil
}

// waitHealthy polls the addon's checks until all pass or the timeout ends.
func (m *Manager) waitHealthy(ctx context.Context, api cluster.ManifestApplier, a Addon) error {
	timeout := m.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := checkAll(ctx, api, a.Health)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return ctx.Err()
			}
			return fmt.Errorf("%w: %s after %s: %v; see `kubectl get pods -n %s` and `kubectl describe` for why",
				ErrUnhealthy, a.Name, timeout, err, namespaceOr(a.Namespace, "kube-system"))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func checkAll(ctx context.Context, api cluster.ManifestApplier, checks []Check) error {
	for _, c := range checks {
		apiVersion, kind := c.object()
		if kind == "" {
			return fmt.Errorf("unknown health check kind %q", c.Kind)
		}
		obj, err := api.Get(ctx, apiVersion, kind, c.Namespace, c.Name)
		if err != nil {
			return fmt.Errorf("%s: %v", c, err)
		}
		if err := c.evaluate(c.observe(obj)); err != nil {
			return err
		}
	}
	return nil
}

// runIn runs argv in the node with stdin, returning the command's standard error in
// the error.
func runIn(ctx context.Context, node driver.Node, stdin io.Reader, argv ...string) error {
	var stderr bytes.Buffer
	err := node.Exec(ctx, argv, driver.ExecOptions{Stdin: stdin, Stderr: &stderr})
	if err != nil && stderr.Len() > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return err
}

func namespaceOr(ns, def string) string {
	if ns == "" {
		return def
	}
	return ns
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// EnableOnProfile enables the addon on the profile's running cluster and remembers it
// in the profile, holding the profile's lock.
func (m *Manager) EnableOnProfile(ctx context.Context, c *cluster.Manager, profile, name string) error {
	return m.onProfile(ctx, c, profile, name, func(node driver.Node, prof *cluster.Profile, a Addon) error {
		api, err := c.Applier(prof)
		if err != nil {
			return err
		}
		if err := m.Enable(ctx, node, api, ClusterInfo{NodeIP: prof.NodeIP}, a); err != nil {
			return err
		}
		if !slices.Contains(prof.Addons, a.Name) {
			prof.Addons = append(prof.Addons, a.Name)
		}
		return nil
	})
}

// DisableOnProfile disables the addon on the profile's running cluster and forgets it.
func (m *Manager) DisableOnProfile(ctx context.Context, c *cluster.Manager, profile, name string) error {
	return m.onProfile(ctx, c, profile, name, func(node driver.Node, prof *cluster.Profile, a Addon) error {
		api, err := c.Applier(prof)
		if err != nil {
			return err
		}
		if err := m.Disable(ctx, api, ClusterInfo{NodeIP: prof.NodeIP}, a); err != nil {
			return err
		}
		prof.Addons = slices.DeleteFunc(prof.Addons, func(n string) bool { return n == a.Name })
		return nil
	})
}

func (m *Manager) onProfile(ctx context.Context, c *cluster.Manager, profile, name string, fn func(driver.Node, *cluster.Profile, Addon) error) error {
	a, err := m.Catalog.Get(name)
	if err != nil {
		return err
	}
	unlock, err := c.Home.Lock(profile)
	if err != nil {
		return err
	}
	defer unlock()
	node, prof, err := c.RunningNode(ctx, profile)
	if err != nil {
		return err
	}
	if err := fn(node, prof, a); err != nil {
		return err
	}
	return c.Home.Save(prof)
}
