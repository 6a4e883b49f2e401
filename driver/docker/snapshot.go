package docker

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/errdefs"

	"github.com/devk-dev/devk/driver"
)

// SaveDisk streams the node's /var volume as a tar archive (paths under var/). The
// engine reads the volume itself, so it works for a paused or stopped node and for a
// remote engine.
func (d *Driver) SaveDisk(ctx context.Context, name string, w io.Writer) error {
	if _, err := d.inspect(ctx, name); err != nil {
		return err
	}
	rc, _, err := d.api.CopyFromContainer(ctx, name, "/var")
	if err != nil {
		return fmt.Errorf("read the node's /var: %w", d.engineError(ctx, err))
	}
	defer rc.Close()
	if _, err := io.Copy(w, rc); err != nil {
		return fmt.Errorf("read the node's /var: %w", err)
	}
	return nil
}

// ArchivesDisk: SaveDisk writes a tar archive.
func (d *Driver) ArchivesDisk() bool { return true }

// CopiesPaused: a paused container's volume is consistent (its processes are frozen).
func (d *Driver) CopiesPaused() bool { return true }

// PowerOff kills the node container without its shutdown (timeout 0: SIGKILL at once).
func (d *Driver) PowerOff(ctx context.Context, name string) error { return d.stopWithin(ctx, name, 0) }

// RestoreDisk replaces the contents of the node's /var volume with a SaveDisk archive,
// through a helper container of the node's image that mounts the volume: it empties the
// volume, then the engine unpacks the archive into it. The stopped node container stays,
// so the next start is a restart.
func (d *Driver) RestoreDisk(ctx context.Context, name string, r io.Reader) error {
	varVolume := name + "-var"
	info, err := d.inspect(ctx, name)
	switch {
	case err == nil && info.State != nil && (info.State.Running || info.State.Paused):
		return fmt.Errorf("restore into %s: the node is running; stop it first", name)
	case err != nil && !isNotFound(err):
		return err
	}
	vol, err := d.api.VolumeInspect(ctx, varVolume)
	if err != nil {
		return fmt.Errorf("inspect volume %s: %w", varVolume, d.engineError(ctx, err))
	}
	if !d.owned(vol.Labels, name) {
		return foreign("volume", varVolume, vol.Labels)
	}
	image := helperImage(info, vol.Labels[labelImage])
	if image == "" {
		return fmt.Errorf("restore into %s: no image is known for the helper container", name)
	}
	if err := d.removeLeftHelpers(ctx, name); err != nil { // of a killed restore
		return err
	}
	// NoCopy: the engine must not copy the image's /var into the volume.
	helper, err := d.api.ContainerCreate(ctx,
		&container.Config{Image: image, Entrypoint: []string{"find", "/var", "-mindepth", "1", "-maxdepth", "1", "-exec", "rm", "-rf", "--", "{}", "+"},
			Labels: d.helperLabels(name)},
		&container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: varVolume, Target: "/var", VolumeOptions: &mount.VolumeOptions{NoCopy: true}}}},
		nil, nil, "")
	if err != nil {
		return fmt.Errorf("create the restore helper: %w", err)
	}
	defer func() {
		_ = d.api.ContainerRemove(context.WithoutCancel(ctx), helper.ID, container.RemoveOptions{Force: true})
	}()
	waitC, errC := d.api.ContainerWait(ctx, helper.ID, container.WaitConditionNextExit)
	if err := d.api.ContainerStart(ctx, helper.ID, container.StartOptions{}); err != nil {
		return fmt.Errorf("empty the node's /var: %w", err)
	}
	select {
	case res := <-waitC:
		if res.StatusCode != 0 {
			return fmt.Errorf("empty the node's /var: the helper exited %d", res.StatusCode)
		}
	case err := <-errC:
		return fmt.Errorf("empty the node's /var: %w", err)
	}
	if err := d.api.CopyToContainer(ctx, helper.ID, "/", r, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("write the node's /var: %w", err)
	}
	return nil
}

func isNotFound(err error) bool {
	return errdefs.IsNotFound(err) || errors.Is(err, driver.ErrNotFound)
}
