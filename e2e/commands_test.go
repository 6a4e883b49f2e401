package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devk-dev/devk/iso"
)

// configKeys are the keys of `devk config` (and DEVK_<KEY> variables).
func configKeys() []string {
	return []string{"accel", "addons", "apiserver-port", "cpus", "driver", "image-cache", "insecure-registry", "kubernetes-version", "memory", "ports", "prebuild-addons", "profile", "registry-mirror"}
}

// TestCommands covers the everyday commands on one real cluster (profile e2e-cmd),
// started once with settings from all four sources and a --mount-string, and deleted at
// the end. It runs in its own DEVK_HOME so `devk config` never touches the shared one.
func TestCommands(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	for _, k := range configKeys() { // the caller's own defaults must not leak in
		t.Setenv("DEVK_"+strings.ToUpper(strings.ReplaceAll(k, "-", "_")), "")
	}

	// Settings need no cluster: they run first, in a home of their own.
	t.Run("config", func(t *testing.T) { commandsConfig(ctx, t) })

	env := NewEnv(t, devkBin, "e2e-cmd")
	home := env.IsolatedHome(t)
	// Leftovers of an interrupted earlier run belong to that run's home, which devk (rightly)
	// refuses to touch from this one.
	_, _ = Docker(ctx, "rm", "-f", "-v", env.Profile)
	_, _ = Docker(ctx, "volume", "rm", "-f", env.Profile+"-var")
	t.Cleanup(func() { env.Devk(context.Background(), "delete") })

	// Every source of a start flag at once: the flag wins over DEVK_<FLAG>, which wins
	// over `devk config`, which wins over the built-in default.
	apiPort := freeHostPort(t)
	env.MustDevk(ctx, "config", "set", "cpus", "1")
	env.MustDevk(ctx, "config", "set", "memory", "2g")
	env.MustDevk(ctx, "config", "set", "apiserver-port", strconv.Itoa(apiPort))
	startMount := t.TempDir()
	if err := os.WriteFile(filepath.Join(startMount, "from-host.txt"), []byte("start mount host side\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := withEnv(env, "DEVK_CPUS=2", "DEVK_MEMORY=2500m").MustDevk(ctx, "start", "--memory", "3g", "--mount-string", startMount+":/mnt/devk-start")
	t.Logf("devk start took %s", r.Duration.Round(time.Millisecond))
	cs := env.Client()

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"start takes flag over environment over config over default", func(t *testing.T) {
			var profiles []map[string]any
			decodeJSON(t, env.MustDevk(ctx, "profile", "list", "-o", "json").Stdout, &profiles)
			if len(profiles) != 1 {
				t.Fatalf("profile list: %v", profiles)
			}
			p := profiles[0]
			if p["cpus"] != 2.0 || p["memoryMB"] != 3072.0 || p["apiServerPort"] != float64(apiPort) {
				t.Errorf("profile %v: want cpus 2 (environment), memoryMB 3072 (flag), apiServerPort %d (config)", p, apiPort)
			}
			out, err := Docker(ctx, "inspect", "-f", "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}}", env.Profile)
			if err != nil || out != fmt.Sprintf("%d %d", 2_000_000_000, 3072<<20) {
				t.Errorf("node container resources %q (%v), want 2 CPUs and 3 GiB", out, err)
			}
		}},
		{"ssh runs one command", func(t *testing.T) {
			if r := env.MustDevk(ctx, "ssh", "--", "cat", "/etc/hostname"); strings.TrimSpace(r.Stdout) != env.Profile {
				t.Errorf("ssh cat /etc/hostname = %q", r.Stdout)
			}
		}},
		{"ssh passes the exit code through", func(t *testing.T) {
			r := env.Devk(ctx, "ssh", "--", "sh", "-c", "echo out; exit 3")
			if r.Code != 3 || strings.TrimSpace(r.Stdout) != "out" || r.Stderr != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 3, out, nothing", r.Code, r.Stdout, r.Stderr)
			}
		}},
		{"cp into and out of the node", func(t *testing.T) {
			dir := t.TempDir()
			src, back := filepath.Join(dir, "in.txt"), filepath.Join(dir, "back.txt")
			want := "copied " + time.Now().String() + "\n"
			if err := os.WriteFile(src, []byte(want), 0o640); err != nil {
				t.Fatal(err)
			}
			env.MustDevk(ctx, "cp", src, "/root/devk-cp/in.txt")
			if r := env.MustDevk(ctx, "ssh", "--", "stat", "-c", "%a", "/root/devk-cp/in.txt"); strings.TrimSpace(r.Stdout) != "640" {
				t.Errorf("mode in the node %q, want 640", r.Stdout)
			}
			env.MustDevk(ctx, "cp", "node:/root/devk-cp/in.txt", back)
			if got, err := os.ReadFile(back); err != nil || string(got) != want {
				t.Errorf("round trip: %q, %v; want %q", got, err, want)
			}
		}},
		{"logs", func(t *testing.T) {
			r := env.MustDevk(ctx, "logs", "--component", "kubelet", "-n", "20")
			lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
			if len(lines) < 2 || len(lines) > 21 || !strings.Contains(r.Stdout, "kubelet") {
				t.Errorf("logs --component kubelet -n 20: %d lines:\n%s", len(lines), r.Stdout)
			}
			env.MustDevk(ctx, "logs", "--problems") // exits 0 with or without problems
			file := filepath.Join(t.TempDir(), "devk.log")
			if r := env.MustDevk(ctx, "logs", "--file", file); r.Stdout != "" {
				t.Errorf("logs --file also wrote to stdout: %q", r.Stdout)
			}
			if data, err := os.ReadFile(file); err != nil || strings.Count(string(data), "\n") < 2 {
				t.Errorf("logs --file wrote %d bytes (%v):\n%.500s", len(data), err, data)
			}
			if r := env.Devk(ctx, "logs", "--component", "nope"); r.Code != 2 {
				t.Errorf("logs --component nope: exit %d, want 2", r.Code)
			}
		}},
		{"ip matches docker inspect", func(t *testing.T) {
			want, err := Docker(ctx, "inspect", "-f", `{{(index .NetworkSettings.Networks "devk").IPAddress}}`, env.Profile)
			if err != nil || want == "" {
				t.Fatalf("docker inspect: %q %v", want, err)
			}
			if got := strings.TrimSpace(env.MustDevk(ctx, "ip").Stdout); got != want {
				t.Errorf("devk ip = %q, docker says %q", got, want)
			}
		}},
		{"update-context brings a deleted context back", func(t *testing.T) {
			cfg, err := clientcmd.LoadFromFile(env.Kubeconfig)
			if err != nil {
				t.Fatal(err)
			}
			server := cfg.Clusters[env.Profile].Server
			delete(cfg.Contexts, env.Profile)
			delete(cfg.Clusters, env.Profile)
			cfg.CurrentContext = "other"
			if err := clientcmd.WriteToFile(*cfg, env.Kubeconfig); err != nil {
				t.Fatal(err)
			}
			env.MustDevk(ctx, "update-context")
			if cfg, err = clientcmd.LoadFromFile(env.Kubeconfig); err != nil {
				t.Fatal(err)
			}
			if cfg.Contexts[env.Profile] == nil || cfg.CurrentContext != env.Profile || cfg.Clusters[env.Profile].Server != server {
				t.Errorf("after update-context: current %q, contexts %v", cfg.CurrentContext, cfg.Contexts)
			}
			if cfg.Contexts["other"] == nil {
				t.Errorf("update-context removed the user's other context")
			}
			if err := NodeReady(ctx, env.Client(), env.Profile); err != nil {
				t.Error(err)
			}
		}},
		{"profile list -o json has the pinned fields", func(t *testing.T) {
			var profiles []map[string]any
			decodeJSON(t, env.MustDevk(ctx, "profile", "list", "-o", "json").Stdout, &profiles)
			if len(profiles) != 1 || profiles[0]["name"] != env.Profile || profiles[0]["status"] != "Running" {
				t.Fatalf("profile list: %v", profiles)
			}
			assertGoldenFields(t, profiles[0], "profile-list.json")
			if r := env.MustDevk(ctx, "profile", "list"); !strings.Contains(r.Stdout, env.Profile) || !strings.Contains(r.Stdout, "Running") {
				t.Errorf("profile list:\n%s", r.Stdout)
			}
		}},
		{"status -o json has the pinned fields", func(t *testing.T) {
			var st map[string]any
			decodeJSON(t, env.MustDevk(ctx, "status", "-o", "json").Stdout, &st)
			assertGoldenFields(t, st, "status.json")
		}},
		{"version -o json", func(t *testing.T) {
			var v map[string]any
			decodeJSON(t, env.MustDevk(ctx, "version", "-o", "json").Stdout, &v)
			assertGoldenFields(t, v, "version.json")
			image, _ := Docker(ctx, "inspect", "-f", "{{.Config.Image}}", env.Profile)
			if v["kubernetesVersion"] != iso.DefaultKubernetesVersion || v["nodeImage"] != image || v["devk"] == "" {
				t.Errorf("version %v; node runs %s", v, image)
			}
		}},
		{"kubectl matches the cluster", func(t *testing.T) {
			r := env.MustDevk(ctx, "kubectl", "--", "get", "nodes")
			if !strings.Contains(r.Stdout, env.Profile) || !strings.Contains(r.Stdout, "Ready") {
				t.Errorf("kubectl get nodes:\n%s", r.Stdout)
			}
			if r := env.Devk(ctx, "kubectl", "--", "get", "nosuchkind"); r.Code == 0 {
				t.Errorf("kubectl's failure was not passed through")
			}
		}},
		{"start --mount-string shares a folder for the life of the cluster", func(t *testing.T) {
			logs, err := hostPathPod(ctx, cs, "start-mount", "/mnt/devk-start", "cat /data/from-host.txt && echo pod side > /data/from-pod.txt")
			if err != nil || !strings.Contains(logs, "start mount host side") {
				t.Fatalf("pod did not read the host file: %v\n%s", err, logs)
			}
			if got, err := os.ReadFile(filepath.Join(startMount, "from-pod.txt")); err != nil || string(got) != "pod side\n" {
				t.Errorf("host did not see the pod's file: %q %v", got, err)
			}
			var p struct {
				Mounts []struct{ HostPath, NodePath string } `json:"mounts"`
			}
			data, err := os.ReadFile(filepath.Join(home, "profiles", env.Profile, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			decodeJSON(t, string(data), &p)
			if len(p.Mounts) != 1 || p.Mounts[0].NodePath != "/mnt/devk-start" {
				t.Errorf("profile mounts %+v: want the mount kept for restarts", p.Mounts)
			}
			other := t.TempDir()
			if r := env.Devk(ctx, "start", "--mount-string", other+":/mnt/elsewhere"); r.Code != 2 || !strings.Contains(r.Stderr, "--mount-string") {
				t.Errorf("changing the mount of an existing cluster: exit %d\n%s", r.Code, r.Stderr)
			}
		}},
		{"mount shares a folder both ways until stopped", func(t *testing.T) {
			commandsMount(ctx, t, env, cs)
		}},
		{"mount refuses bad paths before anything changes", func(t *testing.T) {
			for _, arg := range []string{"/no/such/dir:/mnt/x", t.TempDir() + ":relative", t.TempDir() + ":/etc", "nocolon"} {
				if r := env.Devk(ctx, "mount", arg); r.Code != 2 {
					t.Errorf("mount %s: exit %d, want 2\n%s", arg, r.Code, r.Stderr)
				}
			}
		}},
		{"pause and unpause", func(t *testing.T) {
			env.MustDevk(ctx, "pause")
			st := env.Devk(ctx, "status")
			if st.Code != 7 || !strings.Contains(st.Stdout, "Paused") {
				t.Errorf("status of a paused cluster: exit %d\n%s%s", st.Code, st.Stdout, st.Stderr)
			}
			if r := env.Devk(ctx, "ssh", "--", "true"); r.Code != 21 {
				t.Errorf("ssh into a paused node: exit %d, want 21", r.Code)
			}
			env.MustDevk(ctx, "unpause")
			if err := Eventually(ctx, time.Minute, func() error {
				if r := env.Devk(ctx, "status"); r.Code != 0 {
					return fmt.Errorf("status exit %d\n%s", r.Code, r.Stdout)
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

// commandsConfig checks devk config and the DEVK_<FLAG> variables without a cluster.
func commandsConfig(ctx context.Context, t *testing.T) {
	env := NewEnv(t, devkBin, "e2e-cmd-config")
	env.IsolatedHome(t)
	cases := []struct {
		name   string
		env    []string
		args   []string
		code   int
		stdout string // exact, when code is 0
		stderr string // in the one error line, when code is not 0
	}{
		{"set", nil, []string{"config", "set", "cpus", "1"}, 0, "", ""},
		{"set a list", nil, []string{"config", "set", "ports", "8080:30080,9090:30090"}, 0, "", ""},
		{"get", nil, []string{"config", "get", "cpus"}, 0, "1\n", ""},
		{"view", nil, []string{"config", "view"}, 0, "cpus:  1\nports: 8080:30080,9090:30090\n", ""},
		{"view -o json", nil, []string{"config", "view", "-o", "json"}, 0, `{"cpus":"1","ports":"8080:30080,9090:30090"}` + "\n", ""},
		{"unset", nil, []string{"config", "unset", "ports"}, 0, "", ""},
		{"get unset", nil, []string{"config", "get", "ports"}, 1, "", "ports is not set"},
		{"unknown key", nil, []string{"config", "set", "frobnicate", "1"}, 2, "", "valid keys are accel, addons, apiserver-port, cpus"},
		{"invalid value", nil, []string{"config", "set", "memory", "512m"}, 2, "", "below"},
		{"invalid value for the machine", nil, []string{"config", "set", "cpus", "999"}, 2, "", "this machine has"},
		// start refuses bad defaults before creating anything, naming where they came from.
		{"bad environment", []string{"DEVK_DRIVER=hyperv"}, []string{"start"}, 2, "", "(from environment variable DEVK_DRIVER)"},
		{"flag beats environment", []string{"DEVK_DRIVER=hyperv"}, []string{"start", "--driver", "docker", "--cpus", "999"}, 2, "", "--cpus 999"},
		{"environment beats config", []string{"DEVK_CPUS=999"}, []string{"start"}, 2, "", "(from environment variable DEVK_CPUS)"},
		{"view after all that", nil, []string{"config", "view", "-o", "json"}, 0, `{"cpus":"1"}` + "\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := withEnv(env, tc.env...).Devk(ctx, tc.args...)
			if r.Code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.Code, tc.code, r.Stdout, r.Stderr)
			}
			if tc.code == 0 && (r.Stdout != tc.stdout || r.Stderr != "") {
				t.Errorf("stdout %q, stderr %q; want stdout %q", r.Stdout, r.Stderr, tc.stdout)
			}
			lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
			if tc.code != 0 && (len(lines) != 1 || !strings.HasPrefix(lines[0], "devk: ") || !strings.Contains(lines[0], tc.stderr)) {
				t.Errorf("want one error line containing %q, got:\n%s", tc.stderr, r.Stderr)
			}
		})
	}
	if out, _ := Docker(ctx, "ps", "-a", "-q", "--filter", "name=^/"+env.Profile+"$"); out != "" {
		t.Errorf("a refused start created a container")
	}
	// Every key, and the JSON field names of config view, which scripts read.
	for _, k := range configKeys() {
		v := map[string]string{"accel": "tcg", "addons": "dashboard", "apiserver-port": "6443", "cpus": "1", "driver": "docker",
			"kubernetes-version": "v1.34.4", "memory": "4g", "ports": "8080:30080", "profile": "dev2",
			"image-cache": "false", "insecure-registry": "192.168.1.10:5000", "registry-mirror": "https://mirror.example.com",
			"prebuild-addons": "false"}[k]
		env.MustDevk(ctx, "config", "set", k, v)
	}
	var view map[string]any
	decodeJSON(t, env.MustDevk(ctx, "config", "view", "-o", "json").Stdout, &view)
	assertGoldenFields(t, view, "config-view.json")
}

// commandsMount runs `devk mount` in the background, checks a pod and the host see each
// other's files, stops it with SIGTERM, and checks the node no longer shows the folder.
func commandsMount(ctx context.Context, t *testing.T, env *Env, cs kubernetes.Interface) {
	hostDir := t.TempDir()
	const nodeDir = "/mnt/devk-mount"
	if err := os.WriteFile(filepath.Join(hostDir, "from-host.txt"), []byte("mount host side\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, env.Bin, "-p", env.Profile, "mount", hostDir+":"+nodeDir)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+env.Kubeconfig), env.Extra...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line := <-lines:
		if !strings.HasPrefix(line, "Mounted ") {
			t.Fatalf("devk mount said %q\nstderr: %s", line, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("devk mount did not report the mount within a minute\nstderr: %s", stderr.String())
	}

	logs, err := hostPathPod(ctx, cs, "mount-check", nodeDir, "cat /data/from-host.txt && echo pod side > /data/from-pod.txt")
	if err != nil || !strings.Contains(logs, "mount host side") {
		t.Fatalf("pod did not read the host file: %v\n%s", err, logs)
	}
	if got, err := os.ReadFile(filepath.Join(hostDir, "from-pod.txt")); err != nil || string(got) != "pod side\n" {
		t.Errorf("host did not see the pod's file: %q %v", got, err)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for line := range lines {
		rest = append(rest, line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("devk mount after SIGTERM: %v (want exit 0)\nstderr: %s", err, stderr.String())
	}
	if len(rest) != 1 || !strings.HasPrefix(rest[0], "Unmounted ") || stderr.String() != "" {
		t.Errorf("after SIGTERM: stdout %q, stderr %q", rest, stderr.String())
	}
	if r := env.MustDevk(ctx, "ssh", "--", "ls", "-A", nodeDir); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("the node still shows the host files after unmount: %q", r.Stdout)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "from-host.txt")); err != nil {
		t.Errorf("unmount touched the host folder: %v", err)
	}
}

// hostPathPod runs a busybox pod with nodeDir mounted at /data and returns its logs.
func hostPathPod(ctx context.Context, cs kubernetes.Interface, name, nodeDir, script string) (string, error) {
	dirType := corev1.HostPathDirectory
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "main", Image: "busybox:1.37", ImagePullPolicy: corev1.PullIfNotPresent, Command: []string{"sh", "-c", script},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: nodeDir, Type: &dirType},
			}}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	var phase corev1.PodPhase
	err := Eventually(ctx, 2*time.Minute, func() error {
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if phase = p.Status.Phase; phase == corev1.PodSucceeded || phase == corev1.PodFailed {
			return nil
		}
		return fmt.Errorf("pod %s is %s", name, phase)
	})
	logs, _ := cs.CoreV1().Pods("default").GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err == nil && phase != corev1.PodSucceeded {
		err = fmt.Errorf("pod %s %s", name, phase)
	}
	return string(logs), err
}

// withEnv is env with extra environment variables for one command.
func withEnv(env *Env, vars ...string) *Env {
	e := *env
	e.Extra = append(slices.Clone(env.Extra), vars...)
	return &e
}

func decodeJSON(t *testing.T, data string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(data), v); err != nil {
		t.Fatalf("%v in %q", err, data)
	}
}

// assertGoldenFields checks a real JSON object has exactly the field names of the golden
// file the cmd unit tests pin (an object, or the first element of an array).
func assertGoldenFields(t *testing.T, got map[string]any, golden string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "cmd", "testdata", "golden", golden))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if strings.HasPrefix(string(data), "[") {
		var list []map[string]any
		decodeJSON(t, string(data), &list)
		want = list[0]
	} else {
		decodeJSON(t, string(data), &want)
	}
	keys := func(m map[string]any) []string {
		var ks []string
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	if !slices.Equal(keys(got), keys(want)) {
		t.Errorf("fields %v, want %v (as in cmd/testdata/golden/%s)", keys(got), keys(want), golden)
	}
}

func freeHostPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
