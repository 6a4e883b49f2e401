// Package e2e drives the real devk binary against the real Docker engine: it builds
// devk, starts clusters in throwaway profiles and kubeconfigs, and checks them with
// client-go and docker. Fault-injection, conformance and multi-driver suites reuse it.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Enabled reports whether end-to-end tests should run (DEVK_E2E=1 and not -short).
func Enabled() bool { return os.Getenv("DEVK_E2E") == "1" && !testing.Short() }

// BuildDevk compiles the devk binary into dir, with env added to go's environment (such
// as GOCACHE), and returns its path.
func BuildDevk(dir string, env ...string) (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Dir(filepath.Dir(file))
	bin := filepath.Join(dir, "devk")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build devk: %v\n%s", err, out)
	}
	return bin, nil
}

// Env is one isolated devk world: its own profile and kubeconfig. DEVK_HOME is shared
// (unless DEVK_E2E_HOME is set) so the node image cache is reused across runs.
type Env struct {
	T          testing.TB
	Bin        string
	Profile    string
	Kubeconfig string
	Extra      []string // extra environment, such as DEVK_HOME
	// Prefix runs devk through another command, such as setpriv to run it as another user.
	Prefix []string
}

// NewEnv makes an Env with a fresh kubeconfig holding one unrelated context, so tests
// can check that devk never touches other entries.
func NewEnv(t testing.TB, bin, profile string) *Env {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(OtherKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	// No background builds of the optional addons' images competing with the tests for
	// the machine's cores: TestAddonPrebuild turns them back on with a later entry.
	e := &Env{T: t, Bin: bin, Profile: profile, Kubeconfig: kc, Extra: []string{"DEVK_PREBUILD_ADDONS=false"}}
	if h := os.Getenv("DEVK_E2E_HOME"); h != "" {
		e.Extra = append(e.Extra, "DEVK_HOME="+h)
	}
	return e
}

// OtherKubeconfig is a user's pre-existing context that devk must leave alone.
const OtherKubeconfig = `apiVersion: v1
kind: Config
clusters:
- cluster:
    server: https://other.example:6443
  name: other
contexts:
- context:
    cluster: other
    user: other
  name: other
current-context: other
users:
- name: other
  user:
    token: other-token
`

// Result is one devk invocation.
type Result struct {
	Stdout, Stderr string
	Code           int
	Duration       time.Duration
}

// Devk runs devk with the env's profile and kubeconfig.
func (e *Env) Devk(ctx context.Context, args ...string) Result {
	argv := append(append(append([]string{}, e.Prefix...), e.Bin, "-p", e.Profile), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+e.Kubeconfig)
	cmd.Env = append(cmd.Env, e.Extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Duration: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		r.Code = -1
		r.Stderr += err.Error()
	}
	return r
}

// MustDevk runs devk and fails the test on a non-zero exit.
func (e *Env) MustDevk(ctx context.Context, args ...string) Result {
	e.T.Helper()
	r := e.Devk(ctx, args...)
	if r.Code != 0 {
		e.T.Fatalf("devk %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r
}

// Client returns a clientset for the profile's context in the env's kubeconfig.
func (e *Env) Client() *kubernetes.Clientset {
	e.T.Helper()
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: e.Kubeconfig}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: e.Profile}).ClientConfig()
	if err != nil {
		e.T.Fatalf("kubeconfig: %v", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		e.T.Fatal(err)
	}
	return cs
}

// Docker runs the docker CLI (for inspection only: devk itself uses the Engine API).
func Docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// DockerEnv is `devk docker-env -o json` for the env's profile: DOCKER_HOST,
// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.
func (e *Env) DockerEnv(ctx context.Context) map[string]string {
	e.T.Helper()
	var vars map[string]string
	r := e.MustDevk(ctx, "docker-env", "-o", "json")
	if err := json.Unmarshal([]byte(r.Stdout), &vars); err != nil {
		e.T.Fatalf("docker-env -o json: %v\n%s", err, r.Stdout)
	}
	return vars
}

// NodeDocker is the docker CLI pointed at the node's engine with dockerEnv (from
// Env.DockerEnv), as `eval $(devk docker-env)` points it.
func NodeDocker(ctx context.Context, dockerEnv map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+dockerEnv["DOCKER_HOST"],
		"DOCKER_TLS_VERIFY="+dockerEnv["DOCKER_TLS_VERIFY"], "DOCKER_CERT_PATH="+dockerEnv["DOCKER_CERT_PATH"])
	return cmd
}

// Eventually polls check until it returns nil or timeout passes.
func Eventually(ctx context.Context, timeout time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %s: %w", timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Answers waits up to timeout for url to answer with a body containing want.
func Answers(ctx context.Context, timeout time.Duration, url, want string) error {
	return Eventually(ctx, timeout, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), want) {
			return fmt.Errorf("%s: %d %q", url, resp.StatusCode, body)
		}
		return nil
	})
}

// RunPod runs a pod to completion and returns its logs.
func RunPod(ctx context.Context, cs kubernetes.Interface, ns, name, image string, command []string, timeout time.Duration) (string, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name: "main", Image: image, ImagePullPolicy: corev1.PullIfNotPresent, Command: command,
			}},
		},
	}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", err
	}
	var phase corev1.PodPhase
	err := Eventually(ctx, timeout, func() error {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		phase = p.Status.Phase
		if phase == corev1.PodSucceeded || phase == corev1.PodFailed {
			return nil
		}
		return fmt.Errorf("pod %s is %s", name, phase)
	})
	logs, _ := cs.CoreV1().Pods(ns).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return string(logs), err
	}
	if phase != corev1.PodSucceeded {
		return string(logs), fmt.Errorf("pod %s %s: %s", name, phase, logs)
	}
	return string(logs), nil
}

// NodeReady reports whether the named node is Ready.
func NodeReady(ctx context.Context, cs kubernetes.Interface, name string) error {
	n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("node %s not Ready", name)
}

// IsolatedHome gives the env a DEVK_HOME of its own for the test, purged at the end
// (`devk delete --all --purge`): the shared image cache's container of that home goes
// with it.
func (e *Env) IsolatedHome(t testing.TB) string {
	home := t.TempDir()
	e.Extra = append(e.Extra, "DEVK_HOME="+home)
	t.Cleanup(func() { e.Devk(context.Background(), "delete", "--all", "--purge") })
	return home
}

// SetImageAside removes the engine's name tag (as `docker rmi` does to an image still in
// use), keeping the image under another name, and gives the name back when the test ends
// unless something built it again meanwhile.
func SetImageAside(ctx context.Context, tb testing.TB, tag string) {
	tb.Helper()
	kept := "devk-e2e-aside/" + strings.NewReplacer("devk/", "", ":", "-").Replace(tag) + ":kept"
	for _, args := range [][]string{{"tag", tag, kept}, {"rmi", tag}} {
		if out, err := Docker(ctx, args...); err != nil {
			tb.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	tb.Cleanup(func() {
		ctx := context.Background()
		if _, err := Docker(ctx, "image", "inspect", tag); err != nil {
			if out, err := Docker(ctx, "tag", kept, tag); err != nil {
				tb.Errorf("give back %s: %v: %s", tag, err, out)
				return
			}
		}
		_, _ = Docker(ctx, "rmi", kept)
	})
}

// CreateClaim creates a ReadWriteOnce PersistentVolumeClaim of size in the default
// namespace (the default StorageClass, local-path, provisions it).
func CreateClaim(ctx context.Context, tb testing.TB, cs kubernetes.Interface, name, size string) {
	tb.Helper()
	claim := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(size)}},
		},
	}
	if _, err := cs.CoreV1().PersistentVolumeClaims("default").Create(ctx, claim, metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
}
