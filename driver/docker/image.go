package docker

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
)

// ImageRecipe returns the devk recipe label of a local image, "" when it is absent.
func (d *Driver) ImageRecipe(ctx context.Context, ref string) (string, error) {
	info, err := d.api.ImageInspect(ctx, ref)
	if errdefs.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("inspect image %s: %w", ref, err)
	}
	if info.Config == nil {
		return "", nil
	}
	return info.Config.Labels["dev.devk.recipe"], nil
}

// LoadImage loads a docker-archive stream, reading the engine's answer to the end,
// since the engine reports load errors in the stream body.
func (d *Driver) LoadImage(ctx context.Context, archive io.Reader) error {
	resp, err := d.api.ImageLoad(ctx, archive, client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("load image: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("load image: %w", err)
	}
	if strings.Contains(string(body), `"errorDetail"`) {
		return fmt.Errorf("load image: %s", strings.TrimSpace(string(body)))
	}
	return nil
}

// SaveImage exports images from the host's engine as a `docker save` stream.
func (d *Driver) SaveImage(ctx context.Context, refs []string) (io.ReadCloser, error) {
	for _, ref := range refs {
		if _, err := d.api.ImageInspect(ctx, ref); err != nil {
			return nil, fmt.Errorf("image %s: %w", ref, err)
		}
	}
	return d.api.ImageSave(ctx, refs)
}

// ImageSize is the uncompressed size of a host image, for progress (0 when unknown).
func (d *Driver) ImageSize(ctx context.Context, ref string) int64 {
	info, err := d.api.ImageInspect(ctx, ref)
	if err != nil {
		return 0
	}
	return info.Size
}
