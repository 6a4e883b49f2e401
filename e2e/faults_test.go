package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestFaults does what an adversarial user does and checks devk's answer: the exit code,
// one line naming the problem, nothing foreign touched, nothing of the user's lost. The
// cases that need no cluster run first; then one cluster for the rest. DEVK_FAULTS_FULL=1
// (make test-faults) adds the slow ones.
func TestFaults(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	nodeImage := strings.TrimSpace(NewEnv(t, devkBin, "e2e-fault").MustDevk(ctx, "node-image").Stdout)

	t.Run("a container devk did not create is never started or removed", func(t *testing.T) {
		env := NewEnv(t, devkBin, "e2e-victim")
		mustDocker(ctx, t, "rm", "-f", env.Profile)
		mustDocker(ctx, t, "create", "--name", env.Profile, "--label", "owner=someone-else", nodeImage, "sleep", "1")
		t.Cleanup(func() { _, _ = Docker(context.Background(), "rm", "-f", env.Profile) })
		for _, args := range [][]string{{"delete"}, {"start"}} {
			r := env.Devk(ctx, args...)
			expectLine(t, r, 20, "NODE_NOT_OURS")
			if out, _ := Docker(ctx, "inspect", "-f", "{{.State.Status}} {{index .Config.Labels \"owner\"}}", env.Profile); out != "created someone-else" {
				t.Fatalf("after devk %s the foreign container is %q, want untouched (created someone-else)", args[0], out)
			}
		}
		if r := env.Devk(ctx, "status"); r.Code != 3 {
			t.Errorf("a refused start left a profile behind (status exit %d)", r.Code)
		}
	})

	t.Run("another devk home's node is left alone", func(t *testing.T) {
		env := NewEnv(t, devkBin, "e2e-otherhome")
		env.Extra = append(env.Extra, "DEVK_HOME="+t.TempDir())
		mustDocker(ctx, t, "rm", "-f", env.Profile)
		mustDocker(ctx, t, "create", "--name", env.Profile, "--label", "dev.devk.managed=true",
			"--label", "dev.devk.profile="+env.Profile, "--label", "dev.devk.home=another-home", nodeImage, "sleep", "1")
		t.Cleanup(func() { _, _ = Docker(context.Background(), "rm", "-f", env.Profile) })
		r := env.Devk(ctx, "delete")
		expectLine(t, r, 20, "another DEVK_HOME")
		if _, err := Docker(ctx, "inspect", env.Profile); err != nil {
			t.Fatal("devk deleted another home's node")
		}
	})

	t.Run("a foreign volume with the node's volume name is not mounted or removed", func(t *testing.T) {
		env := NewEnv(t, devkBin, "e2e-volvictim")
		env.Extra = append(env.Extra, "DEVK_HOME="+t.TempDir())
		vol := env.Profile + "-var"
		_, _ = Docker(ctx, "volume", "rm", "-f", vol)
		mustDocker(ctx, t, "volume", "create", "--label", "owner=someone-else", vol)
		t.Cleanup(func() { _, _ = Docker(context.Background(), "volume", "rm", "-f", vol) })
		expectLine(t, env.Devk(ctx, "start"), 20, "volume "+vol)
		if out, _ := Docker(ctx, "ps", "-aq", "--filter", "name=^/"+env.Profile+"$"); out != "" {
			t.Error("a node container was created on a foreign volume")
		}
		expectLine(t, env.Devk(ctx, "delete"), 20, "NODE_NOT_OURS")
		if out, _ := Docker(ctx, "volume", "inspect", "-f", "{{index .Labels \"owner\"}}", vol); out != "someone-else" {
			t.Errorf("foreign volume changed or removed: %q", out)
		}
	})

	t.Run("host ports are checked before anything is created", func(t *testing.T) {
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer udp.Close()
		busyUDP := udp.LocalAddr().(*net.UDPAddr).Port
		p := strconv.Itoa(freeHostPort(t))
		cases := []struct {
			name, want string
			args       []string
		}{
			{"one host port twice", "asked for twice", []string{"--ports", p + ":30080," + p + ":30081"}},
			{"API server port also in --ports", "asked for twice", []string{"--apiserver-port", p, "--ports", p + ":30080"}},
			{"UDP port in use", fmt.Sprintf("%d/udp", busyUDP), []string{"--ports", fmt.Sprintf("%d:30053/udp", busyUDP)}},
		}
		for _, c := range cases {
			env := NewEnv(t, devkBin, "e2e-ports")
			expectLine(t, env.Devk(ctx, append([]string{"start"}, c.args...)...), 2, c.want)
			if out, _ := Docker(ctx, "ps", "-aq", "--filter", "name=^/"+env.Profile+"$"); out != "" {
				t.Errorf("%s: a container was created", c.name)
			}
			if r := env.Devk(ctx, "status"); r.Code != 3 {
				t.Errorf("%s: a profile was saved (status exit %d)", c.name, r.Code)
			}
		}
	})

	env := NewEnv(t, devkBin, "e2e-fault")
	env.Devk(ctx, "delete")
	t.Cleanup(func() { env.Devk(context.Background(), "delete") })

	t.Run("a start killed in its first second is recovered by the next", func(t *testing.T) {
		// The second kill lands on what the first left.
		for _, after := range []time.Duration{300 * time.Millisecond, 900 * time.Millisecond} {
			cmd := exec.CommandContext(ctx, env.Bin, "-p", env.Profile, "start")
			cmd.Env = append(append(os.Environ(), "KUBECONFIG="+env.Kubeconfig), env.Extra...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(after)
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		}
		r := env.MustDevk(ctx, "start")
		t.Logf("start after two killed starts took %s", r.Duration.Round(time.Millisecond))
		if err := NodeReady(ctx, env.Client(), env.Profile); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("cp: a node path is data, onto a folder means into it, a folder is refused", func(t *testing.T) {
		src := filepath.Join(t.TempDir(), "app.conf")
		if err := os.WriteFile(src, []byte("conf\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		env.MustDevk(ctx, "ssh", "--", "rm", "-rf", "/tmp/pwned", "/opt/cp")
		env.MustDevk(ctx, "ssh", "--", "mkdir", "-p", "/opt/cp/dir")
		env.MustDevk(ctx, "cp", src, "/opt/cp/x$(touch /tmp/pwned)")
		if r := env.Devk(ctx, "ssh", "--", "test", "-e", "/tmp/pwned"); r.Code == 0 {
			t.Error("the node path ran as a shell command")
		}
		if r := env.Devk(ctx, "ssh", "--", "cat", "/opt/cp/x$(touch /tmp/pwned)"); strings.TrimSpace(r.Stdout) != "conf" {
			t.Errorf("file with a shell-like name: %q", r.Stdout)
		}
		env.MustDevk(ctx, "cp", src, "/opt/cp/dir")
		if r := env.MustDevk(ctx, "ssh", "--", "ls", "-A", "/opt/cp/dir"); strings.TrimSpace(r.Stdout) != "app.conf" {
			t.Errorf("cp onto a folder left %q in it, want app.conf", r.Stdout)
		}
		expectLine(t, env.Devk(ctx, "cp", t.TempDir(), "/opt/cp/folder"), 2, "is a folder")
		if r := env.Devk(ctx, "ssh", "--", "test", "-e", "/opt/cp/folder"); r.Code == 0 {
			t.Error("copying a folder left something behind")
		}
	})

	t.Run("pause freezes the workloads; start of a paused node is quick", func(t *testing.T) {
		// On a cgroup v1 host the pods' cgroups are the host's: read their freezer here.
		freezer := "/sys/fs/cgroup/freezer/devk-" + env.Profile + "/freezer.state"
		_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
		cgroupV1 := os.IsNotExist(err)
		expectFreezer := func(want string) {
			t.Helper()
			if !cgroupV1 {
				return // the node's own cgroup holds the pods: pausing it is enough
			}
			if got, err := os.ReadFile(freezer); err != nil || strings.TrimSpace(string(got)) != want {
				t.Errorf("the workloads' freezer is %q (%v), want %s", got, err, want)
			}
		}
		env.MustDevk(ctx, "pause")
		expectFreezer("FROZEN")
		r := env.MustDevk(ctx, "start")
		t.Logf("start of a paused node took %s", r.Duration.Round(time.Millisecond))
		expectFreezer("THAWED")
		if r.Duration > time.Minute {
			t.Errorf("start of a devk-paused node took %s: it must not wait for a fresh heartbeat", r.Duration)
		}
		mustDocker(ctx, t, "pause", env.Profile) // behind devk's back
		r = env.MustDevk(ctx, "start")
		t.Logf("start of a docker-paused node took %s", r.Duration.Round(time.Millisecond))
		if r.Duration > time.Minute {
			t.Errorf("start of a docker-paused node took %s", r.Duration)
		}
		// A paused node stops (its frozen pods thawed first) and starts again.
		env.MustDevk(ctx, "pause")
		r = env.MustDevk(ctx, "stop")
		if r.Duration > 30*time.Second {
			t.Errorf("stop of a paused node took %s", r.Duration)
		}
		env.MustDevk(ctx, "start")
		expectFreezer("THAWED")
	})

	t.Run("certificates deleted or damaged on the host are restored from the node", func(t *testing.T) {
		certs := filepath.Join(e2eHome(), "profiles", env.Profile, "certs")
		damages := []struct {
			name   string
			damage func() error
		}{
			{"certs folder deleted", func() error { return os.RemoveAll(certs) }},
			{"corrupt ca.key", func() error { return os.WriteFile(filepath.Join(certs, "ca.key"), []byte("garbage"), 0o600) }},
		}
		for i, d := range damages {
			if err := d.damage(); err != nil {
				t.Fatal(err)
			}
			r := env.MustDevk(ctx, "start")
			if !strings.Contains(r.Stderr, "Restoring the cluster's certificates") {
				t.Errorf("%s: start did not restore the certificates:\n%s", d.name, r.Stderr)
			}
			// In-cluster clients (CoreDNS, the provisioner) keep working: same CA and keys.
			logs, err := RunPod(ctx, env.Client(), "default", fmt.Sprintf("certs-dns-%d", i), "busybox:1.37",
				[]string{"nslookup", "kubernetes.default.svc.cluster.local"}, 2*time.Minute)
			if err != nil || !strings.Contains(logs, "10.96.0.1") {
				t.Errorf("%s: DNS after the restore: %v\n%s", d.name, err, logs)
			}
			if r := env.Devk(ctx, "status"); r.Code != 0 {
				t.Errorf("%s: status exit %d\n%s%s", d.name, r.Code, r.Stdout, r.Stderr)
			}
		}
	})

	t.Run("an engine that is down or hung: every command fails fast with exit 10", func(t *testing.T) {
		hung := filepath.Join(t.TempDir(), "hung.sock")
		l, err := net.Listen("unix", hung)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() { // accepts, reads, never answers
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() { _, _ = io.Copy(io.Discard, c) }()
			}
		}()
		for _, host := range []string{"unix://" + filepath.Join(t.TempDir(), "dead.sock"), "unix://" + hung} {
			broken := withEnv(env, "DOCKER_HOST="+host)
			commands := [][]string{{"status"}, {"stop"}, {"delete"}, {"ip"}, {"ssh", "--", "true"}, {"image", "ls"}, {"docker-env"}, {"logs"}, {"profile", "list"}}
			if host == "unix://"+hung && os.Getenv("DEVK_FAULTS_FULL") != "1" {
				commands = commands[:3] // each waits out the deadline: a sample unless full
			}
			for _, args := range commands {
				r := broken.Devk(ctx, args...)
				expectLine(t, r, 10, "DRIVER_UNAVAILABLE")
				if r.Duration > 30*time.Second {
					t.Errorf("devk %s against %s took %s", strings.Join(args, " "), host, r.Duration.Round(time.Second))
				}
			}
		}
		if r := env.MustDevk(ctx, "status"); !strings.Contains(r.Stdout, "Running") {
			t.Errorf("the cluster is not running after the engine tests:\n%s", r.Stdout)
		}
	})

	t.Run("a node removed behind devk's back is recreated with its objects", func(t *testing.T) {
		cs := env.Client()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "fault-survivor"}, Data: map[string]string{"k": "v"}}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The /var volume stays, as with `docker rm`; so do the pods' cgroups on a cgroup
		// v1 host until delete (the last case) removes them.
		mustDocker(ctx, t, "rm", "-f", env.Profile)
		if r := env.Devk(ctx, "status"); r.Code == 0 {
			t.Errorf("status of a removed node exits 0:\n%s", r.Stdout)
		}
		r := env.MustDevk(ctx, "start")
		t.Logf("start of a removed node took %s", r.Duration.Round(time.Millisecond))
		got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "fault-survivor", metav1.GetOptions{})
		if err != nil || got.Data["k"] != "v" {
			t.Fatalf("ConfigMap lost with the node container: %v", err)
		}
	})

	t.Run("repeated stop and start keep a volume's bytes", func(t *testing.T) {
		if os.Getenv("DEVK_FAULTS_FULL") != "1" {
			t.Skip("slow: make test-faults runs it")
		}
		cs := env.Client()
		claim := &corev1.PersistentVolumeClaim{
			ObjectMeta: metav1.ObjectMeta{Name: "fault-blob"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("64Mi")}},
			},
		}
		if _, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		written, err := runClaimPod(ctx, cs, "fault-write", "fault-blob",
			"head -c 20971520 /dev/urandom > /data/blob && sync && sha256sum /data/blob")
		if err != nil {
			t.Fatalf("%v\n%s", err, written)
		}
		for i := 1; i <= 3; i++ {
			env.MustDevk(ctx, "stop")
			r := env.MustDevk(ctx, "start")
			read, err := runClaimPod(ctx, cs, fmt.Sprintf("fault-read-%d", i), "fault-blob", "sha256sum /data/blob")
			if err != nil || read != written {
				t.Fatalf("cycle %d (start %s): blob %q, want %q (%v)", i, r.Duration.Round(time.Millisecond), read, written, err)
			}
		}
	})

	t.Run("two starts at once: one runs, the other waits its turn or says who holds the profile", func(t *testing.T) {
		results := make(chan Result, 2)
		for i := 0; i < 2; i++ {
			go func() { results <- env.Devk(ctx, "start") }()
		}
		for i := 0; i < 2; i++ {
			r := <-results
			if r.Code != 0 && r.Code != 4 {
				t.Errorf("exit %d, want 0 or 4 (PROFILE_LOCKED)\n%s", r.Code, r.Stderr)
			}
			if r.Code == 4 {
				expectLine(t, r, 4, "PROFILE_LOCKED")
			}
		}
		if r := env.Devk(ctx, "status"); r.Code != 0 {
			t.Errorf("status after two starts: exit %d\n%s", r.Code, r.Stdout)
		}
	})

	for _, way := range []struct {
		name   string
		remove func()
	}{
		{"devk stop", func() { env.MustDevk(ctx, "stop") }},
		{"devk pause", func() { env.MustDevk(ctx, "pause") }},
		{"docker rm -f (behind devk's back)", func() { mustDocker(ctx, t, "rm", "-f", env.Profile) }},
	} {
		t.Run(way.name+" then delete leaves no cgroups on the host", func(t *testing.T) {
			env.MustDevk(ctx, "start")
			_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
			if before, _ := filepath.Glob("/sys/fs/cgroup/*/devk-" + env.Profile); os.IsNotExist(err) && len(before) == 0 {
				t.Fatal("a running node on this cgroup v1 host has no cgroups under /sys/fs/cgroup/*/devk-NAME: the check below would prove nothing")
			}
			way.remove()
			env.MustDevk(ctx, "delete")
			if left, _ := filepath.Glob("/sys/fs/cgroup/*/devk-" + env.Profile); len(left) > 0 {
				t.Errorf("cgroup folders left: %v", left)
			}
			if _, err := Docker(ctx, "volume", "inspect", env.Profile+"-var"); err == nil {
				t.Error("the node's volume outlived delete")
			}
		})
	}
}

func mustDocker(ctx context.Context, t *testing.T, args ...string) {
	t.Helper()
	if out, err := Docker(ctx, args...); err != nil && !(args[0] == "rm" && strings.Contains(out, "No such container")) {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// expectLine checks an exit code and devk's one error line.
func expectLine(t *testing.T, r Result, code int, contains string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	last := lines[len(lines)-1]
	if r.Code != code || !strings.HasPrefix(last, "devk: ") || !strings.Contains(last, contains) {
		t.Fatalf("exit %d, want %d with a line containing %q; stderr:\n%s", r.Code, code, contains, r.Stderr)
	}
}

// runClaimPod runs script in a busybox pod with the claim mounted at /data.
func runClaimPod(ctx context.Context, cs kubernetes.Interface, name, claim, script string) (string, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "main", Image: "busybox:1.37", Command: []string{"sh", "-c", script},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}}},
		},
	}
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	err := Eventually(ctx, 3*time.Minute, func() error {
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("pod %s is %s", name, p.Status.Phase)
		}
		return nil
	})
	logs, _ := cs.CoreV1().Pods("default").GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	return strings.TrimSpace(string(logs)), err
}

// e2eHome is the devk home the tests share.
func e2eHome() string {
	if h := os.Getenv("DEVK_E2E_HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return filepath.Join(h, ".devk")
}
