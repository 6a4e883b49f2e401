package addons

import (
	"github.com/devk-dev/devk/dashboard"
	"github.com/devk-dev/devk/iso"
)

// Versions of the programs devk builds for its addons (each checked on the Go module
// proxy; a version whose module needs local replacements cannot be built from the proxy,
// which is why Traefik stays on 3.6: 3.7 replaces a nested module by a local path).
const (
	LocalPathProvisionerVersion = "v0.0.30"
	MetricsServerVersion        = "v0.9.0"
	TraefikVersion              = "v3.6.12"
	RegistryVersion             = "v3.1.2"
)

// LocalPathProvisioner is rancher/local-path-provisioner: the storage-provisioner addon.
func LocalPathProvisioner() iso.GoProgram {
	return iso.GoProgram{
		Name: "local-path-provisioner", Module: "github.com/rancher/local-path-provisioner", Version: LocalPathProvisionerVersion,
		Image: "docker.io/rancher/local-path-provisioner:" + LocalPathProvisionerVersion,
	}
}

// MetricsServer is sigs.k8s.io/metrics-server: the metrics-server addon.
func MetricsServer() iso.GoProgram {
	return iso.GoProgram{
		Name: "metrics-server", Module: "sigs.k8s.io/metrics-server", Version: MetricsServerVersion,
		Package: "sigs.k8s.io/metrics-server/cmd/metrics-server",
		Image:   "registry.k8s.io/metrics-server/metrics-server:" + MetricsServerVersion,
		Ldflags: []string{"-X", "k8s.io/client-go/pkg/version.gitVersion=" + MetricsServerVersion},
	}
}

// Traefik is the Traefik proxy: the ingress addon's controller.
func Traefik() iso.GoProgram {
	return iso.GoProgram{
		Name: "traefik", Module: "github.com/traefik/traefik/v3", Version: TraefikVersion,
		Package: "github.com/traefik/traefik/v3/cmd/traefik",
		Image:   "docker.io/library/traefik:" + TraefikVersion,
		Ldflags: []string{"-X", "github.com/traefik/traefik/v3/pkg/version.Version=" + TraefikVersion},
	}
}

// Registry is the CNCF distribution registry: the registry addon.
func Registry() iso.GoProgram {
	return iso.GoProgram{
		Name: "registry", Module: "github.com/distribution/distribution/v3", Version: RegistryVersion,
		Package: "github.com/distribution/distribution/v3/cmd/registry",
		Image:   "docker.io/library/registry:" + RegistryVersion[1:],
		Ldflags: []string{"-X", "github.com/distribution/distribution/v3/version.version=" + RegistryVersion},
	}
}

// DashboardProgram is devk's web dashboard (the dashboard package): the embedded source,
// built in a throwaway module named after the package (so its imports stay as they are)
// whose go.mod pins the Kubernetes modules devk itself uses.
func DashboardProgram() iso.GoProgram {
	hash := iso.SourceHash(dashboard.Source())
	version := "src-" + hash[:12]
	var assets []iso.Asset
	for _, a := range dashboard.UIAssets {
		assets = append(assets, iso.Asset{URL: a.URL, Integrity: a.Integrity, Files: a.Files})
	}
	return iso.GoProgram{
		Name: "devk-dashboard", Module: dashboard.Module, Version: version, Package: dashboard.MainPackage,
		Image:  "devk.dev/dashboard:" + version,
		Source: dashboard.Source(), GoMod: dashboard.GoMod(), Assets: assets,
	}
}

// OptionalPrograms are the images of the addons that are neither on by default nor
// shipped in the node image: the ones a first `addons enable` builds from source.
func (c Catalog) OptionalPrograms() []iso.GoProgram {
	var out []iso.GoProgram
	for _, a := range c {
		if a.Default || a.InNodeImage {
			continue
		}
		for _, key := range sortedKeys(a.Images) {
			out = append(out, a.Images[key])
		}
	}
	return out
}

// NodeImagePrograms are the images the node image carries for the catalog's addons: the
// default addons' images, imported at first boot, and those of addons marked
// InNodeImage, imported on first enable.
func (c Catalog) NodeImagePrograms() iso.Programs {
	var p iso.Programs
	for _, a := range c {
		for _, key := range sortedKeys(a.Images) {
			switch {
			case a.Default:
				p.Preload = append(p.Preload, a.Images[key])
			case a.InNodeImage:
				p.OnDemand = append(p.OnDemand, a.Images[key])
			}
		}
	}
	return p
}
