package iso

import (
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The VM flavour of the node: the same root filesystem and devk layer as the container
// image, plus a Debian kernel, booted by the QEMU driver from three files.

//go:embed all:vm
var vmFiles embed.FS

// KernelPackage is added to the root filesystem of the VM flavour only.
const KernelPackage = "linux-image-amd64"

// vmUnmasked are units the shared root filesystem masks that a VM needs.
var vmUnmasked = []string{"systemd-udevd.service", "systemd-udev-trigger.service"}

// DiskSize is the VM root disk's apparent size; the image file is sparse.
const DiskSize = "20G"

// VMFiles are what the QEMU driver boots.
type VMFiles struct {
	Kernel string `json:"kernel"`
	Initrd string `json:"initrd"`
	Disk   string `json:"disk"`
}

func vmRootfsKey() string {
	return HashOf("vm-rootfs", RootfsKey(), KernelPackage)
}

// VMHash identifies the VM files of a recipe.
func (r Recipe) VMHash() string {
	parts := []string{"vm", r.Hash(), vmRootfsKey(), DiskSize, strings.Join(vmUnmasked, ",")}
	_ = fs.WalkDir(vmFiles, "vm", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			parts = append(parts, p, mustRead(vmFiles, p))
		}
		return nil
	})
	return HashOf(parts...)
}

// EnsureVM returns the recipe's VM files, building what the cache lacks.
func (b *Builder) EnsureVM(ctx context.Context, kubernetesVersion string) (VMFiles, error) {
	r, err := b.Recipe(kubernetesVersion)
	if err != nil {
		return VMFiles{}, err
	}
	dir := filepath.Join(b.CacheDir, "vm-"+r.KubernetesVersion+"-"+r.VMHash()[:12])
	files := VMFiles{Kernel: filepath.Join(dir, "vmlinuz"), Initrd: filepath.Join(dir, "initrd.img"), Disk: filepath.Join(dir, "disk.img")}
	if _, err := os.Stat(dir); err == nil {
		return files, nil
	}
	if err := os.MkdirAll(b.CacheDir, 0o755); err != nil {
		return VMFiles{}, fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	if err := b.checkTools(); err != nil {
		return VMFiles{}, err
	}
	var a artifacts
	vmRootfs := filepath.Join(b.CacheDir, "rootfs-vm-"+Suite+"-"+vmRootfsKey()[:16]+".tar")
	err = b.runSteps(append(b.componentSteps(ctx, r, &a),
		buildStep{"Building the Debian " + Suite + " root filesystem with a kernel", "rootfs-vm", vmRootfs, time.Minute, func() (err error) {
			a.rootfs, err = cached(vmRootfs, func(tmp string) error {
				return b.mmdebstrap(ctx, tmp, append(Packages(), KernelPackage), customizeHooks())
			})
			return err
		}},
		buildStep{"Writing the VM's kernel, initrd and disk image", "vm-assemble", dir, 30 * time.Second, func() error {
			_, err := cached(dir, func(tmp string) error { return b.assembleVM(ctx, r, a, tmp) })
			return err
		}},
	))
	if err != nil {
		return VMFiles{}, err
	}
	return files, nil
}

// assembleVM unpacks the root filesystem, adds devk's layer and the VM's own files, and
// turns the tree into an ext4 image (mkfs.ext4 -d: no loop devices, no mounting).
func (b *Builder) assembleVM(ctx context.Context, r Recipe, a artifacts, out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	work, err := os.MkdirTemp(b.CacheDir, "vm-root-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	root := filepath.Join(work, "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	if err := b.run(ctx, "", nil, "tar", "-x", "-p", "--numeric-owner", "-f", a.rootfs, "-C", root); err != nil {
		return fmt.Errorf("%w: unpack the root filesystem: %v", ErrBuildFailed, err)
	}
	preloads, err := preloadArchives(work, a)
	if err != nil {
		return fmt.Errorf("%w: preloaded images: %v", ErrBuildFailed, err)
	}
	files, err := nodeLayerFiles(r, a, preloads)
	if err != nil {
		return err
	}
	vm, err := vmLayerFiles()
	if err != nil {
		return err
	}
	if err := writeFilesToDir(root, append(files, vm...)); err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	// A VM has real devices: udev, masked for the container, brings up their units
	// (ttyS0 for the console, the disk), which systemd would otherwise wait for.
	for _, unit := range vmUnmasked {
		if err := os.Remove(filepath.Join(root, "etc/systemd/system", unit)); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("%w: unmask %s: %v", ErrBuildFailed, unit, err)
		}
	}
	for _, f := range []struct{ glob, dst string }{{"boot/vmlinuz-*", "vmlinuz"}, {"boot/initrd.img-*", "initrd.img"}} {
		matches, _ := filepath.Glob(filepath.Join(root, f.glob))
		if len(matches) == 0 {
			return fmt.Errorf("%w: no %s in the root filesystem", ErrBuildFailed, f.glob)
		}
		sort.Strings(matches)
		if err := copyFile(matches[len(matches)-1], filepath.Join(out, f.dst)); err != nil {
			return fmt.Errorf("%w: %v", ErrBuildFailed, err)
		}
	}
	if err := b.run(ctx, "", nil, "mkfs.ext4", "-q", "-F", "-L", "devkroot", "-d", root, filepath.Join(out, "disk.img"), DiskSize); err != nil {
		return fmt.Errorf("%w: make the disk image (is e2fsprogs installed? is the disk full?): %v", ErrBuildFailed, err)
	}
	return nil
}

// vmLayerFiles are the embedded VM-only files plus the links that enable their units.
func vmLayerFiles() ([]layerFile, error) {
	files := []layerFile{
		{Path: "etc/systemd/system/multi-user.target.wants/devk-ssh-key.service", Linkname: "../devk-ssh-key.service"},
		{Path: "etc/systemd/system/multi-user.target.wants/systemd-networkd.service", Linkname: "/usr/lib/systemd/system/systemd-networkd.service"},
		{Path: "etc/systemd/system/multi-user.target.wants/ssh.service", Linkname: "/usr/lib/systemd/system/ssh.service"},
	}
	embedded, err := embeddedLayerFiles(vmFiles, "vm")
	return append(files, embedded...), err
}

// writeFilesToDir writes layer files into a directory tree, replacing what is there.
func writeFilesToDir(root string, files []layerFile) error {
	for _, f := range files {
		dst := filepath.Join(root, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		_ = os.Remove(dst)
		switch {
		case f.Linkname != "":
			if err := os.Symlink(f.Linkname, dst); err != nil {
				return err
			}
		case f.Source != "":
			if err := copyFile(f.Source, dst); err != nil {
				return err
			}
			if err := os.Chmod(dst, os.FileMode(f.Mode)); err != nil {
				return err
			}
		default:
			if err := os.WriteFile(dst, f.Data, os.FileMode(f.Mode)); err != nil {
				return err
			}
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
