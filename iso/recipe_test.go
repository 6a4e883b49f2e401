package iso

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestNewRecipe(t *testing.T) {
	tests := []struct {
		in        string
		version   string
		minor     int
		wantErr   bool
		errDetail string
	}{
		{"", DefaultKubernetesVersion, mustRecipe(t, DefaultKubernetesVersion).Minor, false, ""},
		{"v1.34.4", "v1.34.4", 34, false, ""},
		{"v1.30.0", "v1.30.0", 30, false, ""},
		{"v1.33.6", "v1.33.6", 33, false, ""},
		{"v1.36.3", "v1.36.3", 36, false, ""},
		{"v1.100.0", "v1.100.0", 100, false, ""},
		{"v1.29.15", "", 0, true, "older than the oldest supported"},
		{"v1.0.0", "", 0, true, "older than the oldest supported"},
		{"1.34.4", "", 0, true, "not of the form"},
		{"v1.34", "", 0, true, "not of the form"},
		{"v1.34.4-rc.1", "", 0, true, "not of the form"},
		{"v1.34.4+k3s1", "", 0, true, "not of the form"},
		{"v2.0.0", "", 0, true, "not of the form"},
		{"V1.34.4", "", 0, true, "not of the form"},
		{" v1.34.4", "", 0, true, "not of the form"},
		{"v1.34.4\n", "", 0, true, "not of the form"},
		{"v1.34.x", "", 0, true, "not of the form"},
		{"latest", "", 0, true, "not of the form"},
		{"stable", "", 0, true, "not of the form"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := NewRecipe(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrBadVersion) {
					t.Fatalf("NewRecipe(%q) = %+v, %v; want ErrBadVersion", tt.in, r, err)
				}
				if !strings.Contains(err.Error(), tt.errDetail) {
					t.Errorf("error %q does not say %q", err, tt.errDetail)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewRecipe(%q): %v", tt.in, err)
			}
			if r.KubernetesVersion != tt.version || r.Minor != tt.minor {
				t.Errorf("NewRecipe(%q) = %+v, want version %s minor %d", tt.in, r, tt.version, tt.minor)
			}
		})
	}
}

func mustRecipe(t *testing.T, v string) Recipe {
	t.Helper()
	r, err := NewRecipe(v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

func TestRecipeHash(t *testing.T) {
	a, b := mustRecipe(t, "v1.34.4"), mustRecipe(t, "v1.34.4")
	if a.Hash() != b.Hash() || a.Hash() != a.Hash() {
		t.Errorf("Hash is not stable for the same version")
	}
	if !hex64.MatchString(a.Hash()) {
		t.Errorf("Hash = %q, want 64 hex digits", a.Hash())
	}
	seen := map[string]string{}
	for _, v := range []string{"v1.34.4", "v1.34.5", "v1.33.6", "v1.35.0"} {
		h := mustRecipe(t, v).Hash()
		if prev, dup := seen[h]; dup {
			t.Errorf("%s and %s share the hash %s", prev, v, h)
		}
		seen[h] = v
	}
	// The Kubernetes key follows the version; the root filesystem does not.
	if a.KubeKey() == mustRecipe(t, "v1.33.6").KubeKey() {
		t.Errorf("KubeKey ignores the version")
	}
	if RootfsKey() != RootfsKey() || !hex64.MatchString(RootfsKey()) {
		t.Errorf("RootfsKey unstable or malformed: %s", RootfsKey())
	}
	// Every component key is part of the node hash.
	keys := []string{RootfsKey(), a.KubeKey(), coreDNSKey(), containerdKey(), pauseKey()}
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[i] == keys[j] {
				t.Errorf("component keys %d and %d collide", i, j)
			}
		}
	}
}

func TestHashOfIsUnambiguous(t *testing.T) {
	// Length prefixes keep differently split inputs apart.
	tests := [][2][]string{
		{{"ab", "c"}, {"a", "bc"}},
		{{"a\n", "b"}, {"a", "\nb"}},
		{{"", "x"}, {"x", ""}},
		{{"x"}, {"x", ""}},
	}
	for _, tt := range tests {
		if HashOf(tt[0]...) == HashOf(tt[1]...) {
			t.Errorf("HashOf(%q) == HashOf(%q)", tt[0], tt[1])
		}
	}
}

func TestRecipeTag(t *testing.T) {
	tests := []struct {
		version string
		pattern string
	}{
		{"v1.34.4", `^devk/node:v1\.34\.4-[0-9a-f]{12}$`},
		{"v1.33.6", `^devk/node:v1\.33\.6-[0-9a-f]{12}$`},
	}
	for _, tt := range tests {
		r := mustRecipe(t, tt.version)
		tag := r.Tag()
		if !regexp.MustCompile(tt.pattern).MatchString(tag) {
			t.Errorf("Tag() = %q, want %s", tag, tt.pattern)
		}
		if !strings.HasSuffix(tag, "-"+r.Hash()[:12]) {
			t.Errorf("Tag() = %q does not end with the hash prefix %s", tag, r.Hash()[:12])
		}
		if _, err := name.NewTag(tag); err != nil {
			t.Errorf("Tag() = %q is not a valid reference: %v", tag, err)
		}
	}
}

func TestRecipeLdflags(t *testing.T) {
	got := mustRecipe(t, "v1.33.6").ldflags()
	for _, want := range []string{"-s -w", "k8s.io/component-base/version.gitVersion=v1.33.6", "version.gitMajor=1", "version.gitMinor=33", "version.gitTreeState=clean"} {
		if !strings.Contains(got, want) {
			t.Errorf("ldflags %q lack %q", got, want)
		}
	}
}

func TestPackages(t *testing.T) {
	pkgs := Packages()
	if len(pkgs) == 0 {
		t.Fatal("no packages")
	}
	for _, p := range pkgs {
		if p == "" || strings.ContainsAny(p, " \t#,") {
			t.Errorf("malformed package entry %q", p)
		}
	}
	sorted := slices.Clone(pkgs)
	slices.Sort(sorted)
	if len(slices.Compact(sorted)) != len(pkgs) {
		t.Errorf("duplicate packages in %v", pkgs)
	}
	// What the node and the preload step rely on.
	for _, need := range []string{"systemd", "containerd", "runc", "etcd-server", "busybox-static", "iptables", "docker.io"} {
		if !slices.Contains(pkgs, need) {
			t.Errorf("packages.txt lacks %s", need)
		}
	}
}

// TestKubeMainPerMinor: code that calls APIs newer than the minor is left out (v1.33
// lacks kubectl.GetLogVerbosity), and nothing else changes.
func TestKubeMainPerMinor(t *testing.T) {
	for _, tt := range []struct {
		version string
		want    bool
	}{{"v1.33.13", false}, {"v1.34.4", true}, {"v1.35.4", true}} {
		r, err := NewRecipe(tt.version)
		if err != nil {
			t.Fatal(err)
		}
		src := r.KubeMain()
		if got := strings.Contains(src, "GetLogVerbosity"); got != tt.want {
			t.Errorf("%s: GetLogVerbosity present = %v, want %v", tt.version, got, tt.want)
		}
		if strings.Contains(src, "devk:since") {
			t.Errorf("%s: a marker was left in the source", tt.version)
		}
		if got := strings.Contains(src, "\t\"k8s.io/component-base/logs\"\n"); got != tt.want {
			t.Errorf("%s: the logs import present = %v, want %v (an unused import does not compile)", tt.version, got, tt.want)
		}
		if got := strings.Contains(src, "NewKubeletCommand(context.Background())"); got != tt.want {
			t.Errorf("%s: NewKubeletCommand takes a context = %v, want %v (v1.34 added it)", tt.version, got, tt.want)
		}
		if n := strings.Count(src, `"kubelet":`); n != 1 {
			t.Errorf("%s: %d kubelet entries, want 1", tt.version, n)
		}
		if strings.Contains(src, "devk:before") {
			t.Errorf("%s: a marker was left in the source", tt.version)
		}
		if !strings.Contains(src, "NewDefaultKubectlCommand") {
			t.Errorf("%s: kubectl entry point missing", tt.version)
		}
	}
}

func TestCheckHostCgroup(t *testing.T) {
	for _, tc := range []struct {
		version string
		v2      bool
		refused bool
	}{
		{"v1.34.4", false, false},
		{"v1.37.2", false, false},
		{"v1.38.0", false, true},
		{"v1.38.0", true, false},
		{"v1.40.1", true, false},
	} {
		r, err := NewRecipe(tc.version)
		if err != nil {
			t.Fatal(err)
		}
		err = r.CheckHostCgroup(tc.v2)
		if (err != nil) != tc.refused || (err != nil && !errors.Is(err, ErrBadVersion)) {
			t.Errorf("%s on cgroup v2=%v: %v, want refused %v", tc.version, tc.v2, err, tc.refused)
		}
		if err != nil && !strings.Contains(err.Error(), "--kubernetes-version "+DefaultKubernetesVersion) {
			t.Errorf("the refusal does not say which version to use: %v", err)
		}
	}
}
