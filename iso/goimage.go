package iso

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/devk-dev/devk/internal/filelock"
)

// goProgramRevision changes whenever the way a GoProgram is built or packaged changes.
const goProgramRevision = "1"

// GoProgram is a program devk compiles from a module on the Go module proxy and ships as
// a single-binary image (the binary, an empty /tmp, nothing else): the addons' images.
type GoProgram struct {
	// Name is short and file-name safe: progress lines, cache files, the binary's name.
	Name    string
	Module  string // module path, such as sigs.k8s.io/metrics-server
	Version string // module version, such as v0.9.0
	// Package is the main package; empty means the module's root package.
	Package string
	// Image is the reference the image is tagged with in the node.
	Image string
	// Ldflags are extra linker flags, such as -X to stamp the version.
	Ldflags []string
	// Source, when set, is the module itself, every file but go.mod (GoMod is that), and
	// it is built as is instead of downloading Module@Version: a program from devk's own
	// repository (the dashboard), embedded in the devk binary, so a `go install`ed devk
	// builds it too. Test files and testdata folders are left out.
	Source fs.FS
	// GoMod is the go.mod of a Source program; `go mod tidy` completes it from the proxy.
	GoMod string
	// Assets are files a Source program embeds that its source does not carry (the
	// dashboard's terminal widget): written into the source tree before it is built.
	Assets []Asset
}

// MainPackage is the package `go build` builds.
func (p GoProgram) MainPackage() string {
	if p.Package == "" {
		return p.Module
	}
	return p.Package
}

// Binary is the path of the program in its image, which is also the image's entrypoint.
func (p GoProgram) Binary() string { return "/usr/local/bin/" + p.Name }

// Key identifies the program's image: every input that changes its content.
func (p GoProgram) Key() string {
	parts := []string{"goprogram", goProgramRevision, p.Name, p.Module, p.Version, p.MainPackage(), p.Image, strings.Join(p.Ldflags, " ")}
	if p.Source != nil {
		parts = append(parts, "source", p.GoMod, SourceHash(p.Source))
	}
	for _, a := range p.Assets {
		parts = append(parts, "asset", a.key())
	}
	return HashOf(parts...)
}

// SourceHash hashes the files of a Source program that its build uses (names and
// contents; test files and testdata left out). A file that cannot be read hashes as
// its error, so the build reports it.
func SourceHash(fsys fs.FS) string {
	parts := []string{"source"}
	err := walkSource(fsys, func(path string, data []byte) error {
		parts = append(parts, path, string(data))
		return nil
	})
	if err != nil {
		parts = append(parts, "error", err.Error())
	}
	return HashOf(parts...)
}

// walkSource calls fn with every file of a Source program that its build uses, in
// lexical order.
func walkSource(fsys fs.FS, fn func(path string, data []byte) error) error {
	return fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "testdata" {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, "_test.go") || path == "go.mod" || path == "go.sum" {
			return nil
		}
		data, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		return fn(path, data)
	})
}

func (p GoProgram) ldflags() string {
	return strings.Join(append([]string{"-s", "-w"}, p.Ldflags...), " ")
}

func (p GoProgram) stem() string { return p.Name + "-" + p.Version + "-" + p.Key()[:16] }

// ProgramGoMod is the go.mod of the throwaway module that builds p: it requires p's
// module and carries over the replace and exclude directives of the module's own go.mod,
// which Go ignores in a dependency but the program needs to build as its authors do.
// Replacements by local paths cannot be carried over (the module zip lacks them) and are
// left out.
func ProgramGoMod(p GoProgram, moduleGoMod []byte) (string, error) {
	f, err := modfile.Parse("go.mod", moduleGoMod, nil)
	if err != nil {
		return "", fmt.Errorf("parse %s go.mod: %w", p.Module, err)
	}
	goVersion := "1.24.0"
	if f.Go != nil {
		goVersion = f.Go.Version
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "module devk/%s\n\ngo %s\n\nrequire %s %s\n", p.Name, goVersion, p.Module, p.Version)
	var replaces []string
	for _, r := range f.Replace {
		if modfile.IsDirectoryPath(r.New.Path) {
			continue
		}
		old := r.Old.Path
		if r.Old.Version != "" {
			old += " " + r.Old.Version
		}
		replaces = append(replaces, fmt.Sprintf("\t%s => %s %s\n", old, r.New.Path, r.New.Version))
	}
	if len(replaces) > 0 {
		sb.WriteString("\nreplace (\n" + strings.Join(replaces, "") + ")\n")
	}
	if len(f.Exclude) > 0 {
		sb.WriteString("\nexclude (\n")
		for _, e := range f.Exclude {
			fmt.Fprintf(&sb, "\t%s %s\n", e.Mod.Path, e.Mod.Version)
		}
		sb.WriteString(")\n")
	}
	return sb.String(), nil
}

// programMain makes the throwaway module depend on the main package; `go build` then
// builds that package by its import path.
func programMain(p GoProgram) string {
	return fmt.Sprintf("//go:build tools\n\n// Package tools pins %s for `go mod tidy`.\npackage tools\n\nimport _ %q\n", p.MainPackage(), p.MainPackage())
}

// GoImage returns a docker archive of p's image, building the program on a cache miss
// (with a progress step) and caching the binary and the archive by content.
func (b *Builder) GoImage(ctx context.Context, p GoProgram) (string, error) {
	archive := b.goImagePath(p)
	if b.HasGoImage(p) {
		return archive, nil
	}
	// One build of a program at a time across devk processes (a background prebuild and
	// an `addons enable`, say): a waiter then finds the archive built.
	lock, err := filelock.Acquire(ctx, archive+".lock", 2*time.Hour)
	if err != nil {
		return "", fmt.Errorf("%w: wait for another build of %s: %v", ErrBuildFailed, p.Name, err)
	}
	defer lock.Release()
	if b.HasGoImage(p) {
		return archive, nil
	}
	if b.Report != nil {
		b.Report.Step("Building " + p.Name + " " + p.Version + " from source")
	}
	path, err := b.goImage(ctx, p)
	if b.Report != nil {
		b.Report.Done(err)
	}
	return path, err
}

// HasGoImage reports whether the program's image archive is built already.
func (b *Builder) HasGoImage(p GoProgram) bool {
	_, err := os.Stat(b.goImagePath(p))
	return err == nil
}

func (b *Builder) goImagePath(p GoProgram) string {
	return filepath.Join(b.CacheDir, "images", p.stem()+".tar")
}

// goImage builds (or finds) the program and its archive, without reporting.
func (b *Builder) goImage(ctx context.Context, p GoProgram) (string, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return "", fmt.Errorf("%w: go (install Go 1.26 or newer and put it on PATH)", ErrMissingTool)
	}
	if err := os.MkdirAll(filepath.Join(b.CacheDir, "images"), 0o755); err != nil {
		return "", fmt.Errorf("%w: create cache dir: %v", ErrBuildFailed, err)
	}
	bin, err := cached(filepath.Join(b.CacheDir, p.stem()), func(tmp string) error { return b.buildProgram(ctx, p, tmp) })
	if err != nil {
		return "", err
	}
	return cached(b.goImagePath(p), func(tmp string) error {
		dir, err := os.MkdirTemp(b.CacheDir, "image-")
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBuildFailed, err)
		}
		defer os.RemoveAll(dir)
		layer, err := fileLayer(dir, p.Name, []layerFile{
			{Path: strings.TrimPrefix(p.Binary(), "/"), Mode: 0o755, Source: bin},
			{Path: "tmp/.keep", Mode: 0o644},
		})
		if err != nil {
			return fmt.Errorf("%w: %s image: %v", ErrBuildFailed, p.Name, err)
		}
		img, err := imageOf(layer, []string{p.Binary()}, map[string]string{"dev.devk.source": p.Module + "@" + p.Version})
		if err != nil {
			return fmt.Errorf("%w: %s image: %v", ErrBuildFailed, p.Name, err)
		}
		if err := writeArchive(tmp, img, p.Image); err != nil {
			return fmt.Errorf("%w: %s image: %v", ErrBuildFailed, p.Name, err)
		}
		return nil
	})
}

func (b *Builder) buildProgram(ctx context.Context, p GoProgram, out string) error {
	if p.Source != nil {
		return b.buildSource(ctx, p, out)
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", p.Module+"@"+p.Version)
	cmd.Env = append(os.Environ(), goEnv...)
	cmd.Dir = b.CacheDir
	raw, err := cmd.Output()
	var info struct{ GoMod, Error string }
	_ = json.Unmarshal(raw, &info)
	if info.Error != "" || err != nil {
		return fmt.Errorf("%w: download %s@%s (is the Go module proxy reachable? see `go env GOPROXY`): %s %v", ErrBuildFailed, p.Module, p.Version, info.Error, err)
	}
	modData, err := os.ReadFile(info.GoMod)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	gomod, err := ProgramGoMod(p, modData)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	dir := filepath.Join(b.CacheDir, "src-"+p.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	_ = os.Remove(filepath.Join(dir, "go.sum"))
	for name, data := range map[string]string{"go.mod": gomod, "tools.go": programMain(p)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			return fmt.Errorf("%w: %v", ErrBuildFailed, err)
		}
	}
	if err := b.run(ctx, dir, goEnv, "go", "mod", "tidy"); err != nil {
		return fmt.Errorf("%w: fetching Go modules for %s (is the Go module proxy reachable? see `go env GOPROXY`): %v", ErrBuildFailed, p.Name, err)
	}
	return b.compileProgram(ctx, dir, p, out)
}

// buildSource builds a program from the source devk carries: its files and go.mod are
// written into a fresh throwaway module, which `go mod tidy` completes from the proxy.
func (b *Builder) buildSource(ctx context.Context, p GoProgram, out string) error {
	dir := filepath.Join(b.CacheDir, "src-"+p.Name)
	if err := os.RemoveAll(dir); err != nil { // files of an older source must not linger
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	if err := WriteSource(dir, p); err != nil {
		return fmt.Errorf("%w: %s source: %v", ErrBuildFailed, p.Name, err)
	}
	if err := WriteAssets(ctx, b.CacheDir, dir, p.Assets); err != nil {
		return fmt.Errorf("%w: %s assets: %v", ErrBuildFailed, p.Name, err)
	}
	if err := b.run(ctx, dir, goEnv, "go", "mod", "tidy"); err != nil {
		return fmt.Errorf("%w: fetching Go modules for %s (is the Go module proxy reachable? see `go env GOPROXY`): %v", ErrBuildFailed, p.Name, err)
	}
	return b.compileProgram(ctx, dir, p, out)
}

// WriteSource writes a Source program's module (its files and go.mod) into dir.
func WriteSource(dir string, p GoProgram) error {
	if p.Source == nil || p.GoMod == "" {
		return fmt.Errorf("%s has no embedded source or go.mod", p.Name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(p.GoMod), 0o644); err != nil {
		return err
	}
	return walkSource(p.Source, func(path string, data []byte) error {
		dst := filepath.Join(dir, filepath.FromSlash(path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
}

// compileProgram builds p's main package in its module dir, reporting packages compiled.
func (b *Builder) compileProgram(ctx context.Context, dir string, p GoProgram, out string) error {
	counter := &packageCounter{total: countPackages(ctx, dir, goEnv, p.MainPackage()), report: b.progress}
	if err := b.runTo(ctx, dir, goEnv, counter, "go", "build", "-v", "-trimpath", "-ldflags", p.ldflags(), "-o", out, p.MainPackage()); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBuildFailed, p.Name, err)
	}
	return nil
}
