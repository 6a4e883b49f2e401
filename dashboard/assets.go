package dashboard

// UIAsset is a file of the UI that the repository does not carry: a third-party
// library's built files, which devk fetches when it builds the dashboard's image (see
// UIAssets).
type UIAsset struct {
	// URL is the npm registry's tarball; Integrity its dist.integrity from the registry's
	// metadata, which the download must match.
	URL, Integrity string
	// Files maps paths in the tarball to paths in the package's source tree.
	Files map[string]string
}

// UIAssets are the terminal widget of the shell view: xterm.js (the terminal of VS Code
// and Headlamp) and its fit addon, at exact versions. devk fetches their npm tarballs
// when it builds the dashboard's image, checks them against the pinned sha512, caches
// them under its cache folder (so every later build is offline and embeds the same
// bytes) and writes their files into ui/vendor/ before compiling, where `go:embed ui`
// picks them up. That keeps minified third-party code out of the repository without a
// Node toolchain: the tarballs carry ready-built UMD files. Debian's node-xterm was the
// other way, but it would tie the version to the build machine's distribution.
//
// The browser loads them only on a shell's page; a server built without them (go test,
// go run) shows the shell's page with a note instead of a terminal.
var UIAssets = []UIAsset{
	{
		URL:       "https://registry.npmjs.org/@xterm/xterm/-/xterm-6.0.0.tgz",
		Integrity: "sha512-TQwDdQGtwwDt+2cgKDLn0IRaSxYu1tSUjgKarSDkUM0ZNiSRXFpjxEsvc/Zgc5kq5omJ+V0a8/kIM2WD3sMOYg==",
		Files: map[string]string{
			"package/lib/xterm.js":  "ui/vendor/xterm.js",
			"package/css/xterm.css": "ui/vendor/xterm.css",
			"package/LICENSE":       "ui/vendor/xterm.LICENSE",
		},
	},
	{
		URL:       "https://registry.npmjs.org/@xterm/addon-fit/-/addon-fit-0.11.0.tgz",
		Integrity: "sha512-jYcgT6xtVYhnhgxh3QgYDnnNMYTcf8ElbxxFzX0IZo+vabQqSPAjC3c1wJrKB5E19VwQei89QCiZZP86DCPF7g==",
		Files: map[string]string{
			"package/lib/addon-fit.js": "ui/vendor/addon-fit.js",
			"package/LICENSE":          "ui/vendor/addon-fit.LICENSE",
		},
	},
}
