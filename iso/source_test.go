package iso

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// TestSourceProgramKey: a program built from embedded source is keyed by its files and
// go.mod, and programs from the proxy keep the keys they had (so cached images and
// node images stay valid).
func TestSourceProgramKey(t *testing.T) {
	base := GoProgram{Name: "m", Module: "example.com/m", Version: "v1.0.0", Image: "example.com/m:v1"}
	if got, want := base.Key(), HashOf("goprogram", goProgramRevision, "m", "example.com/m", "v1.0.0", "example.com/m", "example.com/m:v1", ""); got != want {
		t.Errorf("a module program's key changed: %s, want %s", got, want)
	}
	src := fstest.MapFS{
		"main.go":         {Data: []byte("package main\n")},
		"ui/index.html":   {Data: []byte("<p>hi</p>\n")},
		"main_test.go":    {Data: []byte("package main\n")},
		"testdata/x.json": {Data: []byte("{}")},
	}
	withSource := base
	withSource.Source, withSource.GoMod = src, "module example.com/m\n"
	if withSource.Key() == base.Key() {
		t.Fatal("adding a source does not change the key")
	}
	variants := map[string]func(fstest.MapFS) fstest.MapFS{
		"a file's content": func(m fstest.MapFS) fstest.MapFS {
			m["main.go"] = &fstest.MapFile{Data: []byte("package main // v2\n")}
			return m
		},
		"a new file": func(m fstest.MapFS) fstest.MapFS { m["ui/app.js"] = &fstest.MapFile{Data: []byte("x")}; return m },
		"a renamed file": func(m fstest.MapFS) fstest.MapFS {
			m["ui/page.html"] = m["ui/index.html"]
			delete(m, "ui/index.html")
			return m
		},
	}
	for name, change := range variants {
		p := withSource
		p.Source = change(clone(src))
		if p.Key() == withSource.Key() {
			t.Errorf("changing %s does not change the key", name)
		}
	}
	ignored := map[string]func(fstest.MapFS) fstest.MapFS{
		"a test file": func(m fstest.MapFS) fstest.MapFS {
			m["main_test.go"] = &fstest.MapFile{Data: []byte("package main // more tests\n")}
			return m
		},
		"a testdata file": func(m fstest.MapFS) fstest.MapFS {
			m["testdata/y.json"] = &fstest.MapFile{Data: []byte("[]")}
			return m
		},
	}
	for name, change := range ignored {
		p := withSource
		p.Source = change(clone(src))
		if p.Key() != withSource.Key() {
			t.Errorf("changing %s changes the key, but the build does not use it", name)
		}
	}
	p := withSource
	p.GoMod = "module example.com/m\n\nrequire example.com/dep v1.0.0\n"
	if p.Key() == withSource.Key() {
		t.Error("changing go.mod does not change the key")
	}
}

func clone(m fstest.MapFS) fstest.MapFS {
	out := fstest.MapFS{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestWriteSource(t *testing.T) {
	dir := t.TempDir()
	p := GoProgram{Name: "m", Source: fstest.MapFS{
		"main.go":          {Data: []byte("package main\n")},
		"ui/index.html":    {Data: []byte("<p>hi</p>\n")},
		"main_test.go":     {Data: []byte("package main\n")},
		"testdata/x.json":  {Data: []byte("{}")},
		"go.mod":           {Data: []byte("module wrong\n")},
		"cmd/tool/main.go": {Data: []byte("package main\n")},
	}, GoMod: "module example.com/m\n"}
	if err := WriteSource(dir, p); err != nil {
		t.Fatal(err)
	}
	var files []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(files)
	if want := []string{"cmd/tool/main.go", "go.mod", "main.go", "ui/index.html"}; !slices.Equal(files, want) {
		t.Errorf("wrote %v, want %v", files, want)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "go.mod")); string(data) != p.GoMod {
		t.Errorf("go.mod is %q, want the program's", data)
	}
	if err := WriteSource(t.TempDir(), GoProgram{Name: "m"}); err == nil || !strings.Contains(err.Error(), "no embedded source") {
		t.Errorf("a program without source: err = %v", err)
	}
}
