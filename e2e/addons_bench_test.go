package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkAddonEnable measures a first `devk addons enable` of each optional addon on a
// new cluster once its image is built (what the background prebuild after the first
// `devk start` leaves): the image loaded into the node, the manifests applied, the
// addon healthy. Run with `make bench`.
func BenchmarkAddonEnable(b *testing.B) {
	requireE2E(b)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	env := NewEnv(b, devkBin, "e2e-addonbench")
	env.Devk(ctx, "delete")
	b.Cleanup(func() { env.Devk(context.Background(), "delete") })
	env.MustDevk(ctx, "addons", "prebuild") // what the background prebuild does

	for i := 0; i < b.N; i++ {
		env.MustDevk(ctx, "start")
		for _, name := range []string{"ingress", "registry", "metrics-server"} {
			r := env.MustDevk(ctx, "addons", "enable", name)
			b.ReportMetric(r.Duration.Seconds(), "s-enable-"+name)
			fmt.Fprintf(os.Stderr, "\n| first enable of %s, image built | %.1f s |\n", name, r.Duration.Seconds())
		}
		env.MustDevk(ctx, "delete")
	}
}
