package iso

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devk-dev/devk/internal/filelock"
)

func TestProgramGoModCases(t *testing.T) {
	p := GoProgram{Name: "x", Module: "example.com/x", Version: "v1.0.0"}
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{"no directives", "module example.com/x\n\ngo 1.26.4\n", []string{"module devk/x\n", "go 1.26.4\n", "require example.com/x v1.0.0\n"}, false},
		{"no go directive", "module example.com/x\n", []string{"go 1.24.0\n"}, false},
		{"garbage", "module example.com/x\nthis is not go.mod\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ProgramGoMod(p, []byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("go.mod lacks %q:\n%s", w, got)
				}
			}
			if strings.Contains(got, "replace") || strings.Contains(got, "exclude") {
				t.Errorf("unexpected directives:\n%s", got)
			}
		})
	}
}

func TestGoProgramKey(t *testing.T) {
	base := GoProgram{Name: "m", Module: "example.com/m", Version: "v1.0.0", Image: "example.com/m:v1", Ldflags: []string{"-X", "a=b"}}
	if base.Key() != base.Key() || !hex64.MatchString(base.Key()) {
		t.Fatalf("Key is not a stable sha256: %q", base.Key())
	}
	if base.MainPackage() != "example.com/m" || base.Binary() != "/usr/local/bin/m" {
		t.Errorf("MainPackage %q Binary %q", base.MainPackage(), base.Binary())
	}
	variants := map[string]func(*GoProgram){
		"name":    func(p *GoProgram) { p.Name = "n" },
		"module":  func(p *GoProgram) { p.Module = "example.com/n" },
		"version": func(p *GoProgram) { p.Version = "v1.0.1" },
		"package": func(p *GoProgram) { p.Package = "example.com/m/cmd/m" },
		"image":   func(p *GoProgram) { p.Image = "example.com/m:v2" },
		"ldflags": func(p *GoProgram) { p.Ldflags = nil },
	}
	for field, change := range variants {
		p := base
		change(&p)
		if p.Key() == base.Key() {
			t.Errorf("changing %s does not change the key", field)
		}
	}
}

// recordingReporter records steps.
type recordingReporter struct{ events []string }

func (r *recordingReporter) Step(name string) { r.events = append(r.events, "step "+name) }
func (r *recordingReporter) Done(err error) {
	if err != nil {
		r.events = append(r.events, "fail")
		return
	}
	r.events = append(r.events, "done")
}

// TestGoImagePackaging packages a binary already in the cache (so nothing is compiled)
// and checks the archive: its tag, entrypoint and files, and that a second call is a
// cache hit that reports nothing.
func TestGoImagePackaging(t *testing.T) {
	cache := t.TempDir()
	rep := &recordingReporter{}
	b := &Builder{CacheDir: cache, Report: rep}
	p := GoProgram{Name: "prog", Module: "example.com/prog", Version: "v1.2.3", Image: "example.com/prog:v1.2.3"}
	if err := os.WriteFile(filepath.Join(cache, p.stem()), []byte("fake program"), 0o755); err != nil {
		t.Fatal(err)
	}
	archive, err := b.GoImage(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.events, []string{"step Building prog v1.2.3 from source", "done"}) {
		t.Errorf("events = %v", rep.events)
	}
	if got := archiveTags(t, archive); !slices.Equal(got, []string{p.Image}) {
		t.Errorf("tags = %v", got)
	}
	img, cfg := loadArchive(t, archive, p.Image)
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/prog"}) || cfg.Config.Labels["dev.devk.source"] != "example.com/prog@v1.2.3" {
		t.Errorf("entrypoint %v labels %v", cfg.Config.Entrypoint, cfg.Config.Labels)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d %v", len(layers), err)
	}
	files := readLayer(t, layers[0])
	if e := files["usr/local/bin/prog"]; e.hdr == nil || e.hdr.Mode != 0o755 || string(e.data) != "fake program" {
		t.Errorf("binary in the layer: %+v", e.hdr)
	}
	if _, ok := files["tmp/"]; !ok {
		t.Errorf("the image has no /tmp")
	}
	rep.events = nil
	again, err := b.GoImage(context.Background(), p)
	if err != nil || again != archive || len(rep.events) != 0 {
		t.Errorf("second call: %s %v events %v; want a silent cache hit", again, err, rep.events)
	}
	if entries, _ := filepath.Glob(filepath.Join(cache, "image-*")); len(entries) != 0 {
		t.Errorf("staging folders left: %v", entries)
	}
}

func TestAssembleWithProgramImages(t *testing.T) {
	r := mustRecipe(t, "v1.34.4")
	eng := &fakeEngine{}
	b := &Builder{Engine: eng, CacheDir: t.TempDir()}
	a := fakeArtifacts(t, t.TempDir())
	extra := filepath.Join(t.TempDir(), "prog-v1-0123.tar")
	if err := os.WriteFile(extra, []byte("an image archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.images = []string{extra}
	if err := b.assemble(context.Background(), r, a); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "node.tar")
	if err := os.WriteFile(archive, eng.loaded[0], 0o644); err != nil {
		t.Fatal(err)
	}
	img, _ := loadArchive(t, archive, r.Tag())
	layers, _ := img.Layers()
	devk := readLayer(t, layers[1])
	if e := devk["usr/share/devk/images/prog-v1-0123.tar"]; string(e.data) != "an image archive" {
		t.Errorf("program image not preloaded: %+v", e.hdr)
	}
}

// A build of a program another devk is building waits for it, then takes its archive.
func TestGoImageWaitsForAnotherBuild(t *testing.T) {
	cache := t.TempDir()
	rep := &recordingReporter{}
	b := &Builder{CacheDir: cache, Report: rep}
	p := GoProgram{Name: "prog", Module: "example.com/prog", Version: "v1.2.3", Image: "example.com/prog:v1.2.3"}
	archive := b.goImagePath(p)
	if err := os.MkdirAll(filepath.Dir(archive), 0o755); err != nil {
		t.Fatal(err)
	}
	other, err := filelock.Acquire(context.Background(), archive+".lock", 0)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		path string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		path, err := b.GoImage(context.Background(), p)
		done <- result{path, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("GoImage returned (%v) while another build held the lock", r)
	case <-time.After(300 * time.Millisecond):
	}
	if err := os.WriteFile(archive, []byte("built by the other"), 0o644); err != nil {
		t.Fatal(err)
	}
	other.Release()
	r := <-done
	if r.err != nil || r.path != archive {
		t.Fatalf("GoImage after the other build: %s %v", r.path, r.err)
	}
	if len(rep.events) != 0 || !b.HasGoImage(p) {
		t.Errorf("events %v, HasGoImage %v: want the other's archive taken without a build", rep.events, b.HasGoImage(p))
	}
}
