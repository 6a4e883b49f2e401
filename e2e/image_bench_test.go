package e2e

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkNodeImage measures the node image: a cached `devk node-image` (the recipe
// unchanged), its uncompressed size in the engine, and its size as a gzip archive.
func BenchmarkNodeImage(b *testing.B) {
	requireE2E(b)
	ctx := context.Background()
	env := NewEnv(b, devkBin, "e2e-image")
	tag := strings.TrimSpace(env.MustDevk(ctx, "node-image").Stdout) // build if needed, outside the timing
	for i := 0; i < b.N; i++ {
		start := time.Now()
		again := strings.TrimSpace(env.MustDevk(ctx, "node-image").Stdout)
		cached := time.Since(start)
		if again != tag {
			b.Fatalf("unchanged recipe gave a new tag: %s then %s", tag, again)
		}
		sizeOut, err := Docker(ctx, "image", "inspect", "--format", "{{.Size}}", tag)
		if err != nil {
			b.Fatal(sizeOut)
		}
		size, _ := strconv.ParseInt(sizeOut, 10, 64)
		compressed, err := gzipSize(ctx, tag)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(cached.Seconds(), "s-cached-build")
		b.ReportMetric(float64(size)/1e6, "MB-image")
		b.ReportMetric(float64(compressed)/1e6, "MB-gzip-archive")
		fmt.Fprintf(os.Stderr, "\n| node image %s | |\n|---|---|\n| cached rebuild | %.2f s |\n| size in the engine | %d MB |\n| gzip archive (`docker save | gzip`) | %d MB |\n",
			tag, cached.Seconds(), size/1e6, compressed/1e6)
	}
}

// gzipSize is the size of `docker save IMAGE | gzip`.
func gzipSize(ctx context.Context, tag string) (int64, error) {
	cmd := exec.CommandContext(ctx, "docker", "save", tag)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var counter countWriter
	zw, _ := gzip.NewWriterLevel(&counter, gzip.DefaultCompression)
	if _, err := io.Copy(zw, out); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return counter.n, cmd.Wait()
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }
