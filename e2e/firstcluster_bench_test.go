package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkFirstCluster measures a fresh machine's first cluster with the README's
// commands: devk built (`go build`, as `make build`), then `devk start`, with the Go
// build and module caches, devk's home and the engine's node image all empty. The node
// image of this recipe is renamed aside for the run and given back after. About 11 min;
// run with `make bench-cold`.
func BenchmarkFirstCluster(b *testing.B) {
	requireE2E(b)
	if os.Getenv("DEVK_BENCH_COLD") != "1" {
		b.Skip("set DEVK_BENCH_COLD=1 (make bench-cold does): it rebuilds everything from source")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	defer cancel()
	// The node image this devk would build, found (or built) with the usual caches.
	tag := lastLine(NewEnv(b, devkBin, "e2e-cold").MustDevk(ctx, "node-image").Stdout)
	if !strings.HasPrefix(tag, "devk/node:") {
		b.Fatalf("devk node-image printed %q, not a node image", tag)
	}
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		// The module cache is read-only; it has to be made writable to be removed.
		b.Cleanup(func() { _ = exec.Command("chmod", "-R", "u+w", dir).Run() })
		caches := []string{"GOCACHE=" + filepath.Join(dir, "gocache"), "GOMODCACHE=" + filepath.Join(dir, "gomod")}
		SetImageAside(ctx, b, tag)

		begin := time.Now()
		bin, err := BuildDevk(dir, caches...)
		if err != nil {
			b.Fatal(err)
		}
		built := time.Since(begin)
		env := NewEnv(b, bin, "e2e-cold")
		home := env.IsolatedHome(b)
		env.Extra = append(env.Extra, caches...)
		r := env.MustDevk(ctx, "start")
		total := time.Since(begin)
		image, ok := stepSeconds(r.Stdout+r.Stderr, "Preparing node image")
		if !ok {
			b.Fatalf("start did not build the node image:\n%s", r.Stdout+r.Stderr)
		}
		b.ReportMetric(built.Seconds(), "s-devk-built")
		b.ReportMetric(image, "s-node-image")
		b.ReportMetric(total.Seconds(), "s-first-cluster")
		var steps map[string]float64
		if data, err := os.ReadFile(filepath.Join(home, "cache", "build-times.json")); err == nil && json.Unmarshal(data, &steps) == nil {
			for key, s := range steps {
				b.ReportMetric(s, "s-build-"+key)
			}
		}
		env.MustDevk(ctx, "delete")
	}
}

var stepDone = regexp.MustCompile(`✓ (.+) \(([0-9.]+)s\)`)

// stepSeconds is how long devk's output says a finished step took.
func stepSeconds(output, step string) (float64, bool) {
	for _, m := range stepDone.FindAllStringSubmatch(output, -1) {
		if strings.HasPrefix(m[1], step) {
			s, err := strconv.ParseFloat(m[2], 64)
			return s, err == nil
		}
	}
	return 0, false
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
