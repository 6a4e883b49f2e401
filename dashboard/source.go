package dashboard

import (
	"embed"
	"io/fs"
)

// source is the package's own source and UI: the UI is served from it, and devk builds
// the dashboard's image from it (see Source).
//
//go:embed *.go ui devk-dashboard
var source embed.FS

// Where the dashboard runs in the cluster (the dashboard addon's manifest uses the same
// names) and how devk reaches it through the API server's service proxy.
const (
	Namespace   = "devk-dashboard"
	ServiceName = "dashboard"
	ServicePort = 80
	// ListenAddr is where the server listens in its pod.
	ListenAddr = ":8080"
)

// Module is the module path the image's throwaway module takes: the package's own
// import path, so the embedded files build unchanged outside the devk repository.
const Module = "github.com/devk-dev/devk/dashboard"

// MainPackage is the program the image runs.
const MainPackage = Module + "/devk-dashboard"

// imageRequires are the modules the dashboard imports, at the versions devk's own go.mod
// requires (TestImageRequiresMatchGoMod keeps them in step); `go mod tidy` adds the rest.
const imageRequires = `	k8s.io/api v0.37.2
	k8s.io/apimachinery v0.37.2
	k8s.io/client-go v0.37.2
	sigs.k8s.io/yaml v1.6.0
`

// Source is the dashboard's source tree as a module rooted at Module (without go.mod:
// GoMod is that). devk embeds it, so the image is built from exactly the code devk was
// built with, by a `go install`ed devk as well as from a checkout.
func Source() fs.FS { return source }

// GoMod is the go.mod of the module Source builds in.
func GoMod() string {
	return "module " + Module + "\n\ngo 1.24.0\n\nrequire (\n" + imageRequires + ")\n"
}
