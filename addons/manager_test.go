package addons

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/driver"
	"github.com/devk-dev/devk/iso"
)

// fakeNode answers the commands addons run in a node: ctr image lists and imports.
type fakeNode struct {
	mu     sync.Mutex
	images map[string]bool
	calls  []string
	failOn string
	// archives are image archives in the node's file system: path -> image they hold.
	archives map[string]string
}

func (n *fakeNode) Name() string { return "fake" }

func (n *fakeNode) Exec(ctx context.Context, argv []string, opts driver.ExecOptions) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	line := strings.Join(argv, " ")
	n.calls = append(n.calls, line)
	if n.failOn != "" && strings.Contains(line, n.failOn) {
		return &driver.ExitError{Argv: argv, Code: 1, Stderr: "boom"}
	}
	var in string
	if opts.Stdin != nil {
		data, _ := io.ReadAll(opts.Stdin)
		in = string(data)
	}
	out := opts.Stdout
	if out == nil {
		out = io.Discard
	}
	switch {
	case argv[0] == "test":
		if _, ok := n.archives[argv[len(argv)-1]]; !ok {
			return &driver.ExitError{Argv: argv, Code: 1}
		}
	case argv[0] == "ctr" && slices.Contains(argv, "import") && argv[len(argv)-1] != "-":
		ref, ok := n.archives[argv[len(argv)-1]]
		if !ok {
			return &driver.ExitError{Argv: argv, Code: 1, Stderr: "no such file"}
		}
		n.images[ref] = true
	case argv[0] == "ctr" && slices.Contains(argv, "ls"):
		for ref, present := range n.images {
			if present {
				io.WriteString(out, ref+"\n")
			}
		}
	case argv[0] == "ctr" && slices.Contains(argv, "import"):
		// The fake archive is a manifest.json naming its image, as a docker archive has.
		_, rest, _ := strings.Cut(in, `"RepoTags":["`)
		ref, _, _ := strings.Cut(rest, `"`)
		n.images[ref] = true
	}
	return nil
}

func (n *fakeNode) CopyTo(context.Context, io.Reader, int64, string, int64) error { return nil }
func (n *fakeNode) CopyFrom(context.Context, string) (io.ReadCloser, error)       { return nil, nil }
func (n *fakeNode) IP(context.Context) (string, error)                            { return "172.30.0.2", nil }
func (n *fakeNode) HostPort(context.Context, int) (int, error)                    { return 0, nil }

// fakeAPI records the manifests applied and deleted, and serves objects for the health
// checks from health (kind, name -> the object's fields; nil: not found).
type fakeAPI struct {
	applied []string
	deleted []string
	err     error
	health  func(kind, name string) map[string]any
}

func (a *fakeAPI) Apply(ctx context.Context, manifest []byte, fieldManager string) error {
	if a.err != nil {
		return a.err
	}
	a.applied = append(a.applied, fieldManager+": "+string(manifest))
	return nil
}

func (a *fakeAPI) Delete(ctx context.Context, manifest []byte) error {
	if a.err != nil {
		return a.err
	}
	a.deleted = append(a.deleted, string(manifest))
	return nil
}

func (a *fakeAPI) Get(ctx context.Context, apiVersion, kind, namespace, name string) (*unstructured.Unstructured, error) {
	health := a.health
	if health == nil {
		health = allHealthy
	}
	obj := health(kind, name)
	if obj == nil {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: strings.ToLower(kind)}, name)
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetName(name)
	return u, nil
}

// fakeBuilder writes an "archive" that names the image, as a docker archive would.
type fakeBuilder struct {
	dir   string
	built []string
	err   error
}

func (b *fakeBuilder) HasGoImage(p iso.GoProgram) bool {
	_, err := os.Stat(filepath.Join(b.dir, p.Name+".tar"))
	return err == nil
}

func (b *fakeBuilder) GoImage(ctx context.Context, p iso.GoProgram) (string, error) {
	if b.err != nil {
		return "", b.err
	}
	b.built = append(b.built, p.Name)
	path := filepath.Join(b.dir, p.Name+".tar")
	return path, os.WriteFile(path, []byte(`[{"RepoTags":["`+p.Image+`"]}]`), 0o644)
}

// allHealthy is a cluster where every addon object is as its health check wants it.
func allHealthy(kind, name string) map[string]any {
	switch kind {
	case "Deployment":
		return map[string]any{"metadata": map[string]any{"generation": int64(2)},
			"status": map[string]any{"observedGeneration": int64(2), "updatedReplicas": int64(1), "availableReplicas": int64(1)}}
	case "StorageClass":
		return map[string]any{}
	case "APIService":
		return map[string]any{"status": map[string]any{"conditions": []any{map[string]any{"type": "Available", "status": "True"}}}}
	}
	return nil
}
func TestEnable(t *testing.T) {
	ms, _ := Builtin().Get("metrics-server")
	sp, _ := Builtin().Get("storage-provisioner")
	tests := []struct {
		name      string
		addon     Addon
		preloaded bool
		wantBuilt []string
	}{
		{"image missing: built and loaded", ms, false, []string{"metrics-server"}},
		{"image present: no build", sp, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := &fakeNode{images: map[string]bool{}}
			if tt.preloaded {
				for _, ref := range tt.addon.ImageRefs() {
					node.images[ref] = true
				}
			}
			b := &fakeBuilder{dir: t.TempDir()}
			m := &Manager{Catalog: Builtin(), Images: b, Timeout: time.Second}
			api := &fakeAPI{}
			if err := m.Enable(context.Background(), node, api, ClusterInfo{NodeIP: "172.30.0.2"}, tt.addon); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(b.built, tt.wantBuilt) {
				t.Errorf("built %v, want %v", b.built, tt.wantBuilt)
			}
			for _, ref := range tt.addon.ImageRefs() {
				if !node.images[ref] {
					t.Errorf("%s not loaded into the node", ref)
				}
			}
			want, _ := tt.addon.Render(ClusterInfo{NodeIP: "172.30.0.2"})
			if len(api.applied) != 1 || api.applied[0] != "devk-addons: "+string(want) {
				t.Errorf("applied %d manifests; want the rendered one, applied by devk-addons", len(api.applied))
			}
		})
	}
}

// TestEnableImportsFromNodeImage: an image the node image ships (the dashboard's) is
// imported in the node, not built on the host.
func TestEnableImportsFromNodeImage(t *testing.T) {
	d := Dashboard()
	p := d.Images["Dashboard"]
	node := &fakeNode{images: map[string]bool{}, archives: map[string]string{p.NodeArchive(): p.Image}}
	b := &fakeBuilder{dir: t.TempDir()}
	m := &Manager{Catalog: Builtin(), Images: b, Timeout: time.Second}
	if err := m.Enable(context.Background(), node, &fakeAPI{}, ClusterInfo{NodeIP: "172.30.0.2"}, d); err != nil {
		t.Fatal(err)
	}
	if len(b.built) > 0 || !node.images[p.Image] {
		t.Errorf("built %v, image in the node %v; want it imported from %s", b.built, node.images[p.Image], p.NodeArchive())
	}
}

// TestPrepare: one image list for every addon; an image the node image preloads at first
// boot is left to that preload even while it is still importing, and nothing is built.
func TestPrepare(t *testing.T) {
	sp, _ := Builtin().Get("storage-provisioner")
	p := sp.Images["Provisioner"]
	node := &fakeNode{images: map[string]bool{}, archives: map[string]string{p.PreloadArchive(): p.Image}}
	b := &fakeBuilder{dir: t.TempDir()}
	m := &Manager{Catalog: Builtin(), Images: b}
	prof := &cluster.Profile{Name: "p", Addons: []string{"storage-provisioner", "default-storageclass", "metrics-server"}}
	if err := m.Prepare(context.Background(), node, prof); err != nil {
		t.Fatal(err)
	}
	lists := 0
	for _, c := range node.calls {
		if strings.HasPrefix(c, "ctr --namespace k8s.io images ls") {
			lists++
		}
	}
	if lists != 1 {
		t.Errorf("listed the node's images %d times, want once", lists)
	}
	if !slices.Equal(b.built, []string{"metrics-server"}) || node.images[p.Image] {
		t.Errorf("built %v (want only metrics-server); provisioner imported by devk: %v", b.built, node.images[p.Image])
	}
}

func TestEnableUnhealthyTimesOut(t *testing.T) {
	ms, _ := Builtin().Get("metrics-server")
	node := &fakeNode{images: map[string]bool{ms.ImageRefs()[0]: true}}
	api := &fakeAPI{health: func(kind, name string) map[string]any {
		if kind == "APIService" {
			return map[string]any{"status": map[string]any{"conditions": []any{map[string]any{"type": "Available", "status": "False"}}}}
		}
		return allHealthy(kind, name)
	}}
	m := &Manager{Catalog: Builtin(), Timeout: 700 * time.Millisecond}
	err := m.Enable(context.Background(), node, api, ClusterInfo{}, ms)
	if !errors.Is(err, ErrUnhealthy) || !strings.Contains(err.Error(), "apiservice v1beta1.metrics.k8s.io") {
		t.Fatalf("err = %v, want ErrUnhealthy naming the failing check", err)
	}
}

func TestEnableBuildFailure(t *testing.T) {
	ms, _ := Builtin().Get("metrics-server")
	node := &fakeNode{images: map[string]bool{}}
	m := &Manager{Catalog: Builtin(), Images: &fakeBuilder{err: iso.ErrBuildFailed}}
	api := &fakeAPI{}
	if err := m.Enable(context.Background(), node, api, ClusterInfo{}, ms); !errors.Is(err, iso.ErrBuildFailed) {
		t.Fatalf("err = %v", err)
	}
	if len(api.applied) > 0 {
		t.Errorf("applied manifests although the image could not be built")
	}
}

func TestDisable(t *testing.T) {
	ing, _ := Builtin().Get("ingress")
	m := &Manager{Catalog: Builtin()}
	api := &fakeAPI{}
	if err := m.Disable(context.Background(), api, ClusterInfo{NodeIP: "1.2.3.4"}, ing); err != nil {
		t.Fatal(err)
	}
	want, _ := ing.Render(ClusterInfo{NodeIP: "1.2.3.4"})
	if len(api.deleted) != 1 || api.deleted[0] != string(want) {
		t.Errorf("deleted manifests differ from the rendered one")
	}
	api.err = errors.New("boom")
	if err := m.Disable(context.Background(), api, ClusterInfo{}, ing); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("a failing delete: err = %v", err)
	}
}

// TestCheckObserve: what a health check reads from each kind of object.
func TestCheckObserve(t *testing.T) {
	tests := []struct {
		check Check
		obj   map[string]any
		ok    bool
	}{
		{Check{Kind: DeploymentAvailable, Name: "d"}, allHealthy("Deployment", "d"), true},
		{Check{Kind: DeploymentAvailable, Name: "d"}, map[string]any{"metadata": map[string]any{"generation": int64(1)}}, false},
		{Check{Kind: DaemonSetReady, Name: "d"}, map[string]any{"metadata": map[string]any{"generation": int64(1)},
			"status": map[string]any{"observedGeneration": int64(1), "desiredNumberScheduled": int64(1), "numberReady": int64(1)}}, true},
		{Check{Kind: StorageClassExists, Name: "standard"}, map[string]any{}, true},
		{Check{Kind: APIServiceAvailable, Name: "a"}, allHealthy("APIService", "a"), true},
		{Check{Kind: APIServiceAvailable, Name: "a"}, map[string]any{}, false},
	}
	for _, tt := range tests {
		u := &unstructured.Unstructured{Object: tt.obj}
		u.SetName(tt.check.Name)
		if err := tt.check.evaluate(tt.check.observe(u)); (err == nil) != tt.ok {
			t.Errorf("%s on %v: %v, want ok=%v", tt.check, tt.obj, err, tt.ok)
		}
	}
}
func TestApplyProfile(t *testing.T) {
	node := &fakeNode{images: map[string]bool{}}
	m := &Manager{Catalog: Builtin(), Images: &fakeBuilder{dir: t.TempDir()}, Timeout: time.Second}
	prof := &cluster.Profile{Name: "p", NodeIP: "172.30.0.2", Addons: []string{"default-storageclass", "storage-provisioner"}}
	api := &fakeAPI{}
	wait, err := m.Apply(context.Background(), node, api, prof)
	if err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if len(api.applied) != 2 {
		t.Errorf("applied %d times, want 2", len(api.applied))
	}
	prof.Addons = []string{"gone"}
	if _, err := m.Apply(context.Background(), node, api, prof); !errors.Is(err, ErrUnknown) {
		t.Errorf("profile with an unknown addon: %v", err)
	}
}

func TestCheckEvaluate(t *testing.T) {
	tests := []struct {
		check Check
		out   string
		ok    bool
	}{
		{Check{Kind: DeploymentAvailable, Name: "d"}, "3 3 1 1", true},
		{Check{Kind: DeploymentAvailable, Name: "d"}, "3 2 1 1", false},
		{Check{Kind: DeploymentAvailable, Name: "d"}, "3 3 1", false},
		{Check{Kind: DeploymentAvailable, Name: "d"}, "3 3 0 0", false},
		{Check{Kind: DaemonSetReady, Name: "d"}, "1 1 1 1", true},
		{Check{Kind: DaemonSetReady, Name: "d"}, "1 1 1 0", false},
		{Check{Kind: StorageClassExists, Name: "standard"}, "standard", true},
		{Check{Kind: StorageClassExists, Name: "standard"}, "", false},
		{Check{Kind: APIServiceAvailable, Name: "a"}, "True", true},
		{Check{Kind: APIServiceAvailable, Name: "a"}, "False", false},
		{Check{Kind: "bogus", Name: "a"}, "True", false},
	}
	for _, tt := range tests {
		t.Run(tt.check.String()+"/"+tt.out, func(t *testing.T) {
			if err := tt.check.evaluate(tt.out); (err == nil) != tt.ok {
				t.Errorf("evaluate(%q) = %v, want ok=%v", tt.out, err, tt.ok)
			}
		})
	}
}

func TestPrebuild(t *testing.T) {
	b := &fakeBuilder{dir: t.TempDir()}
	m := &Manager{Catalog: Builtin(), Images: b}
	if !m.PrebuildNeeded() {
		t.Fatal("PrebuildNeeded = false with nothing built")
	}
	if err := m.Prebuild(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The optional addons' programs only: the default addons' images are preloaded and
	// the dashboard's ships in the node image.
	if want := []string{"metrics-server", "traefik", "registry"}; !slices.Equal(b.built, want) {
		t.Errorf("built %v, want %v", b.built, want)
	}
	if m.PrebuildNeeded() {
		t.Error("PrebuildNeeded = true after Prebuild")
	}
	failing := &Manager{Catalog: Builtin(), Images: &fakeBuilder{dir: t.TempDir(), err: iso.ErrBuildFailed}}
	if err := failing.Prebuild(context.Background()); !errors.Is(err, iso.ErrBuildFailed) {
		t.Errorf("Prebuild with a failing build: %v, want ErrBuildFailed", err)
	}
}
