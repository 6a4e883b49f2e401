package addons

import (
	"github.com/devk-dev/devk/dashboard"
	"github.com/devk-dev/devk/iso"
)

// Dashboard is the dashboard addon: devk's own web dashboard (the dashboard package).
// Its image ships in the node image and is imported on first enable; a node image from
// another devk gets it built from the source devk embeds. Its image tag is the source's
// hash, so a devk with a changed dashboard loads and rolls out the new one.
func Dashboard() Addon {
	p := DashboardProgram()
	return Addon{
		Name:        "dashboard",
		Description: "devk's web dashboard: `devk dashboard` opens it (objects, live lists, logs, shells, port forwards, YAML apply)",
		Namespace:   dashboard.Namespace,
		Images:      map[string]iso.GoProgram{"Dashboard": p},
		Manifests:   []string{"dashboard.yaml"},
		Health:      []Check{{Kind: DeploymentAvailable, Namespace: dashboard.Namespace, Name: "dashboard"}},
		InNodeImage: true,
	}
}
