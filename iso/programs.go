package iso

// Programs are the addon images a node image carries, as the addons declare them.
type Programs struct {
	// Preload are imported at first boot: the images of the addons that are on by
	// default, so a new cluster needs no build and no network for them.
	Preload []GoProgram
	// OnDemand are imported only when their addon is first enabled (from
	// OnDemandImagesDir): they work offline, and a node that never uses them does not pay
	// for importing them at boot.
	OnDemand []GoProgram
}

// OnDemandImagesDir is where the node keeps the archives of Programs.OnDemand.
const OnDemandImagesDir = "/usr/share/devk/images/on-demand"

// PreloadArchive is where a node image built by this devk keeps p's archive, if p is
// one of its Programs.Preload; the node imports it at first boot.
func (p GoProgram) PreloadArchive() string { return PreloadedImagesDir + "/" + p.stem() + ".tar" }

// PreloadedImagesDir is where the node keeps the archives it imports at first boot.
const PreloadedImagesDir = "/usr/share/devk/images"

// NodeArchive is where a node image built by this devk keeps p's archive, if p is one
// of its Programs.OnDemand.
func (p GoProgram) NodeArchive() string { return OnDemandImagesDir + "/" + p.stem() + ".tar" }
