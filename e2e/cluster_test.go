package e2e

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devk-dev/devk/iso"
)

var devkBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if Enabled() {
		dir, err := os.MkdirTemp("", "devk-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer os.RemoveAll(dir)
		if devkBin, err = BuildDevk(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

func requireE2E(t testing.TB) {
	t.Helper()
	if !Enabled() {
		t.Skip("end-to-end test: set DEVK_E2E=1 (make test does) and drop -short")
	}
}

// TestBadInput checks that mistakes are refused with one line and the usage exit code,
// before anything is created.
func TestBadInput(t *testing.T) {
	requireE2E(t)
	ctx := context.Background()
	cases := []struct {
		name   string
		args   []string
		code   int
		reason string
	}{
		{"bad profile name", []string{"start"}, 2, "profile name"},
		{"bad memory", []string{"start", "--memory", "lots"}, 2, "memory"},
		{"too little memory", []string{"start", "--memory", "512m"}, 2, "below"},
		{"unknown driver", []string{"start", "--driver", "hyperv"}, 2, "available drivers"},
		{"malformed version", []string{"start", "--kubernetes-version", "1.34"}, 2, "v1.MINOR.PATCH"},
		{"too many cpus", []string{"start", "--cpus", "999"}, 2, "--cpus"},
		{"bad port mapping", []string{"start", "--ports", "80"}, 2, "HOST:NODE"},
		{"unknown flag", []string{"start", "--frobnicate"}, 2, "unknown flag"},
		{"status of missing profile", []string{"status"}, 3, "does not exist"},
		{"stop of missing profile", []string{"stop"}, 3, "does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			profile := "e2e-missing"
			if tc.name == "bad profile name" {
				profile = "Bad_Name"
			}
			env := NewEnv(t, devkBin, profile)
			r := env.Devk(ctx, tc.args...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.Code, tc.code, r.Stderr)
			}
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tc.reason) || !strings.HasPrefix(lines[0], "devk: ") {
				t.Fatalf("want one line mentioning %q, got:\n%s", tc.reason, r.Stderr)
			}
			if out, _ := Docker(ctx, "ps", "-a", "-q", "--filter", "name=^/"+profile+"$"); out != "" {
				t.Fatalf("a container was created for a refused command")
			}
		})
	}
}

// TestClusterLifecycle is the heart of devk: start, a Ready node, a pod that resolves
// DNS, objects kept across stop/start, and delete leaving nothing behind.
func TestClusterLifecycle(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	env := NewEnv(t, devkBin, "e2e-life")
	env.Devk(ctx, "delete") // leftovers of an interrupted earlier run
	t.Cleanup(func() { env.Devk(context.Background(), "delete") })

	r := env.MustDevk(ctx, "start")
	t.Logf("devk start took %s\n%s", r.Duration.Round(time.Millisecond), r.Stderr)
	if strings.Contains(strings.ToLower(r.Stderr), "warning") || strings.Contains(r.Stderr, "✗") {
		t.Errorf("a healthy start printed warnings or failures:\n%s", r.Stderr)
	}

	t.Run("kubeconfig", func(t *testing.T) {
		st, err := os.Stat(env.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("kubeconfig mode %o, want 600", st.Mode().Perm())
		}
		cfg, err := clientcmd.LoadFromFile(env.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.CurrentContext != env.Profile {
			t.Errorf("current context %q, want %q", cfg.CurrentContext, env.Profile)
		}
		if o := cfg.Clusters["other"]; o == nil || o.Server != "https://other.example:6443" || cfg.AuthInfos["other"].Token != "other-token" {
			t.Errorf("the user's other context was changed: %+v", o)
		}
		server := cfg.Clusters[env.Profile].Server
		if !strings.HasPrefix(server, "https://127.0.0.1:") {
			t.Errorf("API server %q is not bound to 127.0.0.1", server)
		}
	})

	cs := env.Client()
	t.Run("node Ready at the pinned version", func(t *testing.T) {
		if err := NodeReady(ctx, cs, env.Profile); err != nil {
			t.Fatal(err)
		}
		v, err := cs.Discovery().ServerVersion()
		if err != nil {
			t.Fatal(err)
		}
		if v.GitVersion != iso.DefaultKubernetesVersion {
			t.Errorf("server version %s, want %s", v.GitVersion, iso.DefaultKubernetesVersion)
		}
		n, _ := cs.CoreV1().Nodes().Get(ctx, env.Profile, metav1.GetOptions{})
		if n.Status.NodeInfo.KubeletVersion != iso.DefaultKubernetesVersion {
			t.Errorf("kubelet version %s", n.Status.NodeInfo.KubeletVersion)
		}
	})

	t.Run("node booted systemd with containerd, dockerd's socket and the preloaded images", func(t *testing.T) {
		// dockerd itself starts on the first connection (TestInnerLoop uses it).
		r := env.MustDevk(ctx, "ssh", "--", "systemctl", "is-active", "containerd", "docker.socket", "kubelet")
		if strings.Count(r.Stdout, "active") != 3 || strings.Contains(r.Stdout, "inactive") {
			t.Errorf("units not active:\n%s", r.Stdout)
		}
		if r := env.Devk(ctx, "ssh", "--", "systemctl", "is-system-running"); !strings.Contains(r.Stdout, "running") {
			t.Errorf("systemd state: %s", r.Stdout)
		}
		images := env.MustDevk(ctx, "ssh", "--", "ctr", "-n", "k8s.io", "images", "ls", "-q").Stdout
		for _, want := range []string{"registry.k8s.io/pause:3.10.1", "registry.k8s.io/coredns/coredns:v1.12.1", "docker.io/library/busybox:1.37"} {
			if !strings.Contains(images, want) {
				t.Errorf("preloaded image %s missing from containerd's k8s.io namespace:\n%s", want, images)
			}
		}
		version := env.MustDevk(ctx, "ssh", "--", "kubelet", "--version").Stdout
		if !strings.Contains(version, iso.DefaultKubernetesVersion) {
			t.Errorf("kubelet --version in the node: %s", version)
		}
	})

	t.Run("pod from a preloaded image resolves DNS", func(t *testing.T) {
		logs, err := RunPod(ctx, cs, "default", "dns-check", "busybox:1.37",
			[]string{"sh", "-c", "nslookup kubernetes.default.svc.cluster.local && cat /etc/resolv.conf"}, 2*time.Minute)
		if err != nil {
			t.Fatalf("%v\n%s", err, logs)
		}
		if !strings.Contains(logs, "10.96.0.1") {
			t.Errorf("kubernetes.default did not resolve to 10.96.0.1:\n%s", logs)
		}
	})

	t.Run("a pod resolves names outside the cluster", func(t *testing.T) {
		// CoreDNS forwards what is not cluster.local to the node's resolver, Docker's DNS,
		// which knows the containers on the devk network: the node's own name among them.
		nodeIP := strings.TrimSpace(env.MustDevk(ctx, "ip").Stdout)
		logs, err := RunPod(ctx, cs, "default", "dns-outside", "busybox:1.37",
			[]string{"nslookup", "-timeout=2", env.Profile + "."}, 2*time.Minute)
		if err != nil || !strings.Contains(logs, nodeIP) {
			t.Errorf("%s. did not resolve to the node's address %s through CoreDNS: %v\n%s", env.Profile, nodeIP, err, logs)
		}
	})

	t.Run("status reports everything running", func(t *testing.T) {
		r := env.MustDevk(ctx, "status", "-o", "json")
		var st map[string]string
		if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
			t.Fatalf("%v: %s", err, r.Stdout)
		}
		for _, k := range []string{"host", "kubelet", "apiServer"} {
			if st[k] != "Running" {
				t.Errorf("%s = %q, want Running", k, st[k])
			}
		}
		if st["kubeconfig"] != "Configured" {
			t.Errorf("kubeconfig = %q", st["kubeconfig"])
		}
	})

	t.Run("start on a running cluster is a quick re-check", func(t *testing.T) {
		r := env.MustDevk(ctx, "start")
		t.Logf("second start took %s", r.Duration.Round(time.Millisecond))
	})

	t.Run("objects survive stop and start", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "survivor"}, Data: map[string]string{"k": "v"}}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r := env.MustDevk(ctx, "stop")
		t.Logf("stop took %s", r.Duration.Round(time.Millisecond))
		st := env.Devk(ctx, "status")
		if st.Code != 7 || !strings.Contains(st.Stdout, "Stopped") {
			t.Fatalf("status of a stopped cluster: exit %d\n%s%s", st.Code, st.Stdout, st.Stderr)
		}
		r = env.MustDevk(ctx, "start")
		t.Logf("restart took %s", r.Duration.Round(time.Millisecond))
		got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "survivor", metav1.GetOptions{})
		if err != nil || got.Data["k"] != "v" {
			t.Fatalf("ConfigMap lost across stop/start: %v %v", got, err)
		}
		if err := NodeReady(ctx, cs, env.Profile); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("delete leaves nothing behind", func(t *testing.T) {
		env.MustDevk(ctx, "delete")
		if out, _ := Docker(ctx, "ps", "-a", "-q", "--filter", "name=^/"+env.Profile+"$"); out != "" {
			t.Errorf("container left: %s", out)
		}
		if out, _ := Docker(ctx, "volume", "ls", "-q", "--filter", "name="+env.Profile+"-var"); out != "" {
			t.Errorf("volume left: %s", out)
		}
		home := os.Getenv("DEVK_E2E_HOME")
		if home == "" {
			h, _ := os.UserHomeDir()
			home = filepath.Join(h, ".devk")
		}
		if _, err := os.Stat(filepath.Join(home, "profiles", env.Profile)); !os.IsNotExist(err) {
			t.Errorf("profile folder left: %v", err)
		}
		cfg, err := clientcmd.LoadFromFile(env.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := cfg.Contexts[env.Profile]; ok {
			t.Errorf("kubeconfig context left")
		}
		if _, ok := cfg.Contexts["other"]; !ok {
			t.Errorf("delete removed the user's other context")
		}
		if r := env.Devk(ctx, "status"); r.Code != 3 {
			t.Errorf("status after delete: exit %d, want 3", r.Code)
		}
	})
}
