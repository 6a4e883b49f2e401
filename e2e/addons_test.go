package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// TestAddons runs every addon on one cluster: the default storage keeps a claim's data
// across pod deletion and stop/start, metrics-server answers `kubectl top` and feeds a
// HorizontalPodAutoscaler, an Ingress answers from the host, and an image pushed
// through docker-env is pulled by a pod.
// The first run builds the addons' images from Go sources (minutes); later runs use
// the image cache in DEVK_HOME.
func TestAddons(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	env := NewEnv(t, devkBin, "e2e-addons")
	env.Devk(ctx, "delete") // leftovers of an interrupted earlier run
	t.Cleanup(func() { env.Devk(context.Background(), "delete") })

	r := env.MustDevk(ctx, "start")
	t.Logf("devk start took %s\n%s", r.Duration.Round(time.Millisecond), r.Stderr)
	cs := env.Client()
	nodeIP := strings.TrimSpace(env.MustDevk(ctx, "ip").Stdout)
	var ingressIP string // the ingress addon's LoadBalancer address, once it has one

	enabled := func(t *testing.T) map[string]bool {
		t.Helper()
		var states []struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
		}
		r := env.MustDevk(ctx, "addons", "list", "-o", "json")
		if err := json.Unmarshal([]byte(r.Stdout), &states); err != nil {
			t.Fatalf("addons list -o json: %v\n%s", err, r.Stdout)
		}
		out := map[string]bool{}
		for _, s := range states {
			out[s.Name] = s.Enabled
		}
		return out
	}

	t.Run("defaults enabled, unknown names refused", func(t *testing.T) {
		on := enabled(t)
		if !on["storage-provisioner"] || !on["default-storageclass"] || on["metrics-server"] {
			t.Errorf("enabled addons of a new cluster: %v", on)
		}
		for _, args := range [][]string{{"addons", "enable", "nope"}, {"addons", "disable", "nope"}, {"start", "--addons", "metrics-server,nope"}} {
			r := env.Devk(ctx, args...)
			if r.Code != 2 || !strings.Contains(r.Stderr, `"nope"`) || !strings.Contains(r.Stderr, "metrics-server") {
				t.Errorf("devk %s: exit %d, want 2 and a message listing the addons:\n%s", strings.Join(args, " "), r.Code, r.Stderr)
			}
		}
	})

	t.Run("a claim binds and keeps its data across pod deletion", func(t *testing.T) {
		pvc := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
			},
		}
		if _, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if out, err := addonRunWithClaim(ctx, cs, "writer", "echo kept > /data/file && cat /data/file"); err != nil || !strings.Contains(out, "kept") {
			t.Fatalf("writer: %v\n%s", err, out)
		}
		got, err := cs.CoreV1().PersistentVolumeClaims("default").Get(ctx, "data", metav1.GetOptions{})
		if err != nil || got.Status.Phase != corev1.ClaimBound || got.Spec.StorageClassName == nil || *got.Spec.StorageClassName != "standard" {
			t.Fatalf("claim not bound by the default class: %+v %v", got.Status, err)
		}
		if out, err := addonRunWithClaim(ctx, cs, "reader", "cat /data/file"); err != nil || strings.TrimSpace(out) != "kept" {
			t.Fatalf("data lost after the pod was deleted: %v\n%s", err, out)
		}
	})

	t.Run("metrics-server answers kubectl top", func(t *testing.T) {
		r := env.MustDevk(ctx, "addons", "enable", "metrics-server")
		t.Logf("enable metrics-server took %s\n%s", r.Duration.Round(time.Millisecond), r.Stderr)
		var out string
		err := Eventually(ctx, 3*time.Minute, func() error {
			r := env.Devk(ctx, "kubectl", "--", "top", "nodes", "--no-headers")
			out = r.Stdout + r.Stderr
			if r.Code != 0 || !strings.HasPrefix(strings.TrimSpace(r.Stdout), env.Profile+" ") {
				return fmt.Errorf("kubectl top nodes: exit %d: %s", r.Code, out)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("kubectl top nodes: %s", strings.TrimSpace(out))
	})

	t.Run("a HorizontalPodAutoscaler scales on CPU", func(t *testing.T) {
		// A busy loop limited to 200m against a 50m request runs at about 400% of its
		// request, well above the 50% target: the autoscaler must add a replica.
		labels := map[string]string{"app": "busy"}
		dep := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "busy"},
			Spec: appsv1.DeploymentSpec{
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: "busy", Image: "busybox:1.37", Command: []string{"sh", "-c", "while :; do :; done"},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")},
							Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m")},
						},
					}}},
				},
			},
		}
		if _, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		target := int32(50)
		hpa := &autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "busy"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "busy"},
				MinReplicas:    ptrTo(int32(1)), MaxReplicas: 2,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target},
				}}},
			},
		}
		if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers("default").Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cs.AutoscalingV2().HorizontalPodAutoscalers("default").Delete(context.Background(), "busy", metav1.DeleteOptions{})
			_ = cs.AppsV1().Deployments("default").Delete(context.Background(), "busy", metav1.DeleteOptions{})
		})
		began := time.Now()
		err := Eventually(ctx, 4*time.Minute, func() error {
			got, err := cs.AutoscalingV2().HorizontalPodAutoscalers("default").Get(ctx, "busy", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if got.Status.DesiredReplicas < 2 {
				return fmt.Errorf("desired replicas %d; conditions %+v", got.Status.DesiredReplicas, got.Status.Conditions)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("the autoscaler did not scale the busy Deployment: %v", err)
		}
		t.Logf("scaled to 2 replicas %s after the autoscaler was created", time.Since(began).Round(time.Second))
	})

	t.Run("an Ingress answers from the host", func(t *testing.T) {
		r := env.MustDevk(ctx, "addons", "enable", "ingress")
		t.Logf("enable ingress took %s\n%s", r.Duration.Round(time.Millisecond), r.Stderr)
		if err := addonDeployWeb(ctx, cs, "web", "hello from web"); err != nil {
			t.Fatal(err)
		}
		ing := &networkingv1.Ingress{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{
				Host: "web.devk.test",
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
					Path: "/", PathType: addonPtr(networkingv1.PathTypePrefix),
					Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
				}}}},
			}}},
		}
		if _, err := cs.NetworkingV1().Ingresses("default").Create(ctx, ing, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := Eventually(ctx, 2*time.Minute, func() error { return addonHTTPGet(ctx, "http://"+nodeIP+"/", "web.devk.test", "hello from web") }); err != nil {
			t.Fatal(err)
		}
		if err := addonHTTPGet(ctx, "http://"+nodeIP+"/", "other.devk.test", "hello from web"); err == nil {
			t.Errorf("a host name without a rule reached the service")
		}
		err := Eventually(ctx, time.Minute, func() error {
			got, err := cs.NetworkingV1().Ingresses("default").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if got.Spec.IngressClassName == nil || *got.Spec.IngressClassName != "traefik" {
				return fmt.Errorf("ingress class %v, want the default traefik", got.Spec.IngressClassName)
			}
			svc, err := cs.CoreV1().Services("ingress").Get(ctx, "traefik", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if lb := svc.Status.LoadBalancer.Ingress; len(lb) == 0 || lb[0].IP == nodeIP {
				return fmt.Errorf("the ingress Service's address %+v, want one of its own (not the node's %s)", lb, nodeIP)
			}
			if lb := got.Status.LoadBalancer.Ingress; len(lb) == 0 || lb[0].IP != svc.Status.LoadBalancer.Ingress[0].IP {
				return fmt.Errorf("ingress status %+v, want the ingress Service's address %v", lb, svc.Status.LoadBalancer.Ingress)
			}
			ingressIP = svc.Status.LoadBalancer.Ingress[0].IP
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		if err := addonHTTPGet(ctx, "http://"+ingressIP+"/", "web.devk.test", "hello from web"); err != nil {
			t.Errorf("the Ingress at its LoadBalancer address: %v", err)
		}
	})

	t.Run("registry: docker push through docker-env, pull by a pod", func(t *testing.T) {
		r := env.MustDevk(ctx, "addons", "enable", "registry")
		t.Logf("enable registry took %s\n%s", r.Duration.Round(time.Millisecond), r.Stderr)
		dockerEnv := env.DockerEnv(ctx)
		docker := func(args ...string) error {
			if out, err := NodeDocker(ctx, dockerEnv, args...).CombinedOutput(); err != nil {
				return fmt.Errorf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return nil
		}
		const ref = "localhost:5000/e2e/pushed:1"
		// An image of its own (busybox with a label), not a second tag of the preloaded
		// busybox: from v1.35 the kubelet records which images it pulled with which
		// credentials, and would then re-verify busybox:1.37 against Docker Hub, which
		// this machine cannot reach.
		build := t.TempDir()
		if err := os.WriteFile(filepath.Join(build, "Dockerfile"), []byte("FROM busybox:1.37\nLABEL dev.devk.e2e=pushed\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"build", "-t", ref, build}, {"push", ref}, {"rmi", ref}} {
			if err := docker(args...); err != nil {
				t.Fatal(err)
			}
		}
		// The pod's image is gone from the node, so the node must pull it from the registry.
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "pulled"},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{
				Name: "main", Image: ref, ImagePullPolicy: corev1.PullAlways,
				Command: []string{"sh", "-c", "wget -qO- http://registry.kube-system.svc.cluster.local/v2/_catalog"},
			}}},
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		logs, err := addonWaitPod(ctx, cs, "pulled", 2*time.Minute)
		if err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
		if !strings.Contains(logs, `"e2e/pushed"`) {
			t.Errorf("the registry's catalog, asked at its cluster address, lacks the pushed repository: %s", logs)
		}
	})

	t.Run("data and addons survive stop and start", func(t *testing.T) {
		env.MustDevk(ctx, "stop")
		r := env.MustDevk(ctx, "start")
		t.Logf("restart took %s\n%s", r.Duration.Round(time.Millisecond), r.Stderr)
		if !strings.Contains(r.Stderr, "Enabling addon metrics-server") {
			t.Errorf("start did not re-apply the enabled addons:\n%s", r.Stderr)
		}
		if out, err := addonRunWithClaim(ctx, cs, "after-restart", "cat /data/file"); err != nil || strings.TrimSpace(out) != "kept" {
			t.Fatalf("claim data lost across stop/start: %v\n%s", err, out)
		}
		if err := Eventually(ctx, 2*time.Minute, func() error { return addonHTTPGet(ctx, "http://"+nodeIP+"/", "web.devk.test", "hello from web") }); err != nil {
			t.Errorf("ingress after restart: %v", err)
		}
		on := enabled(t)
		for _, n := range []string{"storage-provisioner", "default-storageclass", "metrics-server", "ingress", "registry"} {
			if !on[n] {
				t.Errorf("%s no longer enabled after restart: %v", n, on)
			}
		}
	})

	t.Run("disable removes the addon and forgets it", func(t *testing.T) {
		env.MustDevk(ctx, "addons", "disable", "ingress")
		if _, err := cs.AppsV1().Deployments("ingress").Get(ctx, "traefik", metav1.GetOptions{}); err == nil {
			t.Errorf("traefik still deployed after disable")
		}
		if on := enabled(t); on["ingress"] {
			t.Errorf("ingress still enabled in the profile")
		}
		if err := addonHTTPGet(ctx, "http://"+nodeIP+"/", "web.devk.test", "hello from web"); err == nil {
			t.Errorf("the Ingress still answers after disable")
		}
	})
}

func addonPtr[T any](v T) *T { return &v }

// addonRunWithClaim runs a pod that mounts claim "data" at /data, deletes it, and returns its logs.
func addonRunWithClaim(ctx context.Context, cs kubernetes.Interface, name, script string) (string, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox:1.37", Command: []string{"sh", "-c", script},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
			}}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	logs, err := addonWaitPod(ctx, cs, name, 3*time.Minute)
	zero := int64(0)
	_ = cs.CoreV1().Pods("default").Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	return logs, err
}

// addonWaitPod waits for a pod to finish and returns its logs; a failed pod is an error.
func addonWaitPod(ctx context.Context, cs kubernetes.Interface, name string, timeout time.Duration) (string, error) {
	var last *corev1.Pod
	err := Eventually(ctx, timeout, func() error {
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		last = p
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			return nil
		case corev1.PodFailed:
			return nil
		}
		return fmt.Errorf("pod %s is %s: %+v", name, p.Status.Phase, p.Status.ContainerStatuses)
	})
	logs, _ := cs.CoreV1().Pods("default").GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return string(logs), err
	}
	if last.Status.Phase != corev1.PodSucceeded {
		return string(logs), fmt.Errorf("pod %s failed: %+v", name, last.Status.ContainerStatuses)
	}
	return string(logs), nil
}

// addonDeployWeb runs busybox httpd serving body, behind a ClusterIP Service on port 80.
func addonDeployWeb(ctx context.Context, cs kubernetes.Interface, name, body string) error {
	labels := map[string]string{"app": name}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: "busybox:1.37",
					Command: []string{"sh", "-c", fmt.Sprintf("mkdir -p /www && echo %q > /www/index.html && exec httpd -f -p 8080 -h /www", body)},
					Ports:   []corev1.ContainerPort{{ContainerPort: 8080}},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}},
						PeriodSeconds: 1},
				}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	_, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	return err
}

// addonHTTPGet GETs url with the Host header and wants a 200 whose body contains want.
func addonHTTPGet(ctx context.Context, url, host, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s (Host %s): %d %s", url, host, resp.StatusCode, body)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }
