package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/devk-dev/devk/driver"
)

// testRegistry is a registry the test runs on the host, reachable from containers at
// the host's addresses: an "upstream" (Docker Hub, a mirror, an insecure registry).
type testRegistry struct {
	server *httptest.Server
	port   int
}

// startRegistry serves an in-memory registry on every host address (TLS with a
// self-signed certificate when tlsOn).
func startRegistry(t testing.TB, tlsOn bool) *testRegistry {
	t.Helper()
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	s.Listener.Close()
	s.Listener = l
	if tlsOn {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return &testRegistry{server: s, port: l.Addr().(*net.TCPAddr).Port}
}

// push writes img as repo:tag (repo as the registry stores it, such as library/app).
func (r *testRegistry) push(t testing.TB, repo, tag string, img v1.Image) {
	t.Helper()
	ref, err := name.ParseReference(fmt.Sprintf("127.0.0.1:%d/%s:%s", r.port, repo, tag), name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{}
	if r.server.TLS != nil {
		opts = append(opts, remote.WithTransport(&http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}))
	}
	if err := remote.Write(ref, img, opts...); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

// proxyImage is a one-file image whose program (testdata/connectproxy, built static)
// prints "connectproxy ok" and exits; extra, if any, adds a layer of that many random
// bytes.
func proxyImage(t testing.TB, bin string, extra int64) v1.Image {
	t.Helper()
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "connectproxy", Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(data)
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	if extra > 0 {
		r, err := random.Layer(extra, "application/vnd.docker.image.rootfs.diff.tar.gzip")
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, r); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Entrypoint = []string{"/connectproxy", "-version"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// buildConnectProxy builds testdata/connectproxy as a static binary.
func buildConnectProxy(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "connectproxy")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/connectproxy")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build connectproxy: %v\n%s", err, out)
	}
	return bin
}

// devkGateway is the devk network's gateway: the host, as nodes see it.
func devkGateway(ctx context.Context, t testing.TB) string {
	t.Helper()
	gw, err := Docker(ctx, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "devk")
	if err != nil {
		t.Fatalf("devk network: %v: %s", err, gw)
	}
	return gw
}

// cacheContainer is the name of the e2e home's running image cache container.
func cacheContainer(ctx context.Context, t testing.TB) string {
	t.Helper()
	id, err := os.ReadFile(filepath.Join(e2eHome(), "id"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := Docker(ctx, "ps", "--filter", "label=dev.devk.service=image-cache", "--filter", "label=dev.devk.home="+strings.TrimSpace(string(id)), "--format", "{{.Names}}")
	if err != nil || out == "" || strings.Contains(out, "\n") {
		t.Fatalf("image cache container: %q %v", out, err)
	}
	return out
}

// cachedImages is `devk cache list -o json`'s image names.
func cachedImages(ctx context.Context, env *Env) map[string]int64 {
	var contents struct {
		Images []struct {
			Image string `json:"image"`
			Size  int64  `json:"size"`
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(env.MustDevk(ctx, "cache", "list", "-o", "json").Stdout), &contents); err != nil {
		env.T.Fatal(err)
	}
	out := map[string]int64{}
	for _, img := range contents.Images {
		out[img.Image] = img.Size
	}
	return out
}

// TestImageCache: an image one cluster pulled through the shared cache is served to a
// new cluster after its upstream went away; --registry-mirror and --insecure-registry
// reach registries the test runs; HTTPS_PROXY carries pulls (the proxy logs the
// CONNECT) but not cluster-internal traffic; bad input is one clear line.
func TestImageCache(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	bin := buildConnectProxy(t)
	img := proxyImage(t, bin, 0)
	tag := fmt.Sprintf("run-%d", time.Now().UnixNano()) // the cache outlives runs
	image := "docker.io/library/devk-cache-e2e:" + tag

	upstream := startRegistry(t, false)
	upstream.push(t, "library/devk-cache-e2e", tag, img)
	upstreams := fmt.Sprintf("DEVK_IMAGE_CACHE_UPSTREAMS=docker.io=http://host.docker.internal:%d", upstream.port)

	a := NewEnv(t, devkBin, "e2e-cache-a")
	b := NewEnv(t, devkBin, "e2e-cache-b")
	for _, env := range []*Env{a, b} {
		env.Extra = append(env.Extra, upstreams)
		env.Devk(ctx, "delete")
		t.Cleanup(func() { env.Devk(context.Background(), "delete") })
	}

	a.MustDevk(ctx, "start")
	if logs, err := RunPod(ctx, a.Client(), "default", "pulled", image, nil, 2*time.Minute); err != nil || !strings.Contains(logs, "connectproxy ok") {
		t.Fatalf("cluster A could not run %s through the cache: %v %s", image, err, logs)
	}
	if size := cachedImages(ctx, a)[image]; size < 1<<20 {
		t.Fatalf("devk cache list: %s is not cached (size %d)", image, size)
	}

	// The upstream goes away, and the cache restarts without it; a new cluster still
	// gets the image.
	upstream.server.Close()
	if out, err := Docker(ctx, "restart", cacheContainer(ctx, t)); err != nil {
		t.Fatalf("restart the cache: %v %s", err, out)
	}
	// Serving what it holds, the cache takes no pushes: what nodes pull from it came from
	// the upstream.
	if hostPort, err := Docker(ctx, "port", cacheContainer(ctx, t), "5001/tcp"); err != nil {
		t.Errorf("the cache does not publish its Docker Hub port on the host: %v %s", err, hostPort)
	} else {
		ref, _ := name.ParseReference(hostPort+"/library/pushed:1", name.Insecure)
		if err := remote.Write(ref, img); err == nil {
			t.Errorf("a push to the cache (%s) was accepted", ref)
		}
	}
	a.MustDevk(ctx, "delete")
	b.MustDevk(ctx, "start")
	if logs, err := RunPod(ctx, b.Client(), "default", "from-cache", image, nil, 2*time.Minute); err != nil || !strings.Contains(logs, "connectproxy ok") {
		t.Fatalf("cluster B could not run %s from the cache with the upstream gone: %v %s", image, err, logs)
	}

	t.Run("cache rm", func(t *testing.T) {
		b.MustDevk(ctx, "cache", "rm", image)
		if _, ok := cachedImages(ctx, b)[image]; ok {
			t.Errorf("%s is still listed after cache rm", image)
		}
		if r := b.Devk(ctx, "cache", "rm", image); r.Code != 41 || !strings.Contains(r.Stderr, "IMAGE_NOT_CACHED") {
			t.Errorf("rm of an image not cached: exit %d %q", r.Code, r.Stderr)
		}
	})

	gw := devkGateway(ctx, t)
	t.Run("bad input", func(t *testing.T) {
		for _, args := range [][]string{
			{"start", "--registry-mirror", "mirror.example.com"},
			{"start", "--insecure-registry", "http://reg.example.com/x"},
		} {
			r := b.Devk(ctx, args...)
			if r.Code != 2 || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 {
				t.Errorf("devk %s: exit %d, stderr %q: want exit 2 and one line", strings.Join(args, " "), r.Code, r.Stderr)
			}
		}
		bad := *b
		bad.Extra = append(append([]string{}, b.Extra...), "HTTPS_PROXY=http://:3128")
		if r := bad.Devk(ctx, "start"); r.Code != 2 || !strings.Contains(r.Stderr, "HTTPS_PROXY") {
			t.Errorf("a malformed HTTPS_PROXY: exit %d, stderr %q", r.Code, r.Stderr)
		}
	})

	t.Run("mirror and insecure registry", func(t *testing.T) {
		mirror, plain := startRegistry(t, false), startRegistry(t, false)
		mirror.push(t, "library/devk-mirror-e2e", tag, img)
		plain.push(t, "plain/app", tag, img)
		b.MustDevk(ctx, "start", "--image-cache=false",
			"--registry-mirror", fmt.Sprintf("http://%s:%d", gw, mirror.port),
			"--insecure-registry", fmt.Sprintf("%s:%d", gw, plain.port))
		cs := b.Client()
		for i, ref := range []string{"docker.io/library/devk-mirror-e2e:" + tag, fmt.Sprintf("%s:%d/plain/app:%s", gw, plain.port, tag)} {
			if logs, err := RunPod(ctx, cs, "default", fmt.Sprintf("registry-%d", i), ref, nil, 2*time.Minute); err != nil || !strings.Contains(logs, "connectproxy ok") {
				t.Errorf("%s: %v %s", ref, err, logs)
			}
		}
		// The mirror goes away: the cluster still restarts, and images it has keep working.
		mirror.server.Close()
		b.MustDevk(ctx, "stop")
		b.MustDevk(ctx, "start")
		if _, err := RunPod(ctx, cs, "default", "after-mirror", "docker.io/library/devk-mirror-e2e:"+tag, nil, 2*time.Minute); err != nil {
			t.Errorf("an image the node has, with its mirror gone: %v", err)
		}
	})

	t.Run("HTTPS proxy", func(t *testing.T) {
		secure := startRegistry(t, true)
		secure.push(t, "tls/app", tag, img)
		// The registry is reached at the host's docker0 address: the devk network (the
		// gateway included) is in NO_PROXY.
		bridge, err := Docker(ctx, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge")
		if err != nil {
			t.Fatalf("docker0's address: %v %s", err, bridge)
		}
		logPath := filepath.Join(t.TempDir(), "proxy.log")
		port, err := driver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		proxy := exec.Command(bin, "-listen", fmt.Sprintf("0.0.0.0:%d", port), "-log", logPath)
		if err := proxy.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { proxy.Process.Kill(); proxy.Wait() })
		target := fmt.Sprintf("%s:%d", bridge, secure.port)
		withProxy := *b
		// On the host's loopback: devk moves it to the gateway, where it listens too.
		withProxy.Extra = append(append([]string{}, b.Extra...), fmt.Sprintf("HTTPS_PROXY=http://127.0.0.1:%d", port))
		r := withProxy.MustDevk(ctx, "start", "--insecure-registry", target)
		if !strings.Contains(r.Stderr, "Passing proxy") {
			t.Errorf("start does not say it passed the proxy on:\n%s", r.Stderr)
		}
		if _, err := RunPod(ctx, b.Client(), "default", "via-proxy", target+"/tls/app:"+tag, nil, 2*time.Minute); err != nil {
			t.Fatalf("pull through the proxy: %v", err)
		}
		// Cluster traffic stays off the proxy: a pod reaching the API server's Service
		// goes straight there.
		if _, err := b.Client().CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
			t.Fatal(err)
		}
		logged, _ := os.ReadFile(logPath)
		if !strings.Contains(string(logged), "CONNECT "+target) {
			t.Errorf("the proxy log lacks CONNECT %s:\n%s", target, logged)
		}
		nodeIP := strings.TrimSpace(b.MustDevk(ctx, "ip").Stdout)
		for _, internal := range []string{nodeIP, "10.96.", "127.0.0.1", ".svc", ".cluster.local"} {
			if strings.Contains(string(logged), internal) {
				t.Errorf("cluster-internal traffic (%s) went through the proxy:\n%s", internal, logged)
			}
		}
		// A proxy that is not there: a warning, and the cluster still starts.
		deadPort, err := driver.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		dead := *b
		dead.Extra = append(append([]string{}, b.Extra...), fmt.Sprintf("HTTPS_PROXY=http://127.0.0.1:%d", deadPort))
		if r := dead.MustDevk(ctx, "start"); !strings.Contains(r.Stderr, "where nothing answers on port") {
			t.Errorf("no warning about a proxy the node cannot reach:\n%s", r.Stderr)
		}
	})
}
