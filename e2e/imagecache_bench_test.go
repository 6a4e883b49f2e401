package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"
)

// BenchmarkImageCache measures how long a pod takes to run a 100 MB image the node does
// not have: through the shared image cache when another cluster pulled it before (a
// hit), through the cache the first time (a miss: the cache fetches it), and straight
// from the upstream registry (the cache off). The upstream is a registry on this
// machine, so the numbers show the cache's own cost, not a network's.
func BenchmarkImageCache(b *testing.B) {
	requireE2E(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bin := buildConnectProxy(b)
	upstream := startRegistry(b, false)
	env := NewEnv(b, devkBin, "e2e-cache-bench")
	env.Extra = append(env.Extra, fmt.Sprintf("DEVK_IMAGE_CACHE_UPSTREAMS=docker.io=http://host.docker.internal:%d", upstream.port))
	env.Devk(ctx, "delete")
	b.Cleanup(func() { env.Devk(context.Background(), "delete") })
	env.MustDevk(ctx, "start")
	gw := devkGateway(ctx, b)
	cs := env.Client()

	const runs = 3
	var hit, miss, direct []time.Duration
	for i := 0; i < runs; i++ {
		tag := fmt.Sprintf("bench-%d", time.Now().UnixNano())
		image := "docker.io/library/devk-cache-bench:" + tag
		upstream.push(b, "library/devk-cache-bench", tag, proxyImage(b, bin, 100<<20))
		runPod := func(what string) time.Duration {
			name := fmt.Sprintf("%s-%d", what, i)
			start := time.Now()
			if _, err := RunPod(ctx, cs, "default", name, image, nil, 5*time.Minute); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			took := time.Since(start)
			if r := env.Devk(ctx, "image", "rm", image); r.Code != 0 { // the next pod pulls again
				out, _ := Docker(ctx, "exec", env.Profile, "journalctl", "-u", "docker", "--no-pager", "-n", "60")
				b.Fatalf("image rm: %s\n%s", r.Stderr, out)
			}
			return took
		}
		env.MustDevk(ctx, "start", "--image-cache=true", "--registry-mirror", "")
		miss = append(miss, runPod("miss"))
		hit = append(hit, runPod("hit")) // as a second cluster would: the node has no copy
		env.MustDevk(ctx, "start", "--image-cache=false", "--registry-mirror", fmt.Sprintf("http://%s:%d", gw, upstream.port))
		direct = append(direct, runPod("direct"))
		env.MustDevk(ctx, "cache", "rm", image)
	}
	b.ReportMetric(median(hit).Seconds(), "s-cache-hit")
	b.ReportMetric(median(miss).Seconds(), "s-cache-miss")
	b.ReportMetric(median(direct).Seconds(), "s-upstream")
	fmt.Fprintf(os.Stderr, "\n| 100 MB image, pod created → Succeeded (%d runs) | seconds |\n|---|---|\n| cache hit (pulled before by another cluster) | %s |\n| cache miss (the cache fetches it) | %s |\n| straight from the upstream (cache off) | %s |\n",
		runs, spread(hit), spread(miss), spread(direct))
}

// spread is "min–max" of durations in seconds.
func spread(ds []time.Duration) string {
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return fmt.Sprintf("%.1f–%.1f", lo.Seconds(), hi.Seconds())
}

func median(ds []time.Duration) time.Duration {
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return sorted[len(sorted)/2]
}
