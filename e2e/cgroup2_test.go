package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCgroupV2InVM proves the docker driver on a cgroup v2 host, which this project's
// machines are not: devk's own VM boots systemd on cgroup v2 and ships dockerd, so devk runs
// inside it with the docker driver (the node image loaded into the VM's engine) and starts
// a cluster there: a pod resolves DNS, a ConfigMap survives stop/start, delete leaves no
// node. Under software emulation this takes many minutes: `make test-cgroup2`.
func TestCgroupV2InVM(t *testing.T) {
	requireE2E(t)
	if os.Getenv("DEVK_E2E_CGROUP2") != "1" {
		t.Skip("slow (a cluster in a devk VM under emulation): make test-cgroup2 runs it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Minute)
	defer cancel()
	began := time.Now()
	vm := NewEnv(t, devkBin, "e2e-cg2")
	vm.Devk(ctx, "delete")
	t.Cleanup(func() { vm.Devk(context.Background(), "delete") })
	r := vm.MustDevk(ctx, "start", "--driver", "qemu", "--cpus", "2", "--memory", "8g")
	t.Logf("the VM host started in %s", r.Duration.Round(time.Second))

	in := func(args ...string) Result { return vm.Devk(ctx, append([]string{"ssh", "--"}, args...)...) }
	mustIn := func(args ...string) string {
		t.Helper()
		r := in(args...)
		if r.Code != 0 {
			t.Fatalf("in the VM: %s: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
		}
		return strings.TrimSpace(r.Stdout)
	}
	if fs := mustIn("stat", "-fc", "%T", "/sys/fs/cgroup"); fs != "cgroup2fs" {
		t.Fatalf("the VM's /sys/fs/cgroup is %s, not cgroup v2", fs)
	}
	// The VM's own control plane is not under test: its CPU goes to the cluster inside.
	mustIn("systemctl", "stop", "kubelet", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy", "devk-lb", "etcd")
	mustIn("sh", "-c", "ctr -n k8s.io tasks ls -q | xargs -r -n1 ctr -n k8s.io tasks kill -s KILL; true")

	vm.MustDevk(ctx, "cp", devkBin, "/usr/local/bin/devk")
	// The docker driver's node image (a profile that does not exist uses that driver).
	tag := strings.TrimSpace(NewEnv(t, devkBin, "e2e-cg2-none").MustDevk(ctx, "node-image").Stdout)
	// The qemu driver loads images from `docker save` archives.
	archive := filepath.Join(t.TempDir(), "node.tar")
	if out, err := Docker(ctx, "save", "-o", archive, tag); err != nil {
		t.Fatalf("docker save %s: %v: %s", tag, err, out)
	}
	r = vm.MustDevk(ctx, "image", "load", archive)
	t.Logf("node image %s loaded into the VM's engine in %s", tag, r.Duration.Round(time.Second))

	inner := func(args ...string) Result {
		return in(append([]string{"env", "HOME=/root", "KUBECONFIG=/root/.kube/config", "DEVK_PREBUILD_ADDONS=false", "devk", "-p", "inner"}, args...)...)
	}
	mustInner := func(args ...string) string {
		t.Helper()
		r := inner(args...)
		if r.Code != 0 {
			t.Fatalf("devk %s in the VM: exit %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
		}
		return strings.TrimSpace(r.Stdout)
	}
	r = inner("start")
	t.Logf("devk start (docker driver, cgroup v2) in the VM: exit %d in %s\n%s", r.Code, r.Duration.Round(time.Second), r.Stderr)
	if r.Code != 0 {
		t.Log(in("sh", "-c", "docker logs --tail 50 inner 2>&1; docker exec inner journalctl -u kubelet --no-pager -n 40 2>&1").Stdout)
		t.Fatal("start failed")
	}
	// The node has a cgroup v2 hierarchy of its own: a private cgroup namespace, whose
	// root is the node container's cgroup.
	if fs := mustInner("ssh", "--", "stat", "-fc", "%T", "/sys/fs/cgroup"); fs != "cgroup2fs" {
		t.Errorf("the node's /sys/fs/cgroup is %s", fs)
	}
	if cg := mustInner("ssh", "--", "cat", "/proc/1/cgroup"); !strings.HasPrefix(cg, "0::/") || strings.Contains(cg, "docker") || strings.Contains(cg, "system.slice") {
		t.Errorf("the node's init is in cgroup %q: the host's hierarchy shows through (want a private cgroup namespace)", cg)
	}

	mustInner("kubectl", "--", "run", "dns", "--image=busybox:1.37", "--restart=Never", "--", "nslookup", "kubernetes.default.svc.cluster.local")
	if err := Eventually(ctx, 10*time.Minute, func() error {
		if out := inner("kubectl", "--", "logs", "dns").Stdout; !strings.Contains(out, "10.96.0.1") {
			return fmt.Errorf("pod logs: %q", out)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	mustInner("kubectl", "--", "create", "configmap", "survivor", "--from-literal=k=v")
	mustInner("stop")
	r = inner("start")
	t.Logf("restart in the VM: exit %d in %s", r.Code, r.Duration.Round(time.Second))
	if r.Code != 0 {
		t.Fatalf("restart: %s", r.Stderr)
	}
	if v := mustInner("kubectl", "--", "get", "configmap", "survivor", "-o", "jsonpath={.data.k}"); v != "v" {
		t.Errorf("ConfigMap after stop/start: %q", v)
	}
	mustInner("delete")
	if r := inner("status"); r.Code != 3 {
		t.Errorf("status after delete: exit %d, want 3 (no such profile)", r.Code)
	}
	t.Logf("cgroup v2 run took %s in all", time.Since(began).Round(time.Second))
}
