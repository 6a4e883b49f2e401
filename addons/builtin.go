package addons

import "github.com/devk-dev/devk/iso"

// Where addons keep data in the node: under /var, which is the node's volume, so it
// survives pod deletion and `devk stop`/`devk start`.
const (
	StoragePath      = "/var/lib/devk/storage"
	RegistryDataPath = "/var/lib/devk/registry"
	// RegistryPort is the registry's port in the node (localhost:5000 for the node's
	// containerd and dockerd).
	RegistryPort = 5000
)

// Builtin returns devk's built-in addons, in the order they are enabled. A new addon
// is one more entry here plus its template under manifests/ (and its program in
// programs.go when it needs an image built from Go sources; a default addon's images are
// preloaded in the node image, see Catalog.NodeImagePrograms).
func Builtin() Catalog {
	return Catalog{
		{
			Name:        "storage-provisioner",
			Description: "Provisions PersistentVolumes for claims, in the node's /var (rancher/local-path-provisioner)",
			Default:     true,
			Namespace:   "local-path-storage",
			Images:      map[string]iso.GoProgram{"Provisioner": LocalPathProvisioner()},
			Manifests:   []string{"storage-provisioner.yaml"},
			Health:      []Check{{Kind: DeploymentAvailable, Namespace: "local-path-storage", Name: "local-path-provisioner"}},
		},
		{
			Name:        "default-storageclass",
			Description: "StorageClass \"standard\", the default, served by storage-provisioner",
			Default:     true,
			Manifests:   []string{"default-storageclass.yaml"},
			Health:      []Check{{Kind: StorageClassExists, Name: "standard"}},
		},
		{
			Name:        "metrics-server",
			Description: "Resource metrics for `kubectl top` and HorizontalPodAutoscalers",
			Namespace:   "kube-system",
			Images:      map[string]iso.GoProgram{"MetricsServer": MetricsServer()},
			Manifests:   []string{"metrics-server.yaml"},
			Health: []Check{
				{Kind: DeploymentAvailable, Namespace: "kube-system", Name: "metrics-server"},
				{Kind: APIServiceAvailable, Name: "v1beta1.metrics.k8s.io"},
			},
		},
		{
			Name:        "ingress",
			Description: "Traefik Ingress controller on the node's ports 80 and 443 (default IngressClass \"traefik\")",
			Namespace:   "ingress",
			Images:      map[string]iso.GoProgram{"Traefik": Traefik()},
			Manifests:   []string{"ingress.yaml"},
			Health:      []Check{{Kind: DeploymentAvailable, Namespace: "ingress", Name: "traefik"}},
		},
		{
			Name:        "registry",
			Description: "Image registry at localhost:5000 in the node (docker push via docker-env, pulls by pods)",
			Namespace:   "kube-system",
			Images:      map[string]iso.GoProgram{"Registry": Registry()},
			Manifests:   []string{"registry.yaml"},
			Health:      []Check{{Kind: DeploymentAvailable, Namespace: "kube-system", Name: "registry"}},
		},
		Dashboard(),
	}
}
