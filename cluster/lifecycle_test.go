package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devk-dev/devk/driver"
	"github.com/devk-dev/devk/iso"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"
)

func TestStatusExitCode(t *testing.T) {
	tests := []struct {
		host, kubelet, apiserver string
		want                     int
	}{
		{Running, Running, Running, 0},
		{Stopped, Running, Running, 1},
		{Running, Stopped, Running, 2},
		{Running, Running, Stopped, 4},
		{Running, Stopped, Stopped, 6},
		{Stopped, Stopped, Stopped, 7},
		{Paused, Paused, Paused, 7},
		{Nonexistent, Nonexistent, Nonexistent, 7},
		{ErrorState, Nonexistent, Nonexistent, 7},
		{Running, Running, ErrorState, 4},
		{"", "", "", 7},
	}
	for _, tt := range tests {
		st := Status{Host: tt.host, Kubelet: tt.kubelet, APIServer: tt.apiserver}
		if got := st.ExitCode(); got != tt.want {
			t.Errorf("ExitCode(host=%s kubelet=%s apiserver=%s) = %d, want %d", tt.host, tt.kubelet, tt.apiserver, got, tt.want)
		}
	}
}

func TestStatusJSONFields(t *testing.T) {
	data, err := json.Marshal(Status{Name: "devk", Host: Running, Kubelet: Running, APIServer: Running, Kubeconfig: Configured})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"devk","host":"Running","kubelet":"Running","apiServer":"Running","kubeconfig":"Configured"}`
	if string(data) != want {
		t.Errorf("status JSON = %s, want %s", data, want)
	}
}

func TestCheckUnchanged(t *testing.T) {
	p := testProfile("devk")
	tests := []struct {
		name string
		opts StartOptions
		want []string // substrings of the error; nil means no error
	}{
		{"no flags", StartOptions{Profile: "devk"}, nil},
		{"same values", StartOptions{Profile: "devk", CPUs: 2, MemoryMB: 4096, KubernetesVersion: "v1.34.4", APIServerPort: 32771}, nil},
		{"cpus", StartOptions{CPUs: 4}, []string{"--cpus 4 (profile has 2)"}},
		{"memory", StartOptions{MemoryMB: 8192}, []string{"--memory 8192m (profile has 4096m)"}},
		{"version", StartOptions{KubernetesVersion: "v1.33.6"}, []string{"--kubernetes-version v1.33.6 (profile has v1.34.4)"}},
		{"apiserver port", StartOptions{APIServerPort: 6443}, []string{"--apiserver-port 6443 (profile has 32771)"}},
		{"several", StartOptions{CPUs: 1, MemoryMB: 2048}, []string{"--cpus 1", "--memory 2048m", "devk delete -p devk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkUnchanged(p, tt.opts)
			if tt.want == nil {
				if err != nil {
					t.Errorf("checkUnchanged = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("checkUnchanged = %v, want ErrInvalid", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	got := withDefaults(StartOptions{Profile: "devk"})
	if got.CPUs != DefaultCPUs || got.MemoryMB != DefaultMemoryMB || got.KubernetesVersion != iso.DefaultKubernetesVersion {
		t.Errorf("withDefaults = %+v", got)
	}
	given := StartOptions{Profile: "devk", CPUs: 1, MemoryMB: 2048, KubernetesVersion: "v1.33.6"}
	if got := withDefaults(given); !(got.CPUs == 1 && got.MemoryMB == 2048 && got.KubernetesVersion == "v1.33.6") {
		t.Errorf("withDefaults overrode given values: %+v", got)
	}
}

func TestCheckPortsFree(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	busy := l.Addr().(*net.TCPAddr).Port
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	busyUDP := u.LocalAddr().(*net.UDPAddr).Port
	free, free2 := freePort(t), freePort(t)
	tests := []struct {
		name    string
		opts    StartOptions
		wantErr string // "" means accepted
	}{
		{"nothing asked", StartOptions{}, ""},
		{"free ports", StartOptions{APIServerPort: free, Ports: []driver.PortMapping{{HostPort: 0, NodePort: 80}}}, ""},
		{"busy apiserver port", StartOptions{APIServerPort: busy}, fmt.Sprintf("%d/tcp on 127.0.0.1 is already in use", busy)},
		{"busy extra port", StartOptions{Ports: []driver.PortMapping{{HostPort: busy, NodePort: 80, Protocol: "tcp"}}}, fmt.Sprintf("%d/tcp", busy)},
		{"busy udp port", StartOptions{Ports: []driver.PortMapping{{HostPort: busyUDP, NodePort: 53, Protocol: "udp"}}}, fmt.Sprintf("%d/udp", busyUDP)},
		{"a busy tcp port is free for udp", StartOptions{Ports: []driver.PortMapping{{HostPort: busy, NodePort: 53, Protocol: "udp"}}}, ""},
		{"one host port twice", StartOptions{Ports: []driver.PortMapping{{HostPort: free, NodePort: 30080}, {HostPort: free, NodePort: 30081}}}, fmt.Sprintf("%d/tcp is asked for twice", free)},
		{"apiserver port also in --ports", StartOptions{APIServerPort: free, Ports: []driver.PortMapping{{HostPort: free, NodePort: 30080}}}, "asked for twice"},
		{"same port, tcp and udp", StartOptions{Ports: []driver.PortMapping{{HostPort: free2, NodePort: 53}, {HostPort: free2, NodePort: 53, Protocol: "udp"}}}, ""},
	}
	for _, tt := range tests {
		err := checkPortsFree(tt.opts)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%s: checkPortsFree = %v, want nil", tt.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: checkPortsFree = %v, want ErrInvalid containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// testManager is a Manager over a fake driver, with the profile saved unless state is "".
type testEnv struct {
	m          *Manager
	drv        *fakeDriver
	node       *fakeNode
	images     *fakeImages
	report     *fakeReporter
	kubeconfig string
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	node := &fakeNode{ip: testNodeIP, hostPorts: map[int]int{APIServerPort: 32771, DockerPort: 32772}}
	e := &testEnv{
		drv:        &fakeDriver{node: node},
		node:       node,
		images:     &fakeImages{ref: "devk/node:test"},
		report:     &fakeReporter{},
		kubeconfig: filepath.Join(t.TempDir(), "kubeconfig"),
	}
	e.m = &Manager{Home: Home{Dir: t.TempDir()}, Driver: e.drv, Images: e.images, Report: e.report, Kubeconfig: e.kubeconfig}
	return e
}

func TestStop(t *testing.T) {
	tests := []struct {
		name      string
		noProfile bool
		state     driver.State
		wantErr   error
		wantCalls []string
	}{
		{"no profile", true, driver.StateRunning, ErrNoProfile, nil},
		{"node gone", false, driver.StateNonexistent, driver.ErrNotFound, nil},
		{"already stopped", false, driver.StateStopped, nil, nil},
		{"running", false, driver.StateRunning, nil, []string{"Stop"}},
		{"paused: thawed, workloads too (Node runs the thaw), then stopped", false, driver.StatePaused, nil, []string{"Unpause", "Node", "Stop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			if !tt.noProfile {
				if err := e.m.Home.Save(testProfile("devk")); err != nil {
					t.Fatal(err)
				}
			}
			e.drv.state = tt.state
			err := e.m.Stop(context.Background(), "devk")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Stop = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(e.drv.calls, tt.wantCalls) {
				t.Errorf("driver calls = %v, want %v", e.drv.calls, tt.wantCalls)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	for _, state := range []driver.State{driver.StateRunning, driver.StateStopped, driver.StateNonexistent} {
		t.Run(string(state), func(t *testing.T) {
			e := newTestEnv(t)
			e.drv.state = state
			if err := e.m.Home.Save(testProfile("devk")); err != nil {
				t.Fatal(err)
			}
			before := writeOtherKubeconfig(t, e.kubeconfig)
			if err := MergeKubeconfig(e.kubeconfig, "devk", "https://127.0.0.1:32771", []byte("ca"), fakeAdmin); err != nil {
				t.Fatal(err)
			}
			if err := e.m.Delete(context.Background(), "devk"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := os.Stat(e.m.Home.ProfileDir("devk")); !os.IsNotExist(err) {
				t.Errorf("profile folder kept: %v", err)
			}
			after := loadKubeconfig(t, e.kubeconfig)
			if _, ok := after.Contexts["devk"]; ok {
				t.Errorf("kubeconfig context kept")
			}
			assertOtherUnchanged(t, before, after)
			if !slices.Contains(e.drv.calls, "Delete") {
				t.Errorf("driver Delete not called: %v", e.drv.calls)
			}
			cleaned := slices.ContainsFunc(e.node.commands, func(c string) bool { return strings.Contains(c, "/devk-devk") })
			if cleaned != (state == driver.StateRunning) {
				t.Errorf("cgroup cleanup ran = %v for state %s (commands %v)", cleaned, state, e.node.commands)
			}
			// Deleting again (nothing left) is not an error.
			if err := e.m.Delete(context.Background(), "devk"); err != nil {
				t.Errorf("second Delete: %v", err)
			}
		})
	}
}

func TestStatusNotRunning(t *testing.T) {
	tests := []struct {
		name       string
		noProfile  bool
		state      driver.State
		server     string // server of the devk context in the kubeconfig; "" for none
		want       Status
		wantErr    error
		wantExit   int
		skipFields bool
	}{
		{name: "no profile", noProfile: true, wantErr: ErrNoProfile,
			want: Status{Name: "devk", Host: Nonexistent, Kubelet: Nonexistent, APIServer: Nonexistent, Kubeconfig: Nonexistent}, wantExit: 7},
		{name: "node gone", state: driver.StateNonexistent, server: "https://127.0.0.1:32771",
			want: Status{Name: "devk", Host: Nonexistent, Kubelet: Nonexistent, APIServer: Nonexistent, Kubeconfig: Configured, NodeIP: testNodeIP, Server: "https://127.0.0.1:32771"}, wantExit: 7},
		{name: "stopped", state: driver.StateStopped, server: "https://127.0.0.1:32771",
			want: Status{Name: "devk", Host: Stopped, Kubelet: Stopped, APIServer: Stopped, Kubeconfig: Configured, NodeIP: testNodeIP, Server: "https://127.0.0.1:32771"}, wantExit: 7},
		{name: "paused, stale kubeconfig", state: driver.StatePaused, server: "https://127.0.0.1:1",
			want: Status{Name: "devk", Host: Paused, Kubelet: Paused, APIServer: Paused, Kubeconfig: Misconfigured, NodeIP: testNodeIP, Server: "https://127.0.0.1:32771"}, wantExit: 7},
		{name: "error state, no kubeconfig", state: driver.StateError,
			want: Status{Name: "devk", Host: ErrorState, Kubelet: Nonexistent, APIServer: Nonexistent, Kubeconfig: Nonexistent, NodeIP: testNodeIP, Server: "https://127.0.0.1:32771"}, wantExit: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.drv.state = tt.state
			if !tt.noProfile {
				if err := e.m.Home.Save(testProfile("devk")); err != nil {
					t.Fatal(err)
				}
			}
			if tt.server != "" {
				if err := MergeKubeconfig(e.kubeconfig, "devk", tt.server, []byte("ca"), fakeAdmin); err != nil {
					t.Fatal(err)
				}
			}
			st, err := e.m.Status(context.Background(), "devk")
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Status error = %v, want %v", err, tt.wantErr)
			}
			if st != tt.want {
				t.Errorf("Status = %+v\nwant     %+v", st, tt.want)
			}
			if st.ExitCode() != tt.wantExit {
				t.Errorf("ExitCode = %d, want %d", st.ExitCode(), tt.wantExit)
			}
			if len(e.node.commands) != 0 {
				t.Errorf("Status ran commands in a node that is not running: %v", e.node.commands)
			}
		})
	}
}

// fakeAPIServer serves /readyz and a Ready node with the PKI's apiserver certificate and
// requires the admin client certificate, like the real one.
func fakeAPIServer(t *testing.T, pki *PKI) (*httptest.Server, *fakeApplies) {
	t.Helper()
	cert, err := tls.X509KeyPair(pki.Leaves[CertAPIServer].CertPEM, pki.Leaves[CertAPIServer].KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if cn := r.TLS.PeerCertificates[0].Subject.CommonName; cn != "devk-admin" {
			http.Error(w, "client "+cn, http.StatusForbidden)
			return
		}
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/api/v1/nodes/devk", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"kind":"Node","apiVersion":"v1","metadata":{"name":"devk"},"status":{"conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":%q}]}}`, time.Now().UTC().Format(time.RFC3339))
	})
	applies := &fakeApplies{}
	applies.register(mux)
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: certPool(pki.CA)}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, applies
}

// TestStartStatusStop drives a whole lifecycle against a fake driver and a fake API
// server: create, re-run on a running node, status, stop, restart.
func TestStartStatusStop(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	// The PKI is created first so the fake API server can present the apiserver certificate.
	pki := newTestPKI(t, e.m.Home.CertsDir("devk"), "devk", testNodeIP)
	srv, applies := fakeAPIServer(t, pki)
	apiPort := srv.Listener.Addr().(*net.TCPAddr).Port
	e.node.hostPorts[APIServerPort] = apiPort
	e.node.respond = func(cmdline string) (string, error) {
		switch cmdline {
		case "systemctl is-system-running":
			return "degraded", nil
		case "systemctl is-active kubelet":
			return "active", nil
		}
		return "", nil
	}
	extra := driver.PortMapping{HostPort: freePort(t), NodePort: 30080, Protocol: "tcp"}

	prof, err := e.m.Start(ctx, StartOptions{Profile: "devk", Ports: []driver.PortMapping{extra}})
	if err != nil {
		t.Fatalf("Start: %v\nreport: %v", err, e.report.events)
	}
	t.Run("profile", func(t *testing.T) {
		saved, err := e.m.Home.Load("devk")
		if err != nil {
			t.Fatal(err)
		}
		if saved.APIServerPort != apiPort || saved.DockerPort != 32772 || saved.NodeIP != testNodeIP || saved.NodeImage != "devk/node:test" ||
			saved.CPUs != DefaultCPUs || saved.MemoryMB != DefaultMemoryMB || saved.KubernetesVersion != iso.DefaultKubernetesVersion || saved.Driver != "docker" {
			t.Errorf("saved profile = %+v", saved)
		}
		if prof.APIServerPort != saved.APIServerPort {
			t.Errorf("returned profile differs from the saved one")
		}
	})
	t.Run("node spec", func(t *testing.T) {
		want := []driver.PortMapping{{NodePort: APIServerPort}, {NodePort: DockerPort}, extra}
		if !slices.Equal(e.drv.spec.Ports, want) {
			t.Errorf("ports = %+v, want %+v", e.drv.spec.Ports, want)
		}
		if e.drv.spec.Image != "devk/node:test" || e.drv.spec.Name != "devk" || e.drv.spec.CPUs != DefaultCPUs || e.drv.spec.MemoryMB != DefaultMemoryMB {
			t.Errorf("spec = %+v", e.drv.spec)
		}
		if !slices.Equal(e.images.ensured, []string{iso.DefaultKubernetesVersion}) {
			t.Errorf("images ensured: %v", e.images.ensured)
		}
	})
	t.Run("node files", func(t *testing.T) {
		want, err := NodeFiles(fakeNodeParams(), pki)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.node.files) != len(want)+1 { // plus the stamp of what was written
			t.Errorf("node got %d files, want %d", len(e.node.files), len(want)+1)
		}
		if _, ok := e.node.files[filesStamp]; !ok {
			t.Errorf("%s not written", filesStamp)
		}
		for _, f := range want {
			h, ok := e.node.files[f.Path]
			if !ok {
				t.Errorf("%s not written to the node", f.Path)
				continue
			}
			if h.Mode != f.Mode || string(e.node.contents[f.Path]) != string(f.Data) {
				t.Errorf("%s: mode %o (want %o) or content differs", f.Path, h.Mode, f.Mode)
			}
		}
	})
	t.Run("commands", func(t *testing.T) {
		restart := "systemctl restart --no-block " + strings.Join(Units, " ")
		order := []string{strings.Join(writeFilesArgv(nil), " "), "systemctl is-system-running", "systemctl daemon-reload", restart,
			"busybox nslookup -timeout=1 kubernetes.default.svc.cluster.local 10.96.0.10"}
		last := -1
		for _, c := range order {
			i := slices.Index(e.node.commands, c)
			if i < 0 || i < last {
				t.Errorf("command %q missing or out of order in %q", c, e.node.commands)
			}
			last = i
		}
	})
	t.Run("CoreDNS applied through the API", func(t *testing.T) {
		got := applies.list()
		want := "PATCH /apis/apps/v1/namespaces/kube-system/deployments/coredns?fieldManager=devk&force=true&timeout=10s"
		if !slices.Contains(got, want) || !slices.Contains(got, "PATCH /api/v1/namespaces/kube-system/services/kube-dns?fieldManager=devk&force=true&timeout=10s") {
			t.Errorf("applies %q lack the CoreDNS Deployment and Service", got)
		}
	})
	t.Run("kubeconfig", func(t *testing.T) {
		if got := KubeconfigServer(e.kubeconfig, "devk"); got != fmt.Sprintf("https://127.0.0.1:%d", apiPort) {
			t.Errorf("kubeconfig server = %q", got)
		}
		assertMode(t, e.kubeconfig, 0o600)
	})
	t.Run("report", func(t *testing.T) {
		var steps []string
		for i, ev := range e.report.events {
			if strings.HasPrefix(ev, "step ") {
				steps = append(steps, strings.TrimPrefix(ev, "step "))
				if i+1 >= len(e.report.events) || e.report.events[i+1] != "done" {
					t.Errorf("step %q not followed by a successful Done: %v", ev, e.report.events)
				}
			}
		}
		want := []string{"Preparing node image for Kubernetes " + iso.DefaultKubernetesVersion, "Creating node (docker)", "Booting node",
			"Configuring control plane", "Starting etcd, API server, controllers, kubelet and proxy", "Waiting for the API server",
			"Writing kubeconfig context devk", "Deploying CoreDNS", "Waiting for the node to be Ready", "Waiting for cluster DNS"}
		if !slices.Equal(steps, want) {
			t.Errorf("steps = %q\nwant    %q", steps, want)
		}
	})

	st, err := e.m.Status(ctx, "devk")
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	want := Status{Name: "devk", Host: Running, Kubelet: Running, APIServer: Running, Kubeconfig: Configured, NodeIP: testNodeIP, Server: fmt.Sprintf("https://127.0.0.1:%d", apiPort)}
	if st != want || st.ExitCode() != 0 {
		t.Errorf("Status = %+v (exit %d)\nwant     %+v", st, st.ExitCode(), want)
	}

	// Re-running start on a running cluster neither rebuilds nor recreates anything,
	// nor rewrites files; it revives units stopped behind devk's back.
	before := len(e.node.commands)
	if _, err := e.m.Start(ctx, StartOptions{Profile: "devk"}); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	if again := e.node.commands[before:]; slices.Contains(again, strings.Join(writeFilesArgv(nil), " ")) ||
		!slices.Contains(again, "systemctl start --no-block "+strings.Join(Units, " ")) {
		t.Errorf("start on a running node ran %q; want no file writes and the units started", again)
	}
	if n := strings.Count(strings.Join(e.drv.calls, ","), "Create"); n != 1 || len(e.images.ensured) != 1 {
		t.Errorf("second Start created %d nodes and ensured images %v", n, e.images.ensured)
	}
	// A changed flag on an existing profile is refused before the driver is asked anything.
	calls := len(e.drv.calls)
	if _, err := e.m.Start(ctx, StartOptions{Profile: "devk", CPUs: 1}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Start with a changed --cpus = %v, want ErrInvalid", err)
	}
	if got := e.drv.calls[calls:]; !slices.Equal(got, []string{"Preflight"}) {
		t.Errorf("driver calls after a refused start: %v", got)
	}

	if err := e.m.Stop(ctx, "devk"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if st, _ := e.m.Status(ctx, "devk"); st.Host != Stopped || st.ExitCode() != 7 {
		t.Errorf("Status after Stop = %+v", st)
	}
	before = len(e.node.commands)
	if _, err := e.m.Start(ctx, StartOptions{Profile: "devk"}); err != nil {
		t.Fatalf("Start of a stopped cluster: %v", err)
	}
	if !slices.Contains(e.drv.calls, "Start") {
		t.Errorf("a stopped node was not started: %v", e.drv.calls)
	}
	// Its configuration is unchanged, so its enabled units start at boot by themselves.
	for _, c := range e.node.commands[before:] {
		if strings.HasPrefix(c, "systemctl") || strings.HasPrefix(c, "tar") {
			t.Errorf("restart of an unchanged node ran %q", c)
		}
	}
}

// TestStartPreseededNode: a driver that places the configuration before boot gets a node
// whose units start by themselves, so start neither rewrites files nor calls systemctl.
func TestStartPreseededNode(t *testing.T) {
	e := newTestEnv(t)
	e.drv.preseed = true
	pki := newTestPKI(t, e.m.Home.CertsDir("devk"), "devk", testNodeIP)
	srv, _ := fakeAPIServer(t, pki)
	e.node.hostPorts[APIServerPort] = srv.Listener.Addr().(*net.TCPAddr).Port
	if _, err := e.m.Start(context.Background(), StartOptions{Profile: "devk"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range e.node.commands {
		if strings.HasPrefix(c, "systemctl") || strings.HasPrefix(c, "tar") {
			t.Errorf("start of a preseeded node ran %q", c)
		}
	}
	want, err := NodeFiles(fakeNodeParams(), pki)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range want {
		h, ok := e.node.files[f.Path]
		if !ok || h.Linkname != f.Link || string(e.node.contents[f.Path]) != string(f.Data) {
			t.Errorf("%s was not preseeded as NodeFiles says", f.Path)
		}
	}
}

func TestStartRefusesOtherDriver(t *testing.T) {
	e := newTestEnv(t)
	p := testProfile("devk")
	p.Driver = "podman"
	if err := e.m.Home.Save(p); err != nil {
		t.Fatal(err)
	}
	_, err := e.m.Start(context.Background(), StartOptions{Profile: "devk"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "podman") {
		t.Errorf("Start = %v, want ErrInvalid naming the podman driver", err)
	}
}

func TestStartNewProfileBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	e := newTestEnv(t)
	_, err = e.m.Start(context.Background(), StartOptions{Profile: "devk", APIServerPort: l.Addr().(*net.TCPAddr).Port})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("Start = %v, want ErrInvalid", err)
	}
	if _, err := e.m.Home.Load("devk"); !errors.Is(err, ErrNoProfile) {
		t.Errorf("a refused start saved the profile: %v", err)
	}
	if slices.Contains(e.drv.calls, "Create") || len(e.images.ensured) != 0 {
		t.Errorf("a refused start did work: calls %v, images %v", e.drv.calls, e.images.ensured)
	}
}

func TestStartImageFailure(t *testing.T) {
	e := newTestEnv(t)
	e.images.err = errors.New("build broke")
	_, err := e.m.Start(context.Background(), StartOptions{Profile: "devk"})
	if err == nil || !strings.Contains(err.Error(), "build broke") {
		t.Fatalf("Start = %v", err)
	}
	if slices.Contains(e.drv.calls, "Create") {
		t.Errorf("node created without an image")
	}
	if got := e.report.events; len(got) != 2 || got[1] != "fail build broke" {
		t.Errorf("report = %v, want the image step to fail", got)
	}
}

// fakeNodeParams are the node's parameters as start renders them with the fake driver:
// it reaches the node's network, so the default LoadBalancer range applies.
func fakeNodeParams() NodeParams {
	p := NewNodeParams("devk", testNodeIP)
	ip := netip.MustParseAddr(testNodeIP).As4()
	p.LBRange = fmt.Sprintf("%d.%d.%d.200-%d.%d.%d.254", ip[0], ip[1], ip[2], ip[0], ip[1], ip[2])
	return p
}

func TestLBRange(t *testing.T) {
	m := &Manager{Driver: &fakeDriver{}}
	if got := m.lbRange(&Profile{}, "192.168.58.3"); got != "192.168.58.200-192.168.58.254" {
		t.Errorf("default range %q", got)
	}
	if got := m.lbRange(&Profile{LBRange: "192.168.58.100-192.168.58.110"}, "192.168.58.3"); got != "192.168.58.100-192.168.58.110" {
		t.Errorf("a given range was replaced: %q", got)
	}
	tests := []struct {
		lbRange, nodeIP string
		ok              bool
	}{
		{"192.168.49.200-192.168.49.254", "192.168.49.2", true},
		{"", "192.168.49.2", true},
		{"192.168.50.200-192.168.50.254", "192.168.49.2", false}, // another network
		{"192.168.49.1-192.168.49.10", "192.168.49.2", false},    // holds the node
		{"192.168.49.250-192.168.50.10", "192.168.49.2", false},  // spills over
		{"192.168.49.210-192.168.49.200", "192.168.49.2", false}, // backwards
	}
	for _, tt := range tests {
		if err := checkLBRange(tt.lbRange, tt.nodeIP); (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("checkLBRange(%q, %s) = %v, want ok=%v", tt.lbRange, tt.nodeIP, err, tt.ok)
		}
	}
}

// TestCorruptProfile: every command that needs the profile refuses with ErrCorruptProfile
// and asks the driver to change nothing; delete removes the node and the folder.
func TestCorruptProfile(t *testing.T) {
	tests := []struct {
		name string
		run  func(m *Manager) error
	}{
		{"status", func(m *Manager) error { _, err := m.Status(context.Background(), "devk"); return err }},
		{"start", func(m *Manager) error {
			_, err := m.Start(context.Background(), StartOptions{Profile: "devk"})
			return err
		}},
		{"stop", func(m *Manager) error { return m.Stop(context.Background(), "devk") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.drv.state = driver.StateRunning
			if err := e.m.Home.Save(testProfile("devk")); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, filepath.Join(e.m.Home.ProfileDir("devk"), "config.json"), `{"name": "devk", "driv`)
			if err := tt.run(e.m); !errors.Is(err, ErrCorruptProfile) {
				t.Fatalf("%s = %v, want ErrCorruptProfile", tt.name, err)
			}
			for _, c := range e.drv.calls {
				if c != "Preflight" {
					t.Errorf("driver asked to %s for a corrupt profile", c)
				}
			}
		})
	}
	t.Run("delete", func(t *testing.T) {
		e := newTestEnv(t)
		e.drv.state = driver.StateRunning
		if err := e.m.Home.Save(testProfile("devk")); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(e.m.Home.ProfileDir("devk"), "config.json"), "\x00garbage")
		if err := e.m.Delete(context.Background(), "devk"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if !slices.Contains(e.drv.calls, "Delete") {
			t.Errorf("the node was not deleted: %v", e.drv.calls)
		}
		if _, err := os.Stat(e.m.Home.ProfileDir("devk")); !os.IsNotExist(err) {
			t.Errorf("profile folder kept: %v", err)
		}
	})
}

func TestMarkControlPlane(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"unlabelled node", map[string]string{"kubernetes.io/hostname": "devk"}},
		{"already labelled", map[string]string{ControlPlaneRole: ""}},
		{"no labels at all", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := k8sfake.NewSimpleClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "devk", Labels: tc.labels}})
			if err := markControlPlane(context.Background(), client, "devk"); err != nil {
				t.Fatal(err)
			}
			n, err := client.CoreV1().Nodes().Get(context.Background(), "devk", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := n.Labels[ControlPlaneRole]; !ok || v != "" {
				t.Errorf("labels = %v, want %s=\"\"", n.Labels, ControlPlaneRole)
			}
			for k, v := range tc.labels {
				if n.Labels[k] != v {
					t.Errorf("label %s changed to %q", k, n.Labels[k])
				}
			}
		})
	}
	if err := markControlPlane(context.Background(), k8sfake.NewSimpleClientset(), "devk"); err == nil {
		t.Error("a missing node was labelled without error")
	}
}

type cgroupV1Driver struct{ *fakeDriver }

func (cgroupV1Driver) HostCgroupV2() (bool, bool) { return false, true }

// A version that no longer runs on the host's cgroup v1 is refused before anything is
// created.
func TestStartRefusesVersionWithoutCgroupV1(t *testing.T) {
	e := newTestEnv(t)
	e.m.Driver = cgroupV1Driver{e.drv}
	_, err := e.m.Start(context.Background(), StartOptions{Profile: "devk", KubernetesVersion: "v1.38.0"})
	if !errors.Is(err, iso.ErrBadVersion) {
		t.Fatalf("Start = %v, want ErrBadVersion", err)
	}
	if slices.Contains(e.drv.calls, "Create") {
		t.Error("a node was created")
	}
	if _, err := e.m.Home.Load("devk"); !errors.Is(err, ErrNoProfile) {
		t.Errorf("a profile was saved: %v", err)
	}
}
