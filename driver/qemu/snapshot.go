package qemu

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/devk-dev/devk/driver"
)

// SaveDisk streams the stopped VM's copy-on-write disk (only what differs from the node
// image's disk, which the snapshot's node image pins).
func (d *Driver) SaveDisk(ctx context.Context, name string, w io.Writer) error {
	if err := d.requireStopped(ctx, name); err != nil {
		return err
	}
	f, err := os.Open(d.path(name, "disk.qcow2"))
	if err != nil {
		return fmt.Errorf("read the VM disk: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("read the VM disk: %w", err)
	}
	return nil
}

// ArchivesDisk: SaveDisk writes a qcow2 disk image.
func (d *Driver) ArchivesDisk() bool { return false }

// CopiesPaused: a paused VM may still hold disk writes in QEMU's caches.
func (d *Driver) CopiesPaused() bool { return false }

// PowerOff kills QEMU: the guest gets no shutdown.
func (d *Driver) PowerOff(ctx context.Context, name string) error {
	if err := d.markStopped(name); err != nil {
		return err
	}
	d.kill(name)
	return nil
}

// RestoreDisk replaces the stopped VM's disk, through a temporary file renamed into place.
func (d *Driver) RestoreDisk(ctx context.Context, name string, r io.Reader) error {
	if err := d.requireStopped(ctx, name); err != nil {
		return err
	}
	disk := d.path(name, "disk.qcow2")
	tmp := disk + ".restore"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write the VM disk: %w", err)
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, disk)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write the VM disk: %w", err)
	}
	return nil
}

func (d *Driver) requireStopped(ctx context.Context, name string) error {
	st, err := d.State(ctx, name)
	if err != nil {
		return err
	}
	if st != driver.StateStopped {
		return fmt.Errorf("VM %s is %s; its disk is copied only when it is stopped", name, st)
	}
	return nil
}
