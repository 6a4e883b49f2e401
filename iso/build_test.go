package iso

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devk-dev/devk/internal/golden"
)

// TestGoModGolden checks the generated go.mods against small fake upstream ones: the
// multi-call binary's (k8s.io/kubernetes) and an addon program's; regenerate with
// `go test ./iso -run TestGoModGolden -update`.
func TestGoModGolden(t *testing.T) {
	prog := GoProgram{Name: "prog", Module: "example.com/prog/v3", Version: "v3.1.0", Package: "example.com/prog/v3/cmd/prog", Image: "example.com/prog:v3.1.0"}
	tests := []struct {
		in, golden string
		generate   func([]byte) (string, error)
		leaked     []string // local replacements that must not survive
	}{
		{"k8s-go.mod", "kube-go.mod", func(in []byte) (string, error) { return KubeGoMod(mustRecipe(t, "v1.34.4"), in) }, []string{"./staging", "example/forked"}},
		{"program-go.mod", "program-go.mod", func(in []byte) (string, error) { return ProgramGoMod(prog, in) }, []string{"./pkg/ext"}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata", tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tt.generate(in)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, filepath.Join("testdata", "golden", tt.golden), []byte(got))
			for _, l := range tt.leaked {
				if strings.Contains(got, l) {
					t.Errorf("replacement %s leaked into:\n%s", l, got)
				}
			}
		})
	}
}

// TestKubeGoModReal runs KubeGoMod on the real k8s.io/kubernetes v1.34.4 go.mod from the
// module cache, when it is there, and compares with the repository's golden file.
func TestKubeGoModReal(t *testing.T) {
	const rel = "cache/download/k8s.io/kubernetes/@v/v1.34.4.mod"
	candidates := []string{filepath.Join("/root/go/pkg/mod", rel)}
	if c := os.Getenv("GOMODCACHE"); c != "" {
		candidates = append([]string{filepath.Join(c, rel)}, candidates...)
	}
	var in []byte
	err := os.ErrNotExist
	for _, c := range candidates {
		if in, err = os.ReadFile(c); !errors.Is(err, os.ErrNotExist) {
			break
		}
	}
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("k8s.io/kubernetes v1.34.4 go.mod is not in the module cache")
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := KubeGoMod(mustRecipe(t, "v1.34.4"), in)
	if err != nil {
		t.Fatalf("KubeGoMod: %v", err)
	}
	golden.Assert(t, filepath.Join("..", "testdata", "kube-go.mod.golden"), []byte(got))
	// Every staging module k8s.io/kubernetes replaces is pinned to its published version.
	staging := strings.Count(string(in), "=> ./staging/src/")
	if pinned := strings.Count(got, " v0.34.4\n"); staging == 0 || pinned != staging {
		t.Errorf("%d staging replacements in, %d pinned out", staging, pinned)
	}
}

func TestKubeGoModErrors(t *testing.T) {
	r := mustRecipe(t, "v1.34.4")
	if _, err := KubeGoMod(r, []byte("module k8s.io/kubernetes\nrequire (\n")); err == nil || !strings.Contains(err.Error(), "parse k8s.io/kubernetes go.mod") {
		t.Errorf("KubeGoMod of a broken go.mod = %v", err)
	}
}

func TestCached(t *testing.T) {
	tests := []struct {
		name        string
		existing    bool
		produceErr  error
		wantProduce bool
		wantErr     bool
		wantContent string
	}{
		{"hit", true, nil, false, false, "old"},
		{"miss", false, nil, true, false, "new"},
		{"failure", false, errors.New("boom"), true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "artifact")
			if tt.existing {
				if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// A stale partial file from an interrupted build must never be taken as done,
			// and is removed once its process is gone (no process has pid 2^22+1).
			stale := path + ".partial-4194305"
			if err := os.WriteFile(stale, []byte("stale"), 0o644); err != nil {
				t.Fatal(err)
			}
			produced := false
			got, err := cached(path, func(tmp string) error {
				produced = true
				if tmp != fmt.Sprintf("%s.partial-%d", path, os.Getpid()) {
					t.Errorf("tmp = %s", tmp)
				}
				if _, err := os.Stat(stale); !os.IsNotExist(err) {
					t.Errorf("stale partial of a dead process not removed")
				}
				if _, err := os.Stat(tmp); !os.IsNotExist(err) {
					t.Errorf("stale %s not removed before produce", tmp)
				}
				if tt.produceErr != nil {
					os.WriteFile(tmp, []byte("half"), 0o644)
					return tt.produceErr
				}
				return os.WriteFile(tmp, []byte("new"), 0o644)
			})
			if produced != tt.wantProduce {
				t.Errorf("produce called = %v, want %v", produced, tt.wantProduce)
			}
			if tt.wantErr {
				if !errors.Is(err, tt.produceErr) {
					t.Errorf("cached = %q, %v; want %v", got, err, tt.produceErr)
				}
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Errorf("a failed build left %s", path)
				}
				if left, _ := filepath.Glob(path + ".partial*"); len(left) != 0 {
					t.Errorf("a failed build left %v", left)
				}
				return
			}
			if err != nil || got != path {
				t.Fatalf("cached = %q, %v", got, err)
			}
			if data, _ := os.ReadFile(path); string(data) != tt.wantContent {
				t.Errorf("content = %q, want %q", data, tt.wantContent)
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	var tb tailBuffer
	for i := 1; i <= 20; i++ {
		fmt.Fprintf(&tb, "line %d\n", i)
	}
	io.WriteString(&tb, "a\nb\n")
	io.WriteString(&tb, "  \n")
	if len(tb.lines) != 15 || tb.lines[0] != "line 9" {
		t.Errorf("tail = %q, want the last 15 lines", tb.lines)
	}
	if got := tb.last(); got != "b" {
		t.Errorf("last = %q, want the last line with text, b", got)
	}
}

// fakeEngine is an Engine holding images in memory.
type fakeEngine struct {
	labels map[string]string // ref -> recipe label
	loaded [][]byte
	err    error
}

func (e *fakeEngine) ImageRecipe(ctx context.Context, ref string) (string, error) {
	return e.labels[ref], e.err
}

func (e *fakeEngine) LoadImage(ctx context.Context, archive io.Reader) error {
	data, err := io.ReadAll(archive)
	if err != nil {
		return err
	}
	e.loaded = append(e.loaded, data)
	return e.err
}

func TestEnsureCacheHit(t *testing.T) {
	r := mustRecipe(t, DefaultKubernetesVersion)
	eng := &fakeEngine{labels: map[string]string{r.Tag(): r.Hash()}}
	b := &Builder{Engine: eng, CacheDir: t.TempDir()}
	tag, built, err := b.EnsureRecipe(context.Background(), r)
	if err != nil || built || tag != r.Tag() {
		t.Errorf("EnsureRecipe = %q, built=%v, %v; want a cache hit on %s", tag, built, err, r.Tag())
	}
	tag, err = b.Ensure(context.Background(), "")
	if err != nil || tag != r.Tag() {
		t.Errorf("Ensure(default) = %q, %v", tag, err)
	}
	if entries, _ := os.ReadDir(b.CacheDir); len(entries) != 0 {
		t.Errorf("a cache hit wrote to the cache dir")
	}
}

func TestEnsureErrors(t *testing.T) {
	engineDown := errors.New("engine down")
	tests := []struct {
		name    string
		version string
		engine  *fakeEngine
		want    error
	}{
		{"bad version", "1.34", &fakeEngine{}, ErrBadVersion},
		{"engine error", "v1.34.4", &fakeEngine{err: engineDown}, engineDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &Builder{Engine: tt.engine, CacheDir: t.TempDir()}
			if _, err := b.Ensure(context.Background(), tt.version); !errors.Is(err, tt.want) {
				t.Errorf("Ensure = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCustomizeHooksAreStable(t *testing.T) {
	hooks := customizeHooks()
	if len(hooks) == 0 {
		t.Fatal("no hooks")
	}
	for _, h := range hooks {
		if !strings.Contains(h, `"$1"`) {
			t.Errorf("hook %q does not work on the target root ($1)", h)
		}
	}
}

// TestFindDebianMirror reads apt sources of each kind a host may have.
func TestFindDebianMirror(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"Debian one-line", map[string]string{"etc/apt/sources.list": "deb http://ftp.de.debian.org/debian bookworm main\n"}, "http://ftp.de.debian.org/debian"},
		{"one-line with options", map[string]string{"etc/apt/sources.list": "# comment\ndeb [arch=amd64 signed-by=/usr/share/keyrings/d.gpg] https://mirror.example/debian/ bookworm main\n"}, "https://mirror.example/debian/"},
		{"Debian 12 deb822", map[string]string{"etc/apt/sources.list.d/debian.sources": "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\n"}, "http://deb.debian.org/debian"},
		{"security only is not a mirror", map[string]string{"etc/apt/sources.list": "deb http://security.debian.org/debian-security bookworm-security main\n"}, ""},
		{"Ubuntu", map[string]string{"etc/apt/sources.list.d/ubuntu.sources": "Types: deb\nURIs: http://archive.ubuntu.com/ubuntu/\nSuites: noble\n"}, ""},
		{"Fedora or Arch: no apt at all", map[string]string{"etc/os-release": "ID=fedora\n"}, ""},
		{"a backup file is not read", map[string]string{"etc/apt/sources.list.d/old.list.save": "deb http://old.example/debian bookworm main\n"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, tt.files)
			if got := FindDebianMirror(root); got != tt.want {
				t.Errorf("FindDebianMirror = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUserNamespaceProblem(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string // substrings; none means no problem
	}{
		{"ranges and a permissive kernel", map[string]string{"etc/subuid": "dev:100000:65536\n", "etc/subgid": "dev:100000:65536\n",
			"proc/sys/user/max_user_namespaces": "15000\n"}, nil},
		{"ranges by uid", map[string]string{"etc/subuid": "1000:100000:65536\n", "etc/subgid": "1000:100000:65536\n"}, nil},
		{"no subordinate ranges", map[string]string{"etc/subuid": "other:100000:65536\n"}, []string{"no range for dev in /etc/subuid", "/etc/subgid", "usermod --add-subuids"}},
		{"Debian kernel switch off", map[string]string{"etc/subuid": "dev:1:2\n", "etc/subgid": "dev:1:2\n", "proc/sys/kernel/unprivileged_userns_clone": "0\n"}, []string{"unprivileged_userns_clone is 0"}},
		{"Ubuntu AppArmor restriction", map[string]string{"etc/subuid": "dev:1:2\n", "etc/subgid": "dev:1:2\n", "proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1\n"}, []string{"apparmor_restrict_unprivileged_userns=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, tt.files)
			got := userNamespaceProblem(root, "dev", "1000")
			if (got == "") != (len(tt.want) == 0) {
				t.Fatalf("problem %q, want one mentioning %v", got, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("problem %q lacks %q", got, w)
				}
			}
		})
	}
}

// writeTree writes files (path relative to the root -> content) under a new root.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, data := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
