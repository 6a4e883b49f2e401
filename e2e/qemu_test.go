package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestQEMUDriver runs the same cluster in a virtual machine: under software emulation on
// machines without KVM, so every wait is generous. It checks a pod, a service URL from
// the host, objects kept across stop/start, and that delete leaves nothing behind.
func TestQEMUDriver(t *testing.T) {
	requireE2E(t)
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Fatal("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86 qemu-utils; .ci/run does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	env := NewEnv(t, devkBin, "e2e-vm")
	env.Devk(ctx, "delete")
	t.Cleanup(func() { env.Devk(context.Background(), "delete") })
	// A registry of the test's plays Docker Hub for the shared image cache.
	upstream := startRegistry(t, false)
	cacheTag := fmt.Sprintf("vm-%d", time.Now().UnixNano())
	upstream.push(t, "library/devk-vm-cache", cacheTag, proxyImage(t, buildConnectProxy(t), 0))
	env.Extra = append(env.Extra, fmt.Sprintf("DEVK_IMAGE_CACHE_UPSTREAMS=docker.io=http://host.docker.internal:%d", upstream.port))

	r := env.MustDevk(ctx, "start", "--driver", "qemu", "--cpus", "2", "--memory", "3g")
	t.Logf("devk start --driver qemu took %s\n%s", r.Duration.Round(time.Second), r.Stderr)
	// Where KVM is missing or broken (a /dev/kvm that opens but fails, as under nested
	// virtualisation), auto falls back to software emulation with one warning.
	emulated := strings.Contains(r.Stderr, "software emulation")

	t.Run("--accel kvm where KVM does not work is refused before anything is created", func(t *testing.T) {
		if !emulated {
			t.Skip("KVM works on this host")
		}
		kvmEnv := NewEnv(t, devkBin, "e2e-kvm")
		t.Cleanup(func() { kvmEnv.Devk(context.Background(), "delete") })
		r := kvmEnv.Devk(ctx, "start", "--driver", "qemu", "--accel", "kvm")
		if r.Code != 10 || !strings.Contains(r.Stderr, "DRIVER_KVM_UNUSABLE") {
			t.Fatalf("exit %d, want 10 with DRIVER_KVM_UNUSABLE\n%s", r.Code, r.Stderr)
		}
		if st := kvmEnv.Devk(ctx, "status"); st.Code != 3 {
			t.Errorf("a refused start left profile %s behind (status exit %d)", kvmEnv.Profile, st.Code)
		}
	})

	cs := env.Client()
	if err := NodeReady(ctx, cs, env.Profile); err != nil {
		t.Fatal(err)
	}
	r = env.MustDevk(ctx, "status", "-o", "json")
	if !strings.Contains(r.Stdout, `"host":"Running"`) || !strings.Contains(r.Stdout, `"apiServer":"Running"`) {
		t.Fatalf("status: %s", r.Stdout)
	}

	t.Run("a pod runs and resolves DNS", func(t *testing.T) {
		logs, err := RunPod(ctx, cs, "default", "vm-dns", "busybox:1.37", []string{"nslookup", "kubernetes.default.svc.cluster.local"}, 5*time.Minute)
		if err != nil || !strings.Contains(logs, "10.96.0.1") {
			t.Fatalf("%v\n%s", err, logs)
		}
	})

	t.Run("an image comes through the shared image cache", func(t *testing.T) {
		// The VM reaches the cache's port on the host's loopback at 10.0.2.2.
		image := "docker.io/library/devk-vm-cache:" + cacheTag
		logs, err := RunPod(ctx, cs, "default", "vm-cache", image, nil, 5*time.Minute)
		if err != nil || !strings.Contains(logs, "connectproxy ok") {
			t.Fatalf("%v\n%s", err, logs)
		}
		if _, ok := cachedImages(ctx, env)[image]; !ok {
			t.Errorf("%s ran but the cache does not hold it", image)
		}
	})

	t.Run("service --url answers from the host", func(t *testing.T) {
		env.MustDevk(ctx, "kubectl", "--", "create", "deployment", "vmweb", "--image=busybox:1.37", "--",
			"sh", "-c", "mkdir -p /www && echo hello from the vm > /www/index.html && exec httpd -f -p 8080 -h /www")
		env.MustDevk(ctx, "kubectl", "--", "expose", "deployment", "vmweb", "--type=NodePort", "--port=80", "--target-port=8080")
		url := strings.TrimSpace(env.MustDevk(ctx, "service", "vmweb", "--url", "--wait", "5m").Stdout)
		if !strings.HasPrefix(url, "http://127.0.0.1:") {
			t.Errorf("a VM's service URL must be a 127.0.0.1 forward, got %q", url)
		}
		if err := Answers(ctx, 2*time.Minute, url, "hello from the vm"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("objects survive stop and start", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "vm-survivor"}, Data: map[string]string{"k": "v"}}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := env.MustDevk(ctx, "stop")
		t.Logf("stop took %s", r.Duration.Round(time.Second))
		if st := env.Devk(ctx, "status"); st.Code != 7 || !strings.Contains(st.Stdout, "Stopped") {
			t.Fatalf("status of a stopped VM: exit %d\n%s", st.Code, st.Stdout)
		}
		// A snapshot of the stopped VM: its copy-on-write disk.
		r = env.MustDevk(ctx, "snapshot", "save", "vm-seeded")
		t.Logf("snapshot save of the stopped VM: %s (%s)", strings.TrimSpace(r.Stdout), r.Duration.Round(100*time.Millisecond))
		r = env.MustDevk(ctx, "start")
		t.Logf("restart took %s", r.Duration.Round(time.Second))
		got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "vm-survivor", metav1.GetOptions{})
		if err != nil || got.Data["k"] != "v" {
			t.Fatalf("ConfigMap lost across stop/start: %v", err)
		}
	})

	t.Run("snapshot restore brings the saved VM back", func(t *testing.T) {
		after := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "vm-after-save"}}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, after, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// A running VM is not copied (QEMU may hold writes): one line with the way out.
		if r := env.Devk(ctx, "snapshot", "save", "vm-running"); r.Code == 0 || !strings.Contains(r.Stderr, "devk stop") {
			t.Errorf("save of a running VM: exit %d, %q; want a refusal naming devk stop", r.Code, r.Stderr)
		}
		r := env.MustDevk(ctx, "snapshot", "restore", "vm-seeded")
		t.Logf("restore of the running VM took %s: %s", r.Duration.Round(time.Second), strings.TrimSpace(r.Stdout))
		if !strings.Contains(r.Stdout, "it is running") {
			t.Errorf("restore: %q, want the VM running", r.Stdout)
		}
		cs := env.Client()
		if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "vm-survivor", metav1.GetOptions{}); err != nil {
			t.Errorf("the saved ConfigMap is not back: %v", err)
		}
		if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "vm-after-save", metav1.GetOptions{}); err == nil {
			t.Error("a ConfigMap created after the save survived the restore")
		}
	})

	t.Run("delete leaves nothing behind", func(t *testing.T) {
		env.MustDevk(ctx, "delete")
		home := e2eHome()
		for _, p := range []string{filepath.Join(home, "machines", env.Profile), filepath.Join(home, "profiles", env.Profile)} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("%s left behind", p)
			}
		}
		if out, _ := exec.Command("pgrep", "-f", "devk-"+env.Profile).Output(); len(out) > 0 {
			t.Errorf("QEMU process left: %s", out)
		}
	})
}
