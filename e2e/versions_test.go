package e2e

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestKubernetesVersions runs the lifecycle on each version in DEVK_E2E_VERSIONS (comma
// separated; `make test-versions` sets three minors): start, the node at that version, a
// pod resolving DNS, objects kept across stop/start, delete. Each version's node image is
// built from source the first time (minutes), so it is not part of `make test`.
func TestKubernetesVersions(t *testing.T) {
	requireE2E(t)
	versions := os.Getenv("DEVK_E2E_VERSIONS")
	if versions == "" {
		t.Skip("set DEVK_E2E_VERSIONS (make test-versions does)")
	}
	for _, v := range strings.Split(versions, ",") {
		v = strings.TrimSpace(v)
		t.Run(v, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
			defer cancel()
			env := NewEnv(t, devkBin, "e2e-v"+strings.NewReplacer("v", "", ".", "-").Replace(v))
			env.Devk(ctx, "delete")
			t.Cleanup(func() { env.Devk(context.Background(), "delete") })
			built := env.MustDevk(ctx, "node-image", "--kubernetes-version", v)
			t.Logf("node image %s ready in %s", strings.TrimSpace(built.Stdout), built.Duration.Round(time.Second))
			r := env.MustDevk(ctx, "start", "--kubernetes-version", v)
			t.Logf("start took %s", r.Duration.Round(time.Millisecond))
			cs := env.Client()
			if err := NodeReady(ctx, cs, env.Profile); err != nil {
				t.Fatal(err)
			}
			if sv, err := cs.Discovery().ServerVersion(); err != nil || sv.GitVersion != v {
				t.Errorf("server version %v (%v), want %s", sv, err, v)
			}
			if n, err := cs.CoreV1().Nodes().Get(ctx, env.Profile, metav1.GetOptions{}); err != nil || n.Status.NodeInfo.KubeletVersion != v {
				t.Errorf("kubelet version: %v", err)
			}
			logs, err := RunPod(ctx, cs, "default", "dns", "busybox:1.37", []string{"nslookup", "kubernetes.default.svc.cluster.local"}, 3*time.Minute)
			if err != nil || !strings.Contains(logs, "10.96.0.1") {
				t.Fatalf("DNS in a pod: %v\n%s", err, logs)
			}
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "survivor"}, Data: map[string]string{"k": "v"}}
			if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			env.MustDevk(ctx, "stop")
			r = env.MustDevk(ctx, "start")
			t.Logf("restart took %s", r.Duration.Round(time.Millisecond))
			if got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "survivor", metav1.GetOptions{}); err != nil || got.Data["k"] != "v" {
				t.Fatalf("ConfigMap lost across stop/start: %v", err)
			}
			env.MustDevk(ctx, "delete")
		})
	}
}
