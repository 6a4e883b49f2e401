package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/moby/go-archive"
	"github.com/moby/patternmatcher/ignorefile"
)

// ErrImage marks image commands that cannot do what was asked.
var ErrImage = errors.New("image operation failed")

// NodeDocker is a client for the node's dockerd, over mutual TLS on 127.0.0.1, whose
// image store is the kubelet's (containerd's k8s.io namespace).
func (m *Manager) NodeDocker(ctx context.Context, profile string) (*client.Client, error) {
	env, err := m.DockerEnv(ctx, profile)
	if err != nil {
		return nil, err
	}
	api, err := client.NewClientWithOpts(
		client.WithHost(env.Host),
		client.WithTLSClientConfig(filepath.Join(env.CertPath, "ca.pem"), filepath.Join(env.CertPath, "cert.pem"), filepath.Join(env.CertPath, "key.pem")),
		client.WithAPIVersionNegotiation(),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to the node's Docker engine: %w", err)
	}
	return api, nil
}

// Image is one row of `devk image ls`. Field names are stable.
type Image struct {
	Ref  string `json:"ref"`
	ID   string `json:"id"`
	Size int64  `json:"size"`
}

// ImageList lists the cluster's tagged images, sorted by reference.
func (m *Manager) ImageList(ctx context.Context, profile string) ([]Image, error) {
	api, err := m.NodeDocker(ctx, profile)
	if err != nil {
		return nil, err
	}
	defer api.Close()
	list, err := api.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: list images: %v", ErrImage, err)
	}
	out := []Image{}
	for _, img := range list {
		for _, tag := range img.RepoTags {
			// The CRI also records images under their digest; those are not names.
			if strings.HasPrefix(tag, "sha256:") || strings.HasPrefix(tag, "<none>") {
				continue
			}
			out = append(out, Image{Ref: tag, ID: strings.TrimPrefix(img.ID, "sha256:")[:12], Size: img.Size})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref < out[j].Ref })
	return out, nil
}

// ImageRemove removes images from the cluster.
func (m *Manager) ImageRemove(ctx context.Context, profile string, refs []string) error {
	api, err := m.NodeDocker(ctx, profile)
	if err != nil {
		return err
	}
	defer api.Close()
	for _, ref := range refs {
		if _, err := api.ImageRemove(ctx, ref, image.RemoveOptions{}); err != nil {
			return fmt.Errorf("%w: remove %s: %v", ErrImage, ref, err)
		}
	}
	return nil
}

// ImageSaver is a driver whose host engine can export images (the docker driver).
type ImageSaver interface {
	SaveImage(ctx context.Context, refs []string) (io.ReadCloser, error)
}

// ImageLoad loads an image archive (a `docker save` tar) or an image from the host's
// engine into the cluster; progress is told the bytes sent so far and the total (0 if
// unknown).
func (m *Manager) ImageLoad(ctx context.Context, profile, source string, progress func(done, total int64)) (string, error) {
	api, err := m.NodeDocker(ctx, profile)
	if err != nil {
		return "", err
	}
	defer api.Close()
	var in io.ReadCloser
	var total int64
	if st, err := os.Stat(source); err == nil && !st.IsDir() {
		f, err := os.Open(source)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrImage, err)
		}
		in, total = f, st.Size()
	} else {
		saver, ok := m.Driver.(ImageSaver)
		if !ok {
			return "", fmt.Errorf("%w: %s is not a file, and the %s driver cannot read images from a host engine", ErrImage, source, m.Driver.Name())
		}
		if in, err = saver.SaveImage(ctx, []string{source}); err != nil {
			return "", fmt.Errorf("%w: %s is neither an archive nor an image of the host's engine (`docker images`): %v", ErrImage, source, err)
		}
		if size, ok := m.Driver.(interface {
			ImageSize(ctx context.Context, ref string) int64
		}); ok {
			total = size.ImageSize(ctx, source)
		}
	}
	defer in.Close()
	resp, err := api.ImageLoad(ctx, &countingReader{r: in, total: total, report: progress}, client.ImageLoadWithQuiet(true))
	if err != nil {
		return "", fmt.Errorf("%w: load %s: %v", ErrImage, source, err)
	}
	defer resp.Body.Close()
	var msgs strings.Builder
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, &msgs, 0, false, nil); err != nil {
		return "", fmt.Errorf("%w: load %s: %v", ErrImage, source, err)
	}
	return strings.TrimSpace(msgs.String()), nil
}

type countingReader struct {
	r      io.Reader
	done   int64
	total  int64
	report func(done, total int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.done += int64(n)
	if c.report != nil {
		c.report(c.done, c.total)
	}
	return n, err
}

// ImageBuild builds dir's Dockerfile in the node, so the image is the kubelet's at once.
func (m *Manager) ImageBuild(ctx context.Context, profile, dir, dockerfile string, tags []string, out io.Writer) error {
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%w: build context %q is not a directory", ErrInvalid, dir)
	}
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if _, err := os.Stat(filepath.Join(dir, dockerfile)); err != nil {
		return fmt.Errorf("%w: no %s in %s", ErrInvalid, dockerfile, dir)
	}
	var excludes []string
	if f, err := os.Open(filepath.Join(dir, ".dockerignore")); err == nil {
		excludes, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%w: .dockerignore: %v", ErrInvalid, err)
		}
	}
	api, err := m.NodeDocker(ctx, profile)
	if err != nil {
		return err
	}
	defer api.Close()
	buildCtx, err := archive.TarWithOptions(dir, &archive.TarOptions{ExcludePatterns: excludes})
	if err != nil {
		return fmt.Errorf("%w: pack the build context: %v", ErrImage, err)
	}
	defer buildCtx.Close()
	resp, err := api.ImageBuild(ctx, buildCtx, build.ImageBuildOptions{Tags: tags, Dockerfile: dockerfile, Remove: true, Version: build.BuilderV1})
	if err != nil {
		return fmt.Errorf("%w: build: %v", ErrImage, err)
	}
	defer resp.Body.Close()
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, out, 0, false, nil); err != nil {
		return fmt.Errorf("%w: build: %v", ErrImage, err)
	}
	return nil
}
