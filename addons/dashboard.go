package addons

import (
	"github.com/devk-dev/devk/dashboard"
	"github.com/devk-dev/devk/iso"
)

// Dashboard is the dashboard addon: devk's own web dashboard (the dashboard package),
// built on first enable from the source devk embeds and cached like the other addon
// images. Its image tag is the source's hash, so a devk with a changed dashboard loads
// and rolls out the new one.
func Dashboard() Addon {
	p := DashboardProgram()
	return Addon{
		Name:        "dashboard",
		Description: "devk's web dashboard: `devk dashboard` opens it (objects, live lists, logs, scale, restart)",
		Namespace:   dashboard.Namespace,
		Images:      map[string]iso.GoProgram{"Dashboard": p},
		Manifests:   []string{"dashboard.yaml"},
		Health:      []Check{{Kind: DeploymentAvailable, Namespace: dashboard.Namespace, Name: "dashboard"}},
	}
}

// DashboardProgram is the dashboard's image: the embedded source of the dashboard
// package, built in a throwaway module named after the package (so its imports stay as
// they are) whose go.mod pins the Kubernetes modules devk itself uses.
func DashboardProgram() iso.GoProgram {
	hash := iso.SourceHash(dashboard.Source())
	version := "src-" + hash[:12]
	return iso.GoProgram{
		Name: "devk-dashboard", Module: dashboard.Module, Version: version, Package: dashboard.MainPackage,
		Image:  "devk.dev/dashboard:" + version,
		Source: dashboard.Source(), GoMod: dashboard.GoMod(),
	}
}
