package dashboard

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
)

// TestImageRequiresMatchGoMod: the image is built with the Kubernetes modules devk
// itself is built and tested with.
func TestImageRequiresMatchGoMod(t *testing.T) {
	data, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	root, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, r := range root.Require {
		want[r.Mod.Path] = r.Mod.Version
	}
	img, err := modfile.Parse("go.mod", []byte(GoMod()), nil)
	if err != nil {
		t.Fatalf("GoMod() does not parse: %v\n%s", err, GoMod())
	}
	if img.Module.Mod.Path != Module {
		t.Errorf("image module %q, want %q", img.Module.Mod.Path, Module)
	}
	for _, r := range img.Require {
		if want[r.Mod.Path] != r.Mod.Version {
			t.Errorf("the image requires %s %s, devk's go.mod %q", r.Mod.Path, r.Mod.Version, want[r.Mod.Path])
		}
	}
}

// TestSourceIsSelfContained: the embedded source builds outside the devk repository, so
// it may import only itself, the standard library and the modules GoMod requires.
func TestSourceIsSelfContained(t *testing.T) {
	img, _ := modfile.Parse("go.mod", []byte(GoMod()), nil)
	allowed := []string{Module}
	for _, r := range img.Require {
		allowed = append(allowed, r.Mod.Path)
	}
	files := 0
	err := fs.WalkDir(Source(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		files++
		src, err := fs.ReadFile(Source(), path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			first := strings.Split(p, "/")[0]
			if !strings.Contains(first, ".") {
				continue // the standard library
			}
			ok := false
			for _, a := range allowed {
				ok = ok || p == a || strings.HasPrefix(p, a+"/")
			}
			if !ok {
				t.Errorf("%s imports %s, which the image's module cannot resolve", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 5 {
		t.Errorf("only %d Go files embedded", files)
	}
	for _, want := range []string{"devk-dashboard/main.go", "ui/index.html", "ui/app.js", "ui/style.css"} {
		if _, err := fs.Stat(Source(), want); err != nil {
			t.Errorf("the embedded source lacks %s", want)
		}
	}
}
