package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestInnerLoop replays what a new user does: build images with the host's docker CLI
// pointed at the node (no registry, no push, no load), run them, reach them from the
// host, scale, roll out a new version without failed requests, and scale to zero.
func TestInnerLoop(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	env := NewEnv(t, devkBin, "e2e-loop")
	env.Devk(ctx, "delete")
	t.Cleanup(func() { env.Devk(context.Background(), "delete") })
	env.MustDevk(ctx, "start")

	_, file, _, _ := runtime.Caller(0)
	data := filepath.Join(filepath.Dir(filepath.Dir(file)), "testdata", "innerloop")

	dockerEnv := env.DockerEnv(ctx)
	shell := env.MustDevk(ctx, "docker-env").Stdout
	for _, want := range []string{`export DOCKER_HOST="tcp://127.0.0.1:`, `export DOCKER_TLS_VERIFY="1"`, "export DOCKER_CERT_PATH=", "# eval $(devk -p e2e-loop docker-env)"} {
		if !strings.Contains(shell, want) {
			t.Errorf("docker-env output lacks %q:\n%s", want, shell)
		}
	}
	docker := func(args ...string) string {
		t.Helper()
		cmd := NodeDocker(ctx, dockerEnv, args...)
		cmd.Env = append(cmd.Env, "DOCKER_BUILDKIT=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	t.Run("dockerd accepts only mutual TLS", func(t *testing.T) {
		host := strings.TrimPrefix(dockerEnv["DOCKER_HOST"], "tcp://")
		resp, err := http.Get("http://" + host + "/version")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), "ApiVersion") {
				t.Fatalf("plain HTTP reached dockerd: %s", body)
			}
		}
		cmd := exec.CommandContext(ctx, "docker", "version")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockerEnv["DOCKER_HOST"], "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH="+t.TempDir())
		if out, err := cmd.CombinedOutput(); err == nil && strings.Contains(string(out), "Server:") {
			t.Fatalf("dockerd answered a client without our certificates:\n%s", out)
		}
	})

	docker("build", "-t", "web-app:1.0", filepath.Join(data, "webapp"))
	docker("build", "-t", "frontend:1.0", filepath.Join(data, "frontend"))
	built := time.Now()
	if out := docker("images", "--format", "{{.Repository}}:{{.Tag}}"); !strings.Contains(out, "web-app:1.0") || !strings.Contains(out, "busybox:1.37") {
		t.Fatalf("docker images does not list the cluster's images:\n%s", out)
	}
	env.MustDevk(ctx, "kubectl", "--", "apply", "-f", filepath.Join(data, "app.yaml"))
	env.MustDevk(ctx, "kubectl", "--", "rollout", "status", "deployment/webapp", "--timeout=2m")
	t.Logf("docker build finished to webapp pod Ready: %.1fs", time.Since(built).Seconds())
	env.MustDevk(ctx, "kubectl", "--", "rollout", "status", "deployment/frontend", "--timeout=2m")

	url := strings.TrimSpace(env.MustDevk(ctx, "service", "frontendservice", "--url").Stdout)
	if !strings.HasPrefix(url, "http://") || strings.Contains(url, "\n") {
		t.Fatalf("service --url printed %q, want one URL", url)
	}
	get := func() (int, string, error) {
		c := http.Client{Timeout: 5 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	expect := func(t *testing.T, want string) {
		t.Helper()
		if err := Eventually(ctx, time.Minute, func() error {
			code, body, err := get()
			if err != nil {
				return err
			}
			if code != 200 || !strings.Contains(body, want) {
				return fmt.Errorf("%d %q", code, body)
			}
			return nil
		}); err != nil {
			t.Fatalf("%s did not answer %q: %v", url, want, err)
		}
	}
	// hammer sends requests until stop is closed and counts the ones that fail.
	hammer := func(want string) (stop func() (ok, failed int64, lastErr string)) {
		var okN, failN atomic.Int64
		var mu sync.Mutex
		var last string
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				case <-time.After(100 * time.Millisecond):
				}
				code, body, err := get()
				if err != nil || code != 200 || (want != "" && !strings.Contains(body, "hello from webapp")) {
					failN.Add(1)
					mu.Lock()
					last = fmt.Sprintf("%d %q %v", code, body, err)
					mu.Unlock()
					continue
				}
				okN.Add(1)
			}
		}()
		return func() (int64, int64, string) {
			close(done)
			wg.Wait()
			return okN.Load(), failN.Load(), last
		}
	}

	t.Run("frontend answers with the web app's text from the host", func(t *testing.T) {
		expect(t, "hello from webapp v1")
	})

	cs := env.Client()
	t.Run("a deleted pod is replaced and the URL keeps answering", func(t *testing.T) {
		env.MustDevk(ctx, "kubectl", "--", "scale", "deployment/webapp", "--replicas=2")
		env.MustDevk(ctx, "kubectl", "--", "rollout", "status", "deployment/webapp", "--timeout=2m")
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=webapp"})
		if err != nil || len(pods.Items) != 2 {
			t.Fatalf("want 2 webapp pods: %v %v", len(pods.Items), err)
		}
		stop := hammer("hello from webapp")
		if err := cs.CoreV1().Pods("default").Delete(ctx, pods.Items[0].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		deleted := pods.Items[0].Name
		err = Eventually(ctx, 2*time.Minute, func() error {
			list, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=webapp"})
			if err != nil {
				return err
			}
			ready := 0
			for _, p := range list.Items {
				if p.Name == deleted {
					return fmt.Errorf("pod %s still terminating", deleted)
				}
				for _, c := range p.Status.Conditions {
					if c.Type == "Ready" && c.Status == "True" {
						ready++
					}
				}
			}
			if ready != 2 {
				return fmt.Errorf("%d of 2 webapp pods ready", ready)
			}
			return nil
		})
		time.Sleep(time.Second) // a few more requests against the new set of endpoints
		ok, failed, last := stop()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("during the pod replacement: %d requests answered, %d failed", ok, failed)
		if failed > 0 || ok == 0 {
			t.Errorf("%d requests failed while a pod was replaced (last: %s)", failed, last)
		}
	})

	t.Run("rolling out web-app:2.0 fails no request", func(t *testing.T) {
		docker("build", "--build-arg", "MESSAGE=hello from webapp v2", "-t", "web-app:2.0", filepath.Join(data, "webapp"))
		built := time.Now()
		stop := hammer("hello from webapp")
		env.MustDevk(ctx, "kubectl", "--", "set", "image", "deployment/webapp", "web=web-app:2.0")
		env.MustDevk(ctx, "kubectl", "--", "rollout", "status", "deployment/webapp", "--timeout=2m")
		t.Logf("docker build finished to the rollout of web-app:2.0 complete: %.1fs", time.Since(built).Seconds())
		expect(t, "hello from webapp v2")
		ok, failed, last := stop()
		t.Logf("during the rollout: %d requests answered, %d failed", ok, failed)
		if failed > 0 || ok == 0 {
			t.Errorf("%d requests failed during the rollout (last: %s)", failed, last)
		}
	})

	t.Run("with the web app scaled to zero the frontend reports the error", func(t *testing.T) {
		env.MustDevk(ctx, "kubectl", "--", "scale", "deployment/webapp", "--replicas=0")
		if err := Eventually(ctx, time.Minute, func() error {
			code, body, err := get()
			if err != nil {
				return err
			}
			if code != http.StatusBadGateway || !strings.Contains(body, "webservice unavailable") {
				return fmt.Errorf("%d %q", code, body)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// The web app's own Service has no node port and no ready pod: a clear refusal.
		r := env.Devk(ctx, "service", "webservice", "--url", "--wait", "2s")
		if r.Code != 40 || !strings.Contains(r.Stderr, "kubectl expose") {
			t.Errorf("service --url of a ClusterIP service: exit %d: %s", r.Code, r.Stderr)
		}
		r = env.Devk(ctx, "service", "nosuch", "--url")
		if r.Code != 40 || !strings.Contains(r.Stderr, "not found") {
			t.Errorf("service --url of a missing service: exit %d: %s", r.Code, r.Stderr)
		}
	})

	t.Run("LoadBalancer services get an address reachable from the host", func(t *testing.T) {
		env.MustDevk(ctx, "kubectl", "--", "expose", "deployment/frontend", "--name=frontend-lb", "--type=LoadBalancer", "--port=8081", "--target-port=8080")
		var ip string
		if err := Eventually(ctx, time.Minute, func() error {
			svc, err := cs.CoreV1().Services("default").Get(ctx, "frontend-lb", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(svc.Status.LoadBalancer.Ingress) == 0 {
				return fmt.Errorf("no external IP yet")
			}
			ip = svc.Status.LoadBalancer.Ingress[0].IP
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		lbURL := strings.TrimSpace(env.MustDevk(ctx, "service", "frontend-lb", "--url").Stdout)
		if lbURL != "http://"+ip+":8081" {
			t.Errorf("service --url = %q, want http://%s:8081", lbURL, ip)
		}
		if err := Eventually(ctx, time.Minute, func() error {
			resp, err := http.Get(lbURL)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadGateway { // the web app is still at zero
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("image commands", func(t *testing.T) {
		ls := env.MustDevk(ctx, "image", "ls", "-o", "json").Stdout
		var images []struct{ Ref string }
		if err := json.Unmarshal([]byte(ls), &images); err != nil {
			t.Fatalf("%v: %s", err, ls)
		}
		found := false
		for _, img := range images {
			found = found || img.Ref == "web-app:2.0"
		}
		if !found {
			t.Fatalf("image ls lacks web-app:2.0: %s", ls)
		}
		env.MustDevk(ctx, "image", "build", "-t", "built-in-node:1", filepath.Join(data, "webapp"))
		archive := filepath.Join(t.TempDir(), "img.tar")
		docker("save", "-o", archive, "built-in-node:1")
		env.MustDevk(ctx, "image", "rm", "built-in-node:1")
		if strings.Contains(env.MustDevk(ctx, "image", "ls").Stdout, "built-in-node:1") {
			t.Fatal("image rm left the image")
		}
		env.MustDevk(ctx, "image", "load", archive)
		if !strings.Contains(env.MustDevk(ctx, "image", "ls").Stdout, "built-in-node:1") {
			t.Fatal("image load from an archive did not add the image")
		}
		if r := env.Devk(ctx, "image", "load", "no-such-image:1"); r.Code != 41 {
			t.Errorf("loading a missing image: exit %d: %s", r.Code, r.Stderr)
		}
	})

	// Two LoadBalancer Services on the same port: each gets its own address from the pool.
	lbIPs := map[string]string{}
	lbAddress := func(name string) (string, error) {
		var ip string
		err := Eventually(ctx, time.Minute, func() error {
			svc, err := cs.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if len(svc.Status.LoadBalancer.Ingress) == 0 {
				return fmt.Errorf("%s has no external IP yet", name)
			}
			ip = svc.Status.LoadBalancer.Ingress[0].IP
			return nil
		})
		return ip, err
	}
	answers := func(url, want string) error { return Answers(ctx, time.Minute, url, want) }

	t.Run("two LoadBalancer Services on port 80 get an address each", func(t *testing.T) {
		nodeIP := strings.TrimSpace(env.MustDevk(ctx, "ip").Stdout)
		pool := nodeIP[:strings.LastIndex(nodeIP, ".")+1]
		for _, name := range []string{"lb-one", "lb-two"} {
			env.MustDevk(ctx, "kubectl", "--", "create", "deployment", name, "--image=busybox:1.37", "--",
				"sh", "-c", "mkdir -p /www && echo hello from "+name+" > /www/index.html && exec httpd -f -p 8080 -h /www")
			env.MustDevk(ctx, "kubectl", "--", "expose", "deployment", name, "--type=LoadBalancer", "--port=80", "--target-port=8080")
			ip, err := lbAddress(name)
			if err != nil {
				t.Fatal(err)
			}
			last, _ := strconv.Atoi(ip[strings.LastIndex(ip, ".")+1:])
			if !strings.HasPrefix(ip, pool) || last < 200 {
				t.Errorf("%s got %s, want an address of the pool %s200-254", name, ip, pool)
			}
			lbIPs[name] = ip
		}
		if lbIPs["lb-one"] == lbIPs["lb-two"] {
			t.Fatalf("both Services got %s", lbIPs["lb-one"])
		}
		for name, ip := range lbIPs {
			if err := answers("http://"+ip+"/", "hello from "+name); err != nil {
				t.Error(err)
			}
		}
		list := env.MustDevk(ctx, "profile", "list").Stdout
		if !strings.Contains(list, pool+"200-"+pool+"254") {
			t.Errorf("profile list does not show the LoadBalancer range:\n%s", list)
		}

		// An address outside the pool is refused with an Event, and the Service waits.
		bad := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "lb-outside"}, Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, LoadBalancerIP: "10.1.2.3", Selector: map[string]string{"app": "lb-one"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
		if _, err := cs.CoreV1().Services("default").Create(ctx, bad, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := Eventually(ctx, time.Minute, func() error {
			evs, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=lb-outside"})
			if err != nil {
				return err
			}
			for _, e := range evs.Items {
				if e.Reason == "AllocationFailed" && strings.Contains(e.Message, "not in devk's LoadBalancer range") {
					return nil
				}
			}
			return fmt.Errorf("no AllocationFailed event yet (%d events)", len(evs.Items))
		}); err != nil {
			t.Error(err)
		}
		if svc, _ := cs.CoreV1().Services("default").Get(ctx, "lb-outside", metav1.GetOptions{}); svc != nil && len(svc.Status.LoadBalancer.Ingress) > 0 {
			t.Errorf("a refused Service got %v", svc.Status.LoadBalancer.Ingress)
		}

		// A deleted Service's address goes to the next one.
		if err := cs.CoreV1().Services("default").Delete(ctx, "lb-two", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		env.MustDevk(ctx, "kubectl", "--", "expose", "deployment", "lb-two", "--name=lb-three", "--type=LoadBalancer", "--port=80", "--target-port=8080")
		if ip, err := lbAddress("lb-three"); err != nil || ip != lbIPs["lb-two"] {
			t.Errorf("lb-three got %s (%v), want the released %s", ip, err, lbIPs["lb-two"])
		}
	})

	t.Run("devk keeps its own engine while docker-env is active", func(t *testing.T) {
		// The shell after `eval $(devk docker-env)`: DOCKER_HOST is the node's dockerd.
		var vars []string
		for _, line := range strings.Split(env.MustDevk(ctx, "docker-env").Stdout, "\n") {
			if kv, ok := strings.CutPrefix(line, "export "); ok {
				vars = append(vars, strings.ReplaceAll(kv, `"`, ""))
			}
		}
		inShell := withEnv(env, vars...)
		if r := inShell.Devk(ctx, "status"); r.Code != 0 || !strings.Contains(r.Stdout, "Running") {
			t.Fatalf("status under docker-env: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
		}
		if url := strings.TrimSpace(inShell.MustDevk(ctx, "service", "frontendservice", "--url").Stdout); !strings.HasPrefix(url, "http://") {
			t.Errorf("service --url under docker-env: %q", url)
		}
		inShell.MustDevk(ctx, "stop")
		inShell.MustDevk(ctx, "start")
		if err := Eventually(ctx, time.Minute, func() error { _, _, err := get(); return err }); err != nil {
			t.Errorf("the frontend does not answer after stop/start under docker-env: %v", err)
		}
		if ip, err := lbAddress("lb-one"); err != nil || ip != lbIPs["lb-one"] {
			t.Errorf("lb-one has %s (%v) after stop/start, want %s kept", ip, err, lbIPs["lb-one"])
		} else if err := answers("http://"+ip+"/", "hello from lb-one"); err != nil {
			t.Errorf("after stop/start: %v", err)
		}
		other := withEnv(inShell)
		other.Profile = "e2e-loop-other"
		t.Cleanup(func() { other.Devk(context.Background(), "delete") })
		other.MustDevk(ctx, "start")
		if out, err := Docker(ctx, "inspect", "-f", "{{.State.Running}}", other.Profile); err != nil || out != "true" {
			t.Errorf("start -p %s under docker-env did not create its node on the host's engine: %v %s", other.Profile, err, out)
		}
		other.MustDevk(ctx, "delete")
	})
}
