package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BenchmarkStartup measures the phases of minikube's time-to-k8s with the node image
// cached: `devk start` returning, node Ready, DNS answering in a pod; then stop, restart,
// and the node's idle memory. Run with `make bench`.
func BenchmarkStartup(b *testing.B) {
	requireE2E(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	env := NewEnv(b, devkBin, "e2e-bench")
	env.Devk(ctx, "delete")
	b.Cleanup(func() { env.Devk(context.Background(), "delete") })
	// Build or find the node image first: the budget is for a cached image.
	env.MustDevk(ctx, "node-image")

	for i := 0; i < b.N; i++ {
		begin := time.Now()
		r := env.MustDevk(ctx, "start")
		returned := time.Since(begin)
		cs := env.Client()
		if err := Eventually(ctx, 2*time.Minute, func() error { return NodeReady(ctx, cs, env.Profile) }); err != nil {
			b.Fatal(err)
		}
		ready := time.Since(begin)
		name := fmt.Sprintf("dns-%d", i)
		if _, err := RunPod(ctx, cs, "default", name, "busybox:1.37", []string{"nslookup", "kubernetes.default.svc.cluster.local"}, 2*time.Minute); err != nil {
			b.Fatal(err)
		}
		dns := time.Since(begin)

		time.Sleep(30 * time.Second) // let the node settle before measuring idle memory
		mem, byProcess, err := nodeMemory(ctx, env.Profile)
		if err != nil {
			b.Fatal(err)
		}
		stop := env.MustDevk(ctx, "stop").Duration
		restart := env.MustDevk(ctx, "start")
		if err := NodeReady(ctx, cs, env.Profile); err != nil {
			b.Fatal(err)
		}
		floor, err := measureFloor(ctx, env.Profile)
		if err != nil {
			b.Fatal(err)
		}
		env.MustDevk(ctx, "delete")

		b.ReportMetric(returned.Seconds(), "s-start-returned")
		b.ReportMetric(ready.Seconds(), "s-node-ready")
		b.ReportMetric(dns.Seconds(), "s-dns-in-pod")
		b.ReportMetric(stop.Seconds(), "s-stop")
		b.ReportMetric(restart.Duration.Seconds(), "s-restart")
		b.ReportMetric(float64(mem)/(1<<20), "MiB-idle-node")
		b.ReportMetric(floor.Boot.Seconds(), "s-floor-boot")
		b.ReportMetric(floor.API.Seconds(), "s-floor-api")
		b.ReportMetric(floor.DNS.Seconds(), "s-floor-dns")
		b.ReportMetric(floor.FreshAPI.Seconds(), "s-floor-fresh-api")
		fmt.Fprintf(os.Stderr, "\n| phase | seconds |\n|---|---|\n| start returned | %.1f |\n| node Ready | %.1f |\n| DNS answers in a pod | %.1f |\n| stop | %.1f |\n| restart | %.1f |\n| idle node memory (PSS) | %d MiB |\n",
			returned.Seconds(), ready.Seconds(), dns.Seconds(), stop.Seconds(), restart.Duration.Seconds(), mem>>20)
		fmt.Fprintf(os.Stderr, "\nthe floor beside it, a restart with no devk (same node, components started by hand):\n| container start and boot to containerd | %.1f |\n| components started → API server ready | %.1f |\n| components started → DNS answers | %.1f |\n| together (devk's restart: %.1f) | %.1f |\n| etcd and API server on an empty data dir → API server ready | %.1f |\n",
			floor.Boot.Seconds(), floor.API.Seconds(), floor.DNS.Seconds(), restart.Duration.Seconds(), (floor.Boot + floor.DNS).Seconds(), floor.FreshAPI.Seconds())
		fmt.Fprintf(os.Stderr, "\nidle memory by process (MiB): %s\n\nstart steps:\n%s\nrestart steps:\n%s\n", byProcess, r.Stderr, restart.Stderr)
	}
}

// nodeMemory sums the proportional set size (PSS) of every process in the node (its PID
// namespace): on a cgroup v1 host the node's services and pods live in several cgroups,
// so the container's own cgroup would undercount, and plain RSS would count the pages
// of the shared multi-call Kubernetes binary once per component. byProcess is the same
// by process name, largest first ("kube-apiserver 170, etcd 61, ..."; MiB): where the
// memory goes.
func nodeMemory(ctx context.Context, profile string) (total int64, byProcess string, err error) {
	// One line per process: its PSS in KiB, then its name.
	script := `for p in /proc/[0-9]*; do n=$(cat $p/comm 2>/dev/null) || continue; ` +
		`awk -v n="$n" '/^Pss:/ {print $2, n}' $p/smaps_rollup 2>/dev/null; done`
	out, err := Docker(ctx, "exec", profile, "sh", "-c", script)
	if err != nil {
		return 0, "", fmt.Errorf("memory of the node: %v: %s", err, out)
	}
	kbByName := map[string]int64{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		kb, name, ok := strings.Cut(line, " ")
		n, err := strconv.ParseInt(kb, 10, 64)
		if !ok || err != nil {
			return 0, "", fmt.Errorf("memory of the node: %q", line)
		}
		kbByName[name] += n
		total += n * 1024
	}
	names := slices.Collect(maps.Keys(kbByName))
	slices.SortFunc(names, func(a, b string) int { return cmp.Compare(kbByName[b], kbByName[a]) })
	var parts []string
	for _, name := range names {
		if mib := kbByName[name] >> 10; mib > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", name, mib))
		}
	}
	return total, strings.Join(parts, ", "), nil
}

// BenchmarkSnapshot measures `devk snapshot save` and `restore` (to a Ready cluster with
// DNS) for a cluster holding 200 ConfigMaps, 200 MB of volume data and the default
// images, the extra disk each snapshot takes, and, for comparison, recreating that state
// from scratch (start, objects, data). Run with `make bench`.
func BenchmarkSnapshot(b *testing.B) {
	requireE2E(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	env := NewEnv(b, devkBin, "e2e-snapbench")
	env.Devk(ctx, "delete")
	b.Cleanup(func() { env.Devk(context.Background(), "delete") })
	env.MustDevk(ctx, "node-image")

	for i := 0; i < b.N; i++ {
		begin := time.Now()
		env.MustDevk(ctx, "start")
		cs := env.Client()
		for j := 0; j < 200; j++ {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("obj-%03d", j)}, Data: map[string]string{"j": fmt.Sprint(j)}}
			if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		CreateClaim(ctx, b, cs, "bench-blob", "256Mi")
		if out, err := runClaimPod(ctx, cs, "bench-write", "bench-blob", "head -c 209715200 /dev/urandom > /data/blob && sync && sha256sum /data/blob"); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		fromScratch := time.Since(begin)

		save := env.MustDevk(ctx, "snapshot", "save", "bench")
		var snaps []struct {
			Size          int64   `json:"size"`
			DiskSize      int64   `json:"diskSize"`
			FrozenSeconds float64 `json:"frozenSeconds"`
		}
		if err := json.Unmarshal([]byte(env.MustDevk(ctx, "snapshot", "list", "-o", "json").Stdout), &snaps); err != nil || len(snaps) != 1 {
			b.Fatalf("snapshot list: %v %v", snaps, err)
		}
		restoreBegin := time.Now()
		env.MustDevk(ctx, "snapshot", "restore", "bench")
		cs = env.Client()
		if _, err := RunPod(ctx, cs, "default", fmt.Sprintf("dns-%d", i), "busybox:1.37", []string{"nslookup", "kubernetes.default.svc.cluster.local"}, 2*time.Minute); err != nil {
			b.Fatal(err)
		}
		restoreToDNS := time.Since(restoreBegin)
		// A second snapshot of the same state: what it adds beside the first.
		env.MustDevk(ctx, "snapshot", "save", "bench-2")
		if err := json.Unmarshal([]byte(env.MustDevk(ctx, "snapshot", "list", "-o", "json").Stdout), &snaps); err != nil || len(snaps) != 2 {
			b.Fatalf("snapshot list: %v %v", snaps, err)
		}
		env.MustDevk(ctx, "delete")

		b.ReportMetric(save.Duration.Seconds(), "s-save")
		b.ReportMetric(snaps[0].FrozenSeconds, "s-frozen")
		b.ReportMetric(restoreToDNS.Seconds(), "s-restore-to-dns")
		b.ReportMetric(float64(snaps[0].Size)/(1<<20), "MiB-snapshot")
		b.ReportMetric(float64(snaps[1].Size)/(1<<20), "MiB-second-snapshot")
		b.ReportMetric(fromScratch.Seconds(), "s-state-from-scratch")
		fmt.Fprintf(os.Stderr, "\n| snapshot | value |\n|---|---|\n| save | %.1f s (frozen %.1f s) |\n| restore to DNS in a pod | %.1f s |\n| node disk held | %d MiB |\n| disk added by the first snapshot | %d MiB |\n| disk added by a second one of the same state | %d MiB |\n| same state from scratch | %.1f s |\n",
			save.Duration.Seconds(), snaps[0].FrozenSeconds, restoreToDNS.Seconds(), snaps[0].DiskSize>>20, snaps[0].Size>>20, snaps[1].Size>>20, fromScratch.Seconds())
	}
}
