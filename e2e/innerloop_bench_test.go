package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// BenchmarkInnerLoop measures the developer loop: from `docker build` (through `devk
// docker-env`) done to a Deployment's pod of that image Ready, with the same readiness
// probe as the inner-loop test's web app, applied as a user would, with `devk kubectl
// -- apply`. Run with `make bench`.
func BenchmarkInnerLoop(b *testing.B) {
	requireE2E(b)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	env := NewEnv(b, devkBin, "e2e-loopbench")
	env.Devk(ctx, "delete")
	b.Cleanup(func() { env.Devk(context.Background(), "delete") })
	env.MustDevk(ctx, "start")
	cs := env.Client()

	dockerEnv := env.DockerEnv(ctx)
	_, file, _, _ := runtime.Caller(0)
	webapp := filepath.Join(filepath.Dir(filepath.Dir(file)), "testdata", "innerloop", "webapp")

	for i := 0; i < b.N; i++ {
		tag := fmt.Sprintf("web-app:bench-%d", i)
		cmd := NodeDocker(ctx, dockerEnv, "build", "--build-arg", "MESSAGE=bench "+tag, "-t", tag, webapp)
		cmd.Env = append(cmd.Env, "DOCKER_BUILDKIT=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("docker build: %v\n%s", err, out)
		}
		built := time.Now()
		name := fmt.Sprintf("loop-%d", i)
		manifest, err := json.Marshal(webDeployment(name, tag))
		if err != nil {
			b.Fatal(err)
		}
		path := filepath.Join(b.TempDir(), name+".json")
		if err := os.WriteFile(path, manifest, 0o600); err != nil {
			b.Fatal(err)
		}
		env.MustDevk(ctx, "kubectl", "--", "apply", "-f", path)
		if err := podReady(ctx, cs, "app="+name); err != nil {
			b.Fatal(err)
		}
		ready := time.Since(built)
		b.ReportMetric(ready.Seconds(), "s-build-to-pod-ready")
		fmt.Fprintf(os.Stderr, "\n| docker build done → pod Ready | %.2f s |\n", ready.Seconds())
	}
}

// webDeployment runs image as the inner-loop test's web app does: from the node's own
// images, ready once it answers HTTP.
func webDeployment(name, image string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: image, ImagePullPolicy: corev1.PullNever,
					Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{
						ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}},
						PeriodSeconds: 1,
					},
				}}},
			},
		},
	}
}

// podReady waits, polling every 50 ms, for a pod matching selector to be Ready.
func podReady(ctx context.Context, cs kubernetes.Interface, selector string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err == nil {
			for _, p := range pods.Items {
				for _, c := range p.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						return nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no pod %s Ready: %w", selector, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
