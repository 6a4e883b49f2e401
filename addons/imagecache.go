package addons

import (
	_ "embed"
	"strings"
	"testing/fstest"

	"github.com/devk-dev/devk/iso"
)

//go:embed imagecache/main.go
var imageCacheMain string

// imageCacheModule is the module the image cache is built in (a throwaway one: the
// program's only dependency is distribution, at the registry addon's version).
const imageCacheModule = "devk.dev/image-cache"

// ImageCacheProgram is devk's shared image cache (imagecache/main.go): pull-through
// registries for the upstream registries, in one host container beside the nodes.
func ImageCacheProgram() iso.GoProgram {
	// The file's build tag keeps it out of devk's module; the image's module builds it.
	source := strings.Replace(imageCacheMain, "//go:build ignore\n", "", 1)
	fsys := fstest.MapFS{"main.go": {Data: []byte(source), Mode: 0o644}}
	gomod := "module " + imageCacheModule + "\n\ngo 1.24.0\n\nrequire github.com/distribution/distribution/v3 " + RegistryVersion + "\n"
	// The tag names the source and the dependencies, so a new distribution is a new image.
	version := "src-" + iso.HashOf(iso.SourceHash(fsys), gomod)[:12]
	return iso.GoProgram{
		Name: "devk-image-cache", Module: imageCacheModule, Version: version,
		Image:  "devk.dev/image-cache:" + version,
		Source: fsys, GoMod: gomod,
	}
}
