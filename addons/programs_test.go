package addons

import (
	"slices"
	"strings"
	"testing"

	"github.com/devk-dev/devk/iso"
)

func TestProgramsAreDistinctAndComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range []iso.GoProgram{LocalPathProvisioner(), MetricsServer(), Traefik(), Registry()} {
		if seen[p.Name] || seen[p.Image] {
			t.Errorf("program %s or image %s appears twice", p.Name, p.Image)
		}
		seen[p.Name], seen[p.Image] = true, true
		if p.Module == "" || !strings.HasPrefix(p.Version, "v") || !strings.HasPrefix(p.MainPackage(), p.Module) {
			t.Errorf("program %+v is incomplete", p)
		}
	}
}

// The node image carries the default addons' images (preloaded) and the dashboard's (on
// first enable), in this order: the order is part of the node image's hash.
func TestNodeImagePrograms(t *testing.T) {
	p := Builtin().NodeImagePrograms()
	names := func(ps []iso.GoProgram) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	if got := names(p.Preload); !slices.Equal(got, []string{"local-path-provisioner"}) {
		t.Errorf("preloaded %v", got)
	}
	if got := names(p.OnDemand); !slices.Equal(got, []string{"devk-dashboard"}) {
		t.Errorf("on demand %v", got)
	}
}
