// Package addons declares devk's built-in addons (metadata, images and embedded manifest
// templates) and enables or disables them in a node: images are built from Go sources
// and loaded when the node lacks them, manifests are rendered and applied (and deleted)
// through the cluster's API, and enabling waits for the addon's health checks, read from
// the API too.
package addons

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"text/template"

	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/iso"
)

// Errors a user can act on; wrapped with details.
var (
	// ErrUnknown is a name that is not an addon (a usage error: it wraps cluster.ErrInvalid).
	ErrUnknown = fmt.Errorf("%w: unknown addon", cluster.ErrInvalid)
	// ErrUnhealthy means an addon was applied but did not pass its health checks in time.
	ErrUnhealthy = errors.New("addon did not become healthy")
)

//go:embed manifests
var manifests embed.FS

// Addon is one addon, as data: what it is, what it needs and how to tell it works.
type Addon struct {
	Name        string
	Description string
	// Default addons are enabled in every new profile.
	Default bool
	// Namespace is where the addon's workloads run.
	Namespace string
	// Images are built from Go sources and loaded into the node when it lacks them; the
	// templates see each one's reference as {{.Images.KEY}}.
	Images map[string]iso.GoProgram
	// Manifests are templates under manifests/, applied in order and deleted on disable.
	Manifests []string
	// Health checks pass once the addon does its job.
	Health []Check
	// InNodeImage ships the images of an addon that is not on by default in the node
	// image, imported on first enable (a default addon's images are preloaded anyway).
	InNodeImage bool
}

// ImageRefs lists the references of the addon's images, sorted.
func (a Addon) ImageRefs() []string {
	refs := []string{}
	for _, p := range a.Images {
		refs = append(refs, p.Image)
	}
	sort.Strings(refs)
	return refs
}

// ClusterInfo is what the templates need to know about the cluster they are applied to.
type ClusterInfo struct {
	NodeIP string
}

// Render renders the addon's manifests into one multi-document YAML stream. A key the
// templates use but the data lacks is an error, not an empty string.
func (a Addon) Render(info ClusterInfo) ([]byte, error) { return renderFS(manifests, a, info) }

func renderFS(fsys fs.FS, a Addon, info ClusterInfo) ([]byte, error) {
	images := map[string]string{}
	for k, p := range a.Images {
		images[k] = p.Image
	}
	data := map[string]any{
		"Name":             a.Name,
		"Namespace":        a.Namespace,
		"Images":           images,
		"NodeIP":           info.NodeIP,
		"APIServerPort":    cluster.APIServerPort,
		"BusyboxImage":     iso.BusyboxImage,
		"StoragePath":      StoragePath,
		"RegistryPort":     RegistryPort,
		"RegistryDataPath": RegistryDataPath,
	}
	var out bytes.Buffer
	for _, name := range a.Manifests {
		t, err := template.New(name).Option("missingkey=error").ParseFS(fsys, "manifests/"+name)
		if err != nil {
			return nil, fmt.Errorf("addon %s: parse %s: %w", a.Name, name, err)
		}
		var buf bytes.Buffer
		if err := t.Execute(&buf, data); err != nil {
			return nil, fmt.Errorf("addon %s: render %s: %w", a.Name, name, err)
		}
		if out.Len() > 0 {
			out.WriteString("---\n")
		}
		out.Write(bytes.TrimLeft(buf.Bytes(), "\n"))
	}
	return out.Bytes(), nil
}

// Catalog is the set of addons devk knows, in the order they are enabled.
type Catalog []Addon

// Names lists the addons' names in catalog order.
func (c Catalog) Names() []string {
	names := make([]string, len(c))
	for i, a := range c {
		names[i] = a.Name
	}
	return names
}

// Get returns the named addon, or an ErrUnknown error listing the available ones.
func (c Catalog) Get(name string) (Addon, error) {
	for _, a := range c {
		if a.Name == name {
			return a, nil
		}
	}
	return Addon{}, fmt.Errorf("%w %q: available addons are %s (see `devk addons list`)", ErrUnknown, name, strings.Join(c.Names(), ", "))
}

// Validate checks that every name is an addon.
func (c Catalog) Validate(names []string) error {
	for _, n := range names {
		if _, err := c.Get(n); err != nil {
			return err
		}
	}
	return nil
}

// Defaults lists the addons a new profile starts with.
func (c Catalog) Defaults() []string {
	var names []string
	for _, a := range c {
		if a.Default {
			names = append(names, a.Name)
		}
	}
	return names
}

// Select returns the named addons in catalog order (which is the order to enable them
// in), or an ErrUnknown error.
func (c Catalog) Select(names []string) ([]Addon, error) {
	if err := c.Validate(names); err != nil {
		return nil, err
	}
	var out []Addon
	for _, a := range c {
		if slices.Contains(names, a.Name) {
			out = append(out, a)
		}
	}
	return out, nil
}

// State is one row of `devk addons list`. Field names are stable.
type State struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Enabled     bool     `json:"enabled"`
	Default     bool     `json:"default"`
	Namespace   string   `json:"namespace"`
	Images      []string `json:"images"`
}

// States lists every addon with whether it is among enabled.
func (c Catalog) States(enabled []string) []State {
	out := make([]State, 0, len(c))
	for _, a := range c {
		out = append(out, State{Name: a.Name, Description: a.Description, Enabled: slices.Contains(enabled, a.Name),
			Default: a.Default, Namespace: a.Namespace, Images: a.ImageRefs()})
	}
	return out
}
