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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
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
		env.IsolatedHome(t)
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
		env.IsolatedHome(t)
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
		CreateClaim(ctx, t, cs, "fault-blob", "64Mi")
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

	// devk stop signals the pods as soon as the kubelet is gone (kubelet.service's
	// ExecStopPost); a pod still gets its SIGTERM and the time to act on it.
	t.Run("stop: a pod's SIGTERM handler finishes its write to a volume", func(t *testing.T) {
		env.MustDevk(ctx, "start")
		cs := env.Client()
		CreateClaim(ctx, t, cs, "fault-term", "16Mi")
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "fault-term"},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "main", Image: "busybox:1.37", Command: []string{"sh", "-c",
					`trap 'sleep 1.5; echo flushed > /data/on-term; sync; exit 0' TERM; touch /data/started; while true; do sleep 0.1; done`},
					VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
				Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "fault-term"}}}},
			},
		}
		if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := Eventually(ctx, 2*time.Minute, func() error {
			p, err := cs.CoreV1().Pods("default").Get(ctx, "fault-term", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pod fault-term is %s", p.Status.Phase)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second) // its trap is set
		env.MustDevk(ctx, "stop")
		env.MustDevk(ctx, "start")
		out, err := runClaimPod(ctx, cs, "fault-term-read", "fault-term", "ls /data; cat /data/on-term")
		if err != nil || !strings.Contains(out, "flushed") {
			t.Fatalf("the pod's SIGTERM handler did not finish before the node stopped: %q (%v)", out, err)
		}
		if !strings.Contains(out, "started") {
			t.Fatalf("the volume lost the pod's first file: %q", out)
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
		remove func(t *testing.T)
	}{
		{"devk stop", func(*testing.T) { env.MustDevk(ctx, "stop") }},
		{"devk pause", func(*testing.T) { env.MustDevk(ctx, "pause") }},
		{"docker rm -f (behind devk's back)", func(t *testing.T) { mustDocker(ctx, t, "rm", "-f", env.Profile) }},
		// The node keeps its image by ID; delete's cgroup cleanup once asked for the name.
		{"the node image's name removed (docker rmi behind devk's back)", func(t *testing.T) {
			out, err := Docker(ctx, "inspect", "-f", "{{.Config.Image}}", env.Profile)
			if err != nil {
				t.Fatalf("docker inspect %s: %v: %s", env.Profile, err, out)
			}
			SetImageAside(ctx, t, strings.TrimSpace(out))
		}},
	} {
		t.Run(way.name+" then delete leaves no cgroups on the host", func(t *testing.T) {
			env.MustDevk(ctx, "start")
			_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
			if before, _ := filepath.Glob("/sys/fs/cgroup/*/devk-" + env.Profile); os.IsNotExist(err) && len(before) == 0 {
				t.Fatal("a running node on this cgroup v1 host has no cgroups under /sys/fs/cgroup/*/devk-NAME: the check below would prove nothing")
			}
			way.remove(t)
			env.MustDevk(ctx, "delete")
			if left, _ := filepath.Glob("/sys/fs/cgroup/*/devk-" + env.Profile); len(left) > 0 {
				t.Errorf("cgroup folders left: %v", left)
			}
			if _, err := Docker(ctx, "volume", "inspect", env.Profile+"-var"); err == nil {
				t.Error("the node's volume outlived delete")
			}
		})
	}

	full := os.Getenv("DEVK_FAULTS_FULL") == "1"

	t.Run("stop interrupted (SIGINT, SIGKILL) early and late: the next stop finishes it, nothing is lost", func(t *testing.T) {
		env.MustDevk(ctx, "start")
		cs := env.Client()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "stop-survivor"}, Data: map[string]string{"k": "v"}}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		CreateClaim(ctx, t, cs, "stop-blob", "16Mi")
		written, err := runClaimPod(ctx, cs, "stop-write", "stop-blob", "head -c 4194304 /dev/urandom > /data/blob && sync && sha256sum /data/blob")
		if err != nil {
			t.Fatalf("%v\n%s", err, written)
		}
		moments := []interruption{sigAfter(syscall.SIGINT, 200*time.Millisecond), sigAfter(syscall.SIGKILL, 2*time.Second)}
		if full {
			moments = append(moments, sigAfter(syscall.SIGKILL, 200*time.Millisecond), sigAfter(syscall.SIGINT, 2*time.Second))
		}
		for i, at := range moments {
			interrupt(ctx, t, env, at, "stop")
			r := env.MustDevk(ctx, "stop")
			if r.Duration > time.Minute {
				t.Errorf("%s: the re-run stop took %s (a stale lock?)", at.name, r.Duration.Round(time.Second))
			}
			if out, _ := Docker(ctx, "inspect", "-f", "{{.State.Status}}", env.Profile); out != "exited" {
				t.Errorf("%s: after the re-run stop the node is %q, want exited", at.name, out)
			}
			env.MustDevk(ctx, "start")
			if got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "stop-survivor", metav1.GetOptions{}); err != nil || got.Data["k"] != "v" {
				t.Fatalf("%s: ConfigMap lost: %v", at.name, err)
			}
			if read, err := runClaimPod(ctx, cs, fmt.Sprintf("stop-read-%d", i), "stop-blob", "sha256sum /data/blob"); err != nil || read != written {
				t.Fatalf("%s: blob %q, want %q (%v)", at.name, read, written, err)
			}
		}
	})

	t.Run("a nearly full node disk: start refuses and status warns; once freed, start brings everything back", func(t *testing.T) {
		if !full {
			t.Skip("fills the host's disk for seconds: make test-faults runs it")
		}
		env.MustDevk(ctx, "start")
		cs := env.Client()
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "disk-survivor"}, Data: map[string]string{"k": "v"}}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		fill := fillNodeDisk(ctx, t, env.Profile, 400<<20)
		status, start := env.Devk(ctx, "status"), env.Devk(ctx, "start")
		fill.remove()
		t.Logf("the disk was nearly full for %s", fill.held().Round(time.Millisecond))
		if status.Code != 0 || !strings.Contains(status.Stderr, "devk: warning: ") || !strings.Contains(status.Stderr, "MiB free") {
			t.Errorf("status on a nearly full disk: exit %d, want 0 and a warning\n%s", status.Code, status.Stderr)
		}
		expectLine(t, start, 22, "NODE_DISK_FULL")
		expectLine(t, start, 22, "docker system prune")
		env.MustDevk(ctx, "start")
		if got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "disk-survivor", metav1.GetOptions{}); err != nil || got.Data["k"] != "v" {
			t.Fatalf("ConfigMap lost: %v", err)
		}
		if r := env.Devk(ctx, "status"); r.Code != 0 || strings.Contains(r.Stderr, "warning") {
			t.Errorf("status once the disk is freed: exit %d\n%s", r.Code, r.Stderr)
		}
	})

	t.Run("a corrupt config.json: status and start name it and the way out; list shows the rest; delete removes it all", func(t *testing.T) {
		env.MustDevk(ctx, "start")
		config := filepath.Join(e2eHome(), "profiles", env.Profile, "config.json")
		good, err := os.ReadFile(config)
		if err != nil {
			t.Fatal(err)
		}
		// Another profile (no node) that profile list must still show.
		other := NewEnv(t, devkBin, "e2e-fault-other")
		otherDir := filepath.Join(e2eHome(), "profiles", other.Profile)
		if err := os.MkdirAll(otherDir, 0o700); err != nil {
			t.Fatal(err)
		}
		otherConfig := strings.Replace(string(good), `"name": "`+env.Profile+`"`, `"name": "`+other.Profile+`"`, 1)
		if err := os.WriteFile(filepath.Join(otherDir, "config.json"), []byte(otherConfig), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Devk(context.Background(), "delete") })
		damages := []struct{ name, data string }{
			{"truncated", string(good[:len(good)/2])},
			{"garbage", "\x00\x01\x02garbage"},
			{"empty", ""},
		}
		for _, d := range damages {
			if err := os.WriteFile(config, []byte(d.data), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"status"}, {"start"}} {
				r := env.Devk(ctx, args...)
				expectLine(t, r, 8, "PROFILE_CORRUPT")
				expectLine(t, r, 8, config)
				expectLine(t, r, 8, "devk delete -p "+env.Profile)
			}
			if out, _ := Docker(ctx, "inspect", "-f", "{{.State.Status}}", env.Profile); out != "running" {
				t.Errorf("%s: the node is %q after the refused commands, want running (untouched)", d.name, out)
			}
			var list []struct{ Name, Status string }
			decodeJSON(t, env.MustDevk(ctx, "profile", "list", "-o", "json").Stdout, &list)
			seen := map[string]string{}
			for _, p := range list {
				seen[p.Name] = p.Status
			}
			if seen[env.Profile] != "Error" || seen[other.Profile] != "Nonexistent" {
				t.Errorf("%s: profile list = %+v, want %s Error and %s Nonexistent", d.name, list, env.Profile, other.Profile)
			}
		}
		env.MustDevk(ctx, "delete")
		expectDeleted(ctx, t, env)
	})

	t.Run("delete interrupted (SIGINT, SIGKILL) early and late: the next delete leaves nothing behind", func(t *testing.T) {
		moments := []interruption{sigAfter(syscall.SIGINT, 300*time.Millisecond), sigWhenNodeGone(syscall.SIGKILL, env.Profile)}
		if full {
			moments = append(moments, sigAfter(syscall.SIGKILL, 300*time.Millisecond), sigWhenNodeGone(syscall.SIGINT, env.Profile))
		}
		// Containers of the node image that are no node: delete's short-lived helper.
		helpers := func() map[string]bool {
			out, _ := Docker(ctx, "ps", "-a", "--filter", "ancestor="+nodeImage, "--format", `{{.ID}} {{.Label "dev.devk.profile"}}`)
			ids := map[string]bool{}
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) == 1 {
					ids[f[0]] = true
				}
			}
			return ids
		}
		for _, at := range moments {
			env.MustDevk(ctx, "start")
			before := helpers()
			interrupt(ctx, t, env, at, "delete")
			r := env.MustDevk(ctx, "delete")
			if r.Duration > time.Minute {
				t.Errorf("%s: the re-run delete took %s (a stale lock?)", at.name, r.Duration.Round(time.Second))
			}
			expectDeleted(ctx, t, env)
			// A helper still running when delete was killed removes itself within seconds.
			if err := Eventually(ctx, 15*time.Second, func() error {
				for id := range helpers() {
					if !before[id] {
						return fmt.Errorf("container %s of the node image is left", id)
					}
				}
				return nil
			}); err != nil {
				t.Errorf("%s: %v", at.name, err)
			}
		}
	})

	// The kill can land between a helper's creation and its start, which leaves it
	// Created for good (AutoRemove acts on exit): made here on purpose, it must go with
	// the next delete, while another home's helper stays.
	t.Run("a helper container a killed devk left is removed by the next delete", func(t *testing.T) {
		env.MustDevk(ctx, "start")
		id, err := os.ReadFile(filepath.Join(e2eHome(), "id"))
		if err != nil {
			t.Fatal(err)
		}
		create := func(home string) string {
			out, err := Docker(ctx, "create", "--label", "dev.devk.helper-for="+env.Profile, "--label", "dev.devk.home="+home, "--entrypoint", "true", nodeImage)
			if err != nil {
				t.Fatalf("docker create: %v: %s", err, out)
			}
			return strings.TrimSpace(out)
		}
		ours, others := create(strings.TrimSpace(string(id))), create("another-home")
		t.Cleanup(func() { _, _ = Docker(context.Background(), "rm", "-f", others) })
		env.MustDevk(ctx, "delete")
		if out, _ := Docker(ctx, "ps", "-a", "-q", "--no-trunc", "--filter", "id="+ours); strings.TrimSpace(out) != "" {
			t.Errorf("this home's left helper %s survived delete", ours[:12])
		}
		if out, _ := Docker(ctx, "ps", "-a", "-q", "--no-trunc", "--filter", "id="+others); strings.TrimSpace(out) == "" {
			t.Errorf("another home's helper %s was removed", others[:12])
		}
	})
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
	var failed error
	err := Eventually(ctx, 3*time.Minute, func() error {
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch p.Status.Phase {
		case corev1.PodSucceeded:
			return nil
		case corev1.PodFailed:
			failed = fmt.Errorf("pod %s failed: %s %s %s", name, p.Status.Reason, p.Status.Message, containerStates(p))
			return nil
		}
		return fmt.Errorf("pod %s is %s", name, p.Status.Phase)
	})
	if err == nil {
		err = failed
	}
	logs, _ := cs.CoreV1().Pods("default").GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	return strings.TrimSpace(string(logs)), err
}

// containerStates says how a pod's containers ended, for failure messages.
func containerStates(p *corev1.Pod) string {
	var out []string
	for _, c := range p.Status.ContainerStatuses {
		if t := c.State.Terminated; t != nil {
			out = append(out, fmt.Sprintf("%s: exit %d %s %s", c.Name, t.ExitCode, t.Reason, t.Message))
		} else if w := c.State.Waiting; w != nil {
			out = append(out, fmt.Sprintf("%s: %s %s", c.Name, w.Reason, w.Message))
		}
	}
	return strings.Join(out, "; ")
}

// e2eHome is the devk home the tests share.
func e2eHome() string {
	if h := os.Getenv("DEVK_E2E_HOME"); h != "" {
		return h
	}
	h, _ := os.UserHomeDir()
	return filepath.Join(h, ".devk")
}

// interruption is when and how a devk command is interrupted.
type interruption struct {
	name string
	sig  syscall.Signal
	wait func(ctx context.Context) // returns when the signal is due
}

func sigAfter(sig syscall.Signal, d time.Duration) interruption {
	return interruption{fmt.Sprintf("%s %s after it began", sig, d), sig, func(ctx context.Context) {
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}}
}

// sigWhenNodeGone signals once the node container is removed: delete is then halfway
// (the volume, the host's cgroups, the profile folder and the kubeconfig are left).
func sigWhenNodeGone(sig syscall.Signal, name string) interruption {
	return interruption{fmt.Sprintf("%s once the node container is gone", sig), sig, func(ctx context.Context) {
		_ = Eventually(ctx, 2*time.Minute, func() error {
			if _, err := Docker(ctx, "inspect", "-f", "{{.Id}}", name); err == nil {
				return fmt.Errorf("container %s still there", name)
			}
			return nil
		})
	}}
}

// interrupt runs devk args and signals it at the given moment. A SIGINT must end it
// within seconds with exit 5 and one line (or exit 0 if it finished first).
func interrupt(ctx context.Context, t *testing.T, env *Env, at interruption, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, env.Bin, append([]string{"-p", env.Profile}, args...)...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+env.Kubeconfig), env.Extra...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	due, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel()
		case <-due.Done():
		}
	}()
	at.wait(due)
	select {
	case <-exited:
		t.Logf("devk %s finished (exit %d) before %s", strings.Join(args, " "), cmd.ProcessState.ExitCode(), at.name)
		return
	default:
	}
	_ = cmd.Process.Signal(at.sig)
	signalled := time.Now()
	<-exited
	r := Result{Stderr: stderr.String(), Code: cmd.ProcessState.ExitCode()}
	t.Logf("devk %s, %s: exit %d %s after the signal", strings.Join(args, " "), at.name, r.Code, time.Since(signalled).Round(time.Millisecond))
	if at.sig != syscall.SIGINT {
		return
	}
	if time.Since(signalled) > 15*time.Second {
		t.Errorf("devk %s took %s to end after SIGINT", strings.Join(args, " "), time.Since(signalled).Round(time.Second))
	}
	if r.Code != 0 {
		expectLine(t, r, 5, "INTERRUPTED")
	}
}

// expectDeleted checks that nothing of the profile is left: container, volume, profile
// folder, kubeconfig context, a lock file beside the kubeconfig; and that the user's
// other context is still there and no lock holds the profile.
func expectDeleted(ctx context.Context, t *testing.T, env *Env) {
	t.Helper()
	if out, _ := Docker(ctx, "ps", "-aq", "--filter", "name=^/"+env.Profile+"$"); out != "" {
		t.Error("the node container is left")
	}
	if _, err := Docker(ctx, "volume", "inspect", env.Profile+"-var"); err == nil {
		t.Error("the node's volume is left")
	}
	if _, err := os.Stat(filepath.Join(e2eHome(), "profiles", env.Profile)); !os.IsNotExist(err) {
		t.Errorf("the profile folder is left (%v)", err)
	}
	kc, err := clientcmd.LoadFromFile(env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := kc.Contexts[env.Profile]; ok {
		t.Error("the kubeconfig context is left")
	}
	if _, ok := kc.Contexts["other"]; !ok {
		t.Error("the user's other kubeconfig context is gone")
	}
	if locks, _ := filepath.Glob(filepath.Join(filepath.Dir(env.Kubeconfig), "*lock*")); len(locks) > 0 {
		t.Errorf("lock files beside the kubeconfig: %v", locks)
	}
	if r := env.Devk(ctx, "status"); r.Code != 3 || r.Duration > 30*time.Second {
		t.Errorf("status after delete: exit %d in %s, want 3 at once\n%s", r.Code, r.Duration.Round(time.Second), r.Stderr)
	}
}

// diskFill is a file that fills the node's /var, the host's disk.
type diskFill struct {
	remove func()
	held   func() time.Duration
}

// fillNodeDisk fallocates a file in the node's /var that leaves about leave bytes free
// on the disk under it. It is removed by remove, by t.Cleanup, and by a watchdog process
// on the host a minute later should this test process die first.
func fillNodeDisk(ctx context.Context, t *testing.T, node string, leave int64) diskFill {
	t.Helper()
	const name = "/var/devk-e2e-fill"
	df, err := Docker(ctx, "exec", node, "df", "-P", "-k", "/var")
	if err != nil {
		t.Fatalf("df in the node: %v: %s", err, df)
	}
	lines := strings.Split(df, "\n")
	fields := strings.Fields(lines[len(lines)-1])
	availKB, err := strconv.ParseInt(fields[3], 10, 64)
	if err != nil {
		t.Fatalf("df in the node: %q", df)
	}
	size := availKB*1024 - leave
	if size < 1<<30 {
		t.Skipf("the disk has only %d MiB free already", availKB>>10)
	}
	mount, err := Docker(ctx, "volume", "inspect", "-f", "{{.Mountpoint}}", node+"-var")
	if err != nil {
		t.Fatal(err)
	}
	hostFile := filepath.Join(mount, strings.TrimPrefix(name, "/var/"))
	watchdog := exec.Command("sh", "-c", "sleep 60; rm -f "+hostFile)
	watchdog.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	_ = watchdog.Start() // root only can reach the volume's folder; the other removals cover the rest
	var began time.Time
	var held time.Duration
	remove := func() {
		if began.IsZero() {
			return
		}
		if out, err := Docker(context.Background(), "exec", node, "rm", "-f", name); err != nil {
			t.Logf("rm in the node: %v: %s", err, out)
			_ = os.Remove(hostFile)
		}
		held, began = time.Since(began), time.Time{}
		if watchdog.Process != nil {
			_ = watchdog.Process.Kill()
			_ = watchdog.Wait()
		}
	}
	t.Cleanup(remove)
	began = time.Now()
	if out, err := Docker(ctx, "exec", node, "fallocate", "-l", strconv.FormatInt(size, 10), name); err != nil {
		remove()
		t.Fatalf("fallocate %d bytes in the node: %v: %s", size, err, out)
	}
	return diskFill{remove: remove, held: func() time.Duration { return held }}
}
