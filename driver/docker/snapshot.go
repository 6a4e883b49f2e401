package docker

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/volume"
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

// CopiesPaused: a paused container's volume is consistent (its processes are frozen).
func (d *Driver) CopiesPaused() bool { return true }

// RestoreDisk replaces the node's /var volume with a SaveDisk archive: the node container
// goes (the next start recreates it on the volume, as after `docker rm`), the volume is
// recreated empty with its labels, and the archive is unpacked into it through a helper
// container that never runs.
func (d *Driver) RestoreDisk(ctx context.Context, name string, r io.Reader) error {
	varVolume := name + "-var"
	info, err := d.inspect(ctx, name)
	switch {
	case err == nil && info.State != nil && info.State.Running:
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
	image := vol.Labels[labelImage]
	if info.Config != nil {
		image = info.Config.Image
	}
	if image == "" {
		return fmt.Errorf("restore into %s: no image is known for the helper container", name)
	}
	if err := d.api.ContainerRemove(ctx, name, container.RemoveOptions{Force: true}); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", name, err)
	}
	if err := d.api.VolumeRemove(ctx, varVolume, true); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove volume %s: %w", varVolume, err)
	}
	if _, err := d.api.VolumeCreate(ctx, volume.CreateOptions{Name: varVolume, Labels: vol.Labels}); err != nil {
		return fmt.Errorf("create volume %s: %w", varVolume, err)
	}
	// NoCopy: the volume holds exactly the archive, not the image's /var beneath it.
	helper, err := d.api.ContainerCreate(ctx, &container.Config{Image: image, Entrypoint: []string{"true"}, Labels: map[string]string{"dev.devk.helper": "restore", LabelProfile: name}},
		&container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeVolume, Source: varVolume, Target: "/var", VolumeOptions: &mount.VolumeOptions{NoCopy: true}}}},
		nil, nil, "")
	if err != nil {
		return fmt.Errorf("create the restore helper: %w", err)
	}
	defer func() {
		_ = d.api.ContainerRemove(context.WithoutCancel(ctx), helper.ID, container.RemoveOptions{Force: true})
	}()
	if err := d.api.CopyToContainer(ctx, helper.ID, "/", r, container.CopyToContainerOptions{}); err != nil {
		return fmt.Errorf("write the node's /var: %w", err)
	}
	return nil
}

func isNotFound(err error) bool {
	return errdefs.IsNotFound(err) || errors.Is(err, driver.ErrNotFound)
}
