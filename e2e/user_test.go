package e2e

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nonRootUser is the ordinary account the test runs devk as: a member of the docker
// group, as most users are.
const nonRootUser = "devk-e2e"

// TestOrdinaryUser runs the everyday commands as a non-root member of the docker group:
// start, a pod resolving DNS, docker-env, image ls, service --url, stop/start keeping an
// object, and delete; every file devk writes is the user's own, keys and kubeconfig 0600.
// Run as root (as CI is), it creates the user when missing.
func TestOrdinaryUser(t *testing.T) {
	u, uid, bin := userWithDevk(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	kubeconfig := filepath.Join(u.HomeDir, ".kube", "config")
	env := &Env{T: t, Bin: bin, Profile: "e2e-user", Kubeconfig: kubeconfig,
		Prefix: []string{"setpriv", "--reuid=" + nonRootUser, "--regid=" + nonRootUser, "--init-groups", "--"},
		Extra:  []string{"HOME=" + u.HomeDir, "USER=" + nonRootUser, "DEVK_HOME=", "DOCKER_HOST=", "DEVK_PREBUILD_ADDONS=false"}}
	env.Devk(ctx, "delete")
	t.Cleanup(func() { env.Devk(context.Background(), "delete") })

	r := env.MustDevk(ctx, "start")
	t.Logf("start as %s took %s", nonRootUser, r.Duration.Round(time.Millisecond))
	cs := env.Client()
	logs, err := RunPod(ctx, cs, "default", "user-dns", "busybox:1.37", []string{"nslookup", "kubernetes.default.svc.cluster.local"}, 2*time.Minute)
	if err != nil || !strings.Contains(logs, "10.96.0.1") {
		t.Fatalf("DNS in a pod: %v\n%s", err, logs)
	}

	t.Run("docker-env reaches the node's engine", func(t *testing.T) {
		var vars []string
		for _, line := range strings.Split(env.MustDevk(ctx, "docker-env").Stdout, "\n") {
			if kv, ok := strings.CutPrefix(line, "export "); ok {
				vars = append(vars, strings.ReplaceAll(kv, `"`, ""))
			}
		}
		cmd := exec.CommandContext(ctx, "setpriv", "--reuid="+nonRootUser, "--regid="+nonRootUser, "--init-groups", "--", "docker", "info", "--format", "{{.Name}}")
		cmd.Env = append(append(os.Environ(), "HOME="+u.HomeDir), vars...)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != env.Profile {
			t.Errorf("docker info through docker-env: %v: %s", err, out)
		}
		if r := env.MustDevk(ctx, "image", "ls"); !strings.Contains(r.Stdout, "busybox") {
			t.Errorf("image ls:\n%s", r.Stdout)
		}
	})

	t.Run("image build, rm and load from an archive", func(t *testing.T) {
		dir := filepath.Join(u.HomeDir, "e2e-image")
		_ = os.RemoveAll(dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM busybox:1.37\nLABEL dev.devk.e2e=user\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		env.MustDevk(ctx, "image", "build", "-t", "user-built:1", dir)
		archive := filepath.Join(dir, "img.tar")
		// The archive is the user's own file, written through the node's engine.
		save := exec.CommandContext(ctx, "docker", "save", "-o", archive, "user-built:1")
		for _, kv := range strings.Split(env.MustDevk(ctx, "docker-env").Stdout, "\n") {
			if v, ok := strings.CutPrefix(kv, "export "); ok {
				save.Env = append(save.Env, strings.ReplaceAll(v, `"`, ""))
			}
		}
		save.Env = append(os.Environ(), save.Env...)
		if out, err := save.CombinedOutput(); err != nil {
			t.Fatalf("docker save: %v: %s", err, out)
		}
		if err := os.Chown(archive, uid, -1); err != nil {
			t.Fatal(err)
		}
		env.MustDevk(ctx, "image", "rm", "user-built:1")
		env.MustDevk(ctx, "image", "load", archive)
		if r := env.MustDevk(ctx, "image", "ls"); !strings.Contains(r.Stdout, "user-built:1") {
			t.Errorf("image ls after load:\n%s", r.Stdout)
		}
	})

	t.Run("service --url answers", func(t *testing.T) {
		env.MustDevk(ctx, "kubectl", "--", "create", "deployment", "userweb", "--image=busybox:1.37", "--",
			"sh", "-c", "mkdir -p /www && echo hello user > /www/index.html && exec httpd -f -p 8080 -h /www")
		env.MustDevk(ctx, "kubectl", "--", "expose", "deployment", "userweb", "--type=NodePort", "--port=80", "--target-port=8080")
		url := strings.TrimSpace(env.MustDevk(ctx, "service", "userweb", "--url", "--wait", "2m").Stdout)
		if err := Answers(ctx, time.Minute, url, "hello user"); err != nil {
			t.Error(err)
		}
	})

	t.Run("stop and start keep objects", func(t *testing.T) {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "user-survivor"}, Data: map[string]string{"k": "v"}}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		env.MustDevk(ctx, "stop")
		env.MustDevk(ctx, "start")
		if got, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "user-survivor", metav1.GetOptions{}); err != nil || got.Data["k"] != "v" {
			t.Fatalf("ConfigMap lost: %v", err)
		}
	})

	t.Run("every file is the user's, secrets 0600", func(t *testing.T) {
		root := filepath.Join(u.HomeDir, ".devk")
		_ = filepath.Walk(root, func(path string, info os.FileInfo, err error) error {
			if err != nil {
				return nil
			}
			if st, ok := info.Sys().(interface{ Uid() uint32 }); ok && int(st.Uid()) != uid {
				t.Errorf("%s is not owned by %s", path, nonRootUser)
			}
			if strings.HasSuffix(path, ".key") && info.Mode().Perm() != 0o600 {
				t.Errorf("%s mode %o, want 600", path, info.Mode().Perm())
			}
			return nil
		})
		if st, err := os.Stat(kubeconfig); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("kubeconfig: %v %v", st, err)
		}
	})

	env.MustDevk(ctx, "delete")
	if out, _ := Docker(ctx, "ps", "-aq", "--filter", "name=^/"+env.Profile+"$"); out != "" {
		t.Error("delete left the node container")
	}
}

// ensureUser returns the test user, creating it (a member of the docker group) if needed.
// userWithDevk is the test user (created when missing, which needs root) with a copy of
// devk in its home: its uid and the binary's path.
func userWithDevk(t *testing.T) (*user.User, int, string) {
	t.Helper()
	requireE2E(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to the test user; run the suite as root (CI does)")
	}
	u := ensureUser(t)
	uid, _ := strconv.Atoi(u.Uid)
	bin := filepath.Join(u.HomeDir, "devk")
	copyFile(t, devkBin, bin, 0o755)
	if err := os.Chown(bin, uid, -1); err != nil {
		t.Fatal(err)
	}
	return u, uid, bin
}

func ensureUser(t *testing.T) *user.User {
	t.Helper()
	if _, err := user.Lookup(nonRootUser); err != nil {
		if out, err := exec.Command("useradd", "--create-home", "--groups", "docker", nonRootUser).CombinedOutput(); err != nil {
			t.Fatalf("useradd: %v: %s", err, out)
		}
	}
	u, err := user.Lookup(nonRootUser)
	if err != nil {
		t.Fatal(err)
	}
	groups, _ := u.GroupIds()
	g, err := user.LookupGroup("docker")
	if err != nil {
		t.Fatalf("no docker group: %v", err)
	}
	member := false
	for _, id := range groups {
		member = member || id == g.Gid
	}
	if !member {
		if out, err := exec.Command("usermod", "--append", "--groups", "docker", nonRootUser).CombinedOutput(); err != nil {
			t.Fatalf("usermod: %v: %s", err, out)
		}
	}
	return u
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".tmp", data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		t.Fatal(err)
	}
}

// TestOrdinaryUserBuildsNodeImage builds the node image as the non-root member of the
// docker group: mmdebstrap makes the root filesystem in a user namespace (its unshare
// mode), then the image is assembled and loaded into the engine. Only what differs for a
// user is rebuilt: the user's cache is seeded with root's compiled programs (compiling
// Go is the same for anyone), and the engine's tag is moved aside for the build and put
// back if it fails.
func TestOrdinaryUserBuildsNodeImage(t *testing.T) {
	u, uid, bin := userWithDevk(t)
	gid, _ := strconv.Atoi(u.Gid)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	image := strings.TrimSpace(NewEnv(t, devkBin, "e2e-user").MustDevk(ctx, "node-image").Stdout)

	home := filepath.Join(u.HomeDir, ".devk-build-test")
	_ = os.RemoveAll(home)
	cache := filepath.Join(home, "cache")
	if err := os.MkdirAll(filepath.Join(cache, "images"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(home) })
	rootCache := filepath.Join(e2eHome(), "cache")
	seed, _ := filepath.Glob(filepath.Join(rootCache, "*"))
	images, _ := filepath.Glob(filepath.Join(rootCache, "images", "*.tar"))
	seeded := 0
	for _, p := range append(seed, images...) {
		name := filepath.Base(p)
		st, err := os.Stat(p)
		// Compiled programs only: the root filesystem is what the user must build.
		if err == nil && st.IsDir() && strings.HasPrefix(name, "containerd-") && !strings.Contains(name, ".partial") {
			// containerd's commands are a folder of programs.
			if err := linkFiles(p, filepath.Join(cache, name)); err != nil {
				t.Fatal(err)
			}
			seeded++
			continue
		}
		if err != nil || st.IsDir() || strings.HasPrefix(name, "rootfs-") || strings.HasSuffix(name, ".log") || strings.HasSuffix(name, ".json") {
			continue
		}
		rel, _ := filepath.Rel(rootCache, p)
		if err := os.Link(p, filepath.Join(cache, rel)); err != nil {
			t.Fatal(err)
		}
		seeded++
	}
	if err := filepath.Walk(home, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Lchown(p, uid, gid)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded the user's cache with %d compiled artifacts of root's", seeded)

	backup := "devk/node:e2e-user-build-backup"
	if out, err := Docker(ctx, "tag", image, backup); err != nil {
		t.Fatalf("docker tag: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if _, err := Docker(context.Background(), "image", "inspect", image); err != nil {
			_, _ = Docker(context.Background(), "tag", backup, image) // the user's build failed: put it back
		}
		_, _ = Docker(context.Background(), "rmi", backup)
	})
	if out, err := Docker(ctx, "rmi", image); err != nil {
		t.Fatalf("docker rmi: %v: %s", err, out)
	}

	env := &Env{T: t, Bin: bin, Profile: "e2e-user",
		Prefix: []string{"setpriv", "--reuid=" + nonRootUser, "--regid=" + nonRootUser, "--init-groups", "--"},
		Extra:  []string{"HOME=" + u.HomeDir, "USER=" + nonRootUser, "DEVK_HOME=" + home, "DOCKER_HOST=", "DEVK_PREBUILD_ADDONS=false"}}
	r := env.Devk(ctx, "node-image")
	if r.Code != 0 {
		log, _ := os.ReadFile(filepath.Join(cache, "node-image-build.log"))
		t.Fatalf("node-image as %s: exit %d\n%s\n%s\nbuild log tail:\n%s", nonRootUser, r.Code, r.Stdout, r.Stderr, tail(string(log), 30))
	}
	if got := strings.TrimSpace(r.Stdout); got != image {
		t.Errorf("the user's build is %s, want %s (the same recipe)", got, image)
	}
	t.Logf("node image built as %s in %s:\n%s", nonRootUser, r.Duration.Round(time.Second), r.Stderr)
	rootfs, _ := filepath.Glob(filepath.Join(cache, "rootfs-*.tar"))
	if len(rootfs) != 1 {
		t.Fatalf("the user's cache has root filesystems %v, want the one it built", rootfs)
	}
	if st, err := os.Stat(rootfs[0]); err != nil || st.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
		t.Errorf("the root filesystem is not the user's own: %v", err)
	}
	// The image the user built runs a cluster.
	run := NewEnv(t, devkBin, "e2e-userimg")
	run.Devk(ctx, "delete")
	t.Cleanup(func() { run.Devk(context.Background(), "delete") })
	run.MustDevk(ctx, "start")
	if err := NodeReady(ctx, run.Client(), run.Profile); err != nil {
		t.Error(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// linkFiles hard-links the files of a flat folder into a new one.
func linkFiles(src, dst string) error {
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Link(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
