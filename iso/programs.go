package iso

import "github.com/devk-dev/devk/dashboard"

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
func LocalPathProvisioner() GoProgram {
	return GoProgram{
		Name: "local-path-provisioner", Module: "github.com/rancher/local-path-provisioner", Version: LocalPathProvisionerVersion,
		Image: "docker.io/rancher/local-path-provisioner:" + LocalPathProvisionerVersion,
	}
}

// MetricsServer is sigs.k8s.io/metrics-server: the metrics-server addon.
func MetricsServer() GoProgram {
	return GoProgram{
		Name: "metrics-server", Module: "sigs.k8s.io/metrics-server", Version: MetricsServerVersion,
		Package: "sigs.k8s.io/metrics-server/cmd/metrics-server",
		Image:   "registry.k8s.io/metrics-server/metrics-server:" + MetricsServerVersion,
		Ldflags: []string{"-X", "k8s.io/client-go/pkg/version.gitVersion=" + MetricsServerVersion},
	}
}

// Traefik is the Traefik proxy: the ingress addon's controller.
func Traefik() GoProgram {
	return GoProgram{
		Name: "traefik", Module: "github.com/traefik/traefik/v3", Version: TraefikVersion,
		Package: "github.com/traefik/traefik/v3/cmd/traefik",
		Image:   "docker.io/library/traefik:" + TraefikVersion,
		Ldflags: []string{"-X", "github.com/traefik/traefik/v3/pkg/version.Version=" + TraefikVersion},
	}
}

// Registry is the CNCF distribution registry: the registry addon.
func Registry() GoProgram {
	return GoProgram{
		Name: "registry", Module: "github.com/distribution/distribution/v3", Version: RegistryVersion,
		Package: "github.com/distribution/distribution/v3/cmd/registry",
		Image:   "docker.io/library/registry:" + RegistryVersion[1:],
		Ldflags: []string{"-X", "github.com/distribution/distribution/v3/version.version=" + RegistryVersion},
	}
}

// Dashboard is devk's web dashboard (the dashboard package): the embedded source,
// built in a throwaway module named after the package (so its imports stay as they are)
// whose go.mod pins the Kubernetes modules devk itself uses.
func Dashboard() GoProgram {
	hash := SourceHash(dashboard.Source())
	version := "src-" + hash[:12]
	return GoProgram{
		Name: "devk-dashboard", Module: dashboard.Module, Version: version, Package: dashboard.MainPackage,
		Image:  "devk.dev/dashboard:" + version,
		Source: dashboard.Source(), GoMod: dashboard.GoMod(),
	}
}

// PreloadedPrograms are baked into the node image and imported at first boot: the
// images of the addons that are on by default, so a new cluster needs no build and no
// network for them.
func PreloadedPrograms() []GoProgram {
	return []GoProgram{LocalPathProvisioner()}
}

// OnDemandPrograms are baked into the node image but imported only when their addon is
// first enabled (at OnDemandImagesDir): devk's own dashboard works offline, and a node
// that never shows it does not pay for importing it at boot.
func OnDemandPrograms() []GoProgram {
	return []GoProgram{Dashboard()}
}

// OnDemandImagesDir is where the node keeps the archives of OnDemandPrograms.
const OnDemandImagesDir = "/usr/share/devk/images/on-demand"

// PreloadArchive is where a node image built by this devk keeps p's archive, if p is
// one of PreloadedPrograms; the node imports it at first boot.
func (p GoProgram) PreloadArchive() string { return PreloadedImagesDir + "/" + p.stem() + ".tar" }

// PreloadedImagesDir is where the node keeps the archives it imports at first boot.
const PreloadedImagesDir = "/usr/share/devk/images"

// NodeArchive is where a node image built by this devk keeps p's archive, if p is one
// of OnDemandPrograms.
func (p GoProgram) NodeArchive() string { return OnDemandImagesDir + "/" + p.stem() + ".tar" }
