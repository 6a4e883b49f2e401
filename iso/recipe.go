// Package iso builds devk's node image: a Debian trixie root filesystem, Kubernetes
// compiled from its Go module, and preloaded images, assembled with go-containerregistry.
// Every input is hashed into the image tag, so an unchanged recipe is a cache hit.
package iso

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// DefaultKubernetesVersion is the newest release our end-to-end tests pass with, on
// cgroup v1 hosts too (from v1.35 the kubelet refuses cgroup v1 unless its
// failCgroupV1 is false, which devk sets).
const DefaultKubernetesVersion = "v1.37.2"

// NewestCgroupV1Minor is the newest minor verified on a cgroup v1 host. Upstream
// deprecated cgroup v1 in v1.35 and will remove it (KEP-5573): a newer minor is refused
// on such a host, with the way out.
const NewestCgroupV1Minor = 37

// CheckHostCgroup refuses a version that no longer runs on a cgroup v1 host.
func (r Recipe) CheckHostCgroup(cgroupV2 bool) error {
	if cgroupV2 || r.Minor <= NewestCgroupV1Minor {
		return nil
	}
	return fmt.Errorf("%w: %s needs a cgroup v2 host (Kubernetes removes cgroup v1 support after v1.%d) and this host uses cgroup v1; use --kubernetes-version %s or older, or boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1)",
		ErrBadVersion, r.KubernetesVersion, NewestCgroupV1Minor, DefaultKubernetesVersion)
}

// Versions of the other components built into the node.
const (
	CoreDNSVersion = "v1.12.1"
	// ContainerdVersion replaces Debian's containerd 1.7 in the node: image volumes
	// (a conformance test from Kubernetes v1.36) need containerd 2.1 or newer. v2.3 is
	// containerd's long-term-support line.
	ContainerdVersion = "v2.3.7"
	PauseTag          = "registry.k8s.io/pause:3.10.1"
	Suite             = "trixie"
	// ImageRepository is the local repository node images are tagged in.
	ImageRepository = "devk/node"
	// LabelRecipe carries the full recipe hash on the node image.
	LabelRecipe = "dev.devk.recipe"
	// recipeRevision changes whenever the assembly code changes what it produces.
	recipeRevision = "3"
)

//go:embed packages.txt kube/main.go.tmpl kube/lbpool/pool.go pause/main.go.tmpl coredns/main.go.tmpl
var sources embed.FS

//go:embed all:node
var nodeFiles embed.FS

var versionPattern = regexp.MustCompile(`^v1\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,3})$`)

// Recipe is one node image: a Kubernetes version and everything devk builds around it.
type Recipe struct {
	KubernetesVersion string
	Minor             int
	// Programs are the addon images the node image carries (the addons declare them).
	Programs Programs
}

// NewRecipe validates the version (vMAJOR.MINOR.PATCH, 1.30 or newer).
func NewRecipe(kubernetesVersion string) (Recipe, error) {
	if kubernetesVersion == "" {
		kubernetesVersion = DefaultKubernetesVersion
	}
	m := versionPattern.FindStringSubmatch(kubernetesVersion)
	if m == nil {
		return Recipe{}, fmt.Errorf("%w: %q is not of the form v1.MINOR.PATCH (for example %s)", ErrBadVersion, kubernetesVersion, DefaultKubernetesVersion)
	}
	minor, _ := strconv.Atoi(m[1])
	if minor < 30 {
		return Recipe{}, fmt.Errorf("%w: %s is older than the oldest supported minor, v1.30", ErrBadVersion, kubernetesVersion)
	}
	return Recipe{KubernetesVersion: kubernetesVersion, Minor: minor}, nil
}

// Packages lists the Debian packages of the root filesystem.
func Packages() []string {
	data, _ := sources.ReadFile("packages.txt")
	var pkgs []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			pkgs = append(pkgs, line)
		}
	}
	return pkgs
}

// RootfsKey identifies the root filesystem: the suite, the packages and the hooks.
func RootfsKey() string {
	return HashOf("rootfs", recipeRevision, Suite, strings.Join(Packages(), ","), strings.Join(customizeHooks(), "\n"))
}

// KubeKey identifies the Kubernetes multi-call binary.
func (r Recipe) KubeKey() string {
	return HashOf("kube", recipeRevision, r.KubernetesVersion, r.KubeMain(), mustRead(sources, "kube/lbpool/pool.go"))
}

func coreDNSKey() string {
	return HashOf("coredns", recipeRevision, CoreDNSVersion, mustRead(sources, "coredns/main.go.tmpl"))
}

func containerdKey() string {
	return HashOf("containerd", recipeRevision, ContainerdVersion, strings.Join(containerdCommands, ","), containerdLdflags())
}

func pauseKey() string {
	return HashOf("pause", recipeRevision, mustRead(sources, "pause/main.go.tmpl"))
}

// Hash is the hash of every input of the node image.
func (r Recipe) Hash() string {
	parts := []string{"node", recipeRevision, RootfsKey(), r.KubeKey(), coreDNSKey(), containerdKey(), pauseKey(), PauseTag}
	for _, p := range append(slices.Clone(r.Programs.Preload), r.Programs.OnDemand...) {
		parts = append(parts, p.Key())
	}
	var names []string
	_ = fs.WalkDir(nodeFiles, "node", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, path)
		}
		return nil
	})
	sort.Strings(names)
	for _, n := range names {
		parts = append(parts, n, mustRead(nodeFiles, n))
	}
	return HashOf(parts...)
}

// Tag is the node image's reference in the local engine.
func (r Recipe) Tag() string {
	return fmt.Sprintf("%s:%s-%s", ImageRepository, r.KubernetesVersion, r.Hash()[:12])
}

// HashOf hashes parts, each length-prefixed so no two lists hash alike.
func HashOf(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func mustRead(f embed.FS, name string) string {
	data, err := f.ReadFile(name)
	if err != nil {
		panic(err) // embedded at compile time: a missing file is a build defect
	}
	return string(data)
}

// ContainerdConfig is the node's containerd configuration as the image has it: devk also
// writes it at every start, so a node made by an older devk gets the current one.
func ContainerdConfig() []byte {
	return []byte(mustRead(nodeFiles, "node"+ContainerdConfigPath))
}

// ContainerdConfigPath is where the node's containerd reads its configuration.
const ContainerdConfigPath = "/etc/containerd/config.toml"
