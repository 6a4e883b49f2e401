package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devk-dev/devk/driver"
	"github.com/devk-dev/devk/iso"
	"github.com/devk-dev/devk/iso/kube/lbpool"
)

// Reporter shows progress. Step starts a phase; Done ends the phase Step started last.
type Reporter interface {
	Step(name string)
	Done(err error)
}

// NodeImages provides the node image for a Kubernetes version, building it if needed.
type NodeImages interface {
	Ensure(ctx context.Context, kubernetesVersion string) (ref string, err error)
}

// AddonApplier enables a profile's addons (Profile.Addons) at the end of every Start.
type AddonApplier interface {
	// Defaults are the addons a new profile starts with, besides those asked for.
	Defaults() []string
	// Prepare makes the images of the profile's addons present in its running node.
	Prepare(ctx context.Context, node driver.Node, prof *Profile) error
	// Apply applies the addons' manifests through api; healthy returns once they are
	// healthy, or ctx ends. healthy reports no progress of its own: Start runs it
	// alongside its own waits.
	Apply(ctx context.Context, node driver.Node, api ManifestApplier, prof *Profile) (healthy func() error, err error)
}

// Manager runs cluster lifecycles for one driver.
type Manager struct {
	Home       Home
	Driver     driver.Driver
	Images     NodeImages
	Report     Reporter
	Kubeconfig string // the user's kubeconfig path
	// Addons, when set, are re-applied after CoreDNS on every start.
	Addons AddonApplier
	// DriverNamed, when set, gives the driver of a profile that uses another driver than
	// Driver (profile list shows every profile's own node).
	DriverNamed func(name string) (driver.Driver, error)
	// ImageCache, when set, is the shared image cache nodes pull through.
	ImageCache *ImageCache
	// Warn shows a problem that does not stop the command.
	Warn func(msg string)
}

// StartOptions are the user's choices; zero values mean "not given".
type StartOptions struct {
	Profile           string
	CPUs              int
	MemoryMB          int
	KubernetesVersion string
	APIServerPort     int
	Ports             []driver.PortMapping
	Addons            []string
	Mounts            []driver.Mount // host folders bound into the node for its life
	LBRange           string         // --lb-range; "" picks the default for the node's network
	// Registry settings; nil means "not given" (the profile keeps what it has).
	RegistryMirrors    []string
	InsecureRegistries []string
	ImageCache         *bool
	// Proxy is the proxy settings start found; ProxySet says whether the environment
	// had any (else the profile keeps its own).
	Proxy    ProxyEnv
	ProxySet bool
}

// How long start waits for the node to boot and for each component to be ready: a VM
// under software emulation (the qemu driver without KVM) takes minutes, a container
// seconds.
const (
	bootTimeout  = 5 * time.Minute
	readyTimeout = 5 * time.Minute
)

// Errors a user can act on; wrapped with details.
var (
	ErrTimeout    = errors.New("timed out")
	ErrNotRunning = errors.New("cluster is not running")
)

func (m *Manager) step(name string, fn func() error) error {
	m.Report.Step(name)
	err := fn()
	m.Report.Done(err)
	return err
}

// Start creates, restarts or re-checks the profile's cluster until DNS answers in it.
// It is safe to re-run after a failed or interrupted start. It runs startSteps in order.
func (m *Manager) Start(ctx context.Context, opts StartOptions) (*Profile, error) {
	unlock, err := m.Home.Lock(opts.Profile)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s := &startState{opts: opts}
	defer s.stop()
	for _, step := range m.startSteps() {
		if err := step.run(ctx, s); err != nil {
			return nil, err
		}
	}
	return s.prof, nil
}

// startState is what the steps of a start hand on to each other.
type startState struct {
	opts  StartOptions
	prof  *Profile
	state driver.State // of the node when start began
	node  driver.Node
	// Set by configure: the credentials, whether any node file changed, CoreDNS's manifest.
	pki *PKI
	// changed are the groups of node files that changed (see fileGroup).
	changed map[string]bool
	// net is what the node's files say about the network around it.
	net     nodeNet
	coreDNS []byte
	// readySince is when the node must have posted Ready after (zero: any Ready counts).
	readySince time.Time
	// Set by connect.
	client kubernetes.Interface
	api    *Applier
	// addonsHealthy reports the applied addons' health, watched while the node comes up.
	addonsHealthy chan error
	stopAddons    context.CancelFunc
}

func (s *startState) stop() {
	if s.stopAddons != nil {
		s.stopAddons()
	}
}

// startStep is one named step of a start; steps that a user sees report themselves.
type startStep struct {
	name string
	run  func(context.Context, *startState) error
}

// startSteps are the steps of a start, in order.
func (m *Manager) startSteps() []startStep {
	return []startStep{
		{"preflight", func(ctx context.Context, _ *startState) error { return m.Driver.Preflight(ctx) }},
		{"load profile", m.loadStartProfile},
		{"node image", m.ensureNodeImage},
		{"proxy", m.proxyStep},
		{"image cache", m.startImageCache},
		{"provision node", m.provisionNode},
		{"boot node", m.bootNode},
		{"disk space", m.checkDisk},
		{"restore certificates", m.restoreCertificates},
		{"configure", m.configureNode},
		{"start units", m.startUnits},
		{"connect", m.connectStart},
		{"API server", func(ctx context.Context, s *startState) error {
			return m.step("Waiting for the API server", func() error { return waitAPIServer(ctx, s.client, readyTimeout) })
		}},
		{"kubeconfig", func(ctx context.Context, s *startState) error {
			return m.step("Writing kubeconfig context "+s.prof.Name, func() error {
				return MergeKubeconfig(m.Kubeconfig, s.prof.Name, s.prof.Server(), s.pki.CA.CertPEM, s.pki.Leaves[CertAdmin])
			})
		}},
		{"CoreDNS", func(ctx context.Context, s *startState) error {
			return m.step("Deploying CoreDNS", func() error { return s.api.Apply(ctx, s.coreDNS, "devk") })
		}},
		{"apply addons", m.applyAddons},
		{"node Ready", m.waitReady},
		{"DNS", func(ctx context.Context, s *startState) error {
			return m.step("Waiting for cluster DNS", func() error { return waitDNS(ctx, s.node, readyTimeout) })
		}},
		{"addons healthy", func(ctx context.Context, s *startState) error {
			if len(s.prof.Addons) == 0 {
				return nil
			}
			return m.step("Waiting for addons "+strings.Join(s.prof.Addons, ", "), func() error { return <-s.addonsHealthy })
		}},
	}
}

// checkHostCgroup refuses, before anything is created, a version the host's cgroup
// version cannot run (a driver whose nodes share the host's cgroups).
func (m *Manager) checkHostCgroup(version string) error {
	host, ok := m.Driver.(driver.CgroupHost)
	if !ok {
		return nil
	}
	v2, known := host.HostCgroupV2()
	if !known {
		return nil
	}
	r, err := iso.NewRecipe(version)
	if err != nil {
		return err
	}
	return r.CheckHostCgroup(v2)
}

// loadStartProfile loads the profile, or makes a new one from the options (checking its
// host ports first), and reads the node's state.
func (m *Manager) loadStartProfile(ctx context.Context, s *startState) error {
	opts := s.opts
	if err := m.checkNotRestoring(opts.Profile); err != nil {
		return err
	}
	if err := m.checkRegistryOptions(opts); err != nil {
		return err
	}
	prof, err := m.Home.Load(opts.Profile)
	switch {
	case errors.Is(err, ErrNoProfile):
		opts = withDefaults(opts)
		if err := checkPortsFree(opts); err != nil {
			return err
		}
		if err := m.checkHostCgroup(opts.KubernetesVersion); err != nil {
			return err
		}
		prof = &Profile{
			Name: opts.Profile, Driver: m.Driver.Name(), CPUs: opts.CPUs, MemoryMB: opts.MemoryMB,
			KubernetesVersion: opts.KubernetesVersion, APIServerPort: opts.APIServerPort,
			Ports: opts.Ports, Addons: opts.Addons, Mounts: opts.Mounts, LBRange: opts.LBRange, Created: time.Now().UTC(),
		}
		applyRegistryOptions(prof, opts)
		if m.Addons != nil {
			prof.Addons = appendNew(m.Addons.Defaults(), opts.Addons...)
		}
	case err != nil:
		return err
	default:
		if err := checkUnchanged(prof, opts); err != nil {
			return err
		}
		prof.Addons = appendNew(prof.Addons, opts.Addons...) // --addons adds to what is enabled
		applyRegistryOptions(prof, opts)                     // applied to the node at every start
	}
	if prof.Driver != m.Driver.Name() {
		return fmt.Errorf("%w: profile %s uses the %s driver; delete it to change drivers", ErrInvalid, prof.Name, prof.Driver)
	}
	s.prof = prof
	s.state, err = m.Driver.State(ctx, prof.Name)
	return err
}

// ensureNodeImage builds or finds the node image a new node needs, then saves the
// profile before anything is created, so a failed start can be re-run or deleted.
func (m *Manager) ensureNodeImage(ctx context.Context, s *startState) error {
	if s.state == driver.StateNonexistent || s.prof.NodeImage == "" {
		if err := m.step("Preparing node image for Kubernetes "+s.prof.KubernetesVersion, func() (err error) {
			s.prof.NodeImage, err = m.Images.Ensure(ctx, s.prof.KubernetesVersion)
			return err
		}); err != nil {
			return err
		}
	}
	return m.Home.Save(s.prof)
}

// provisionNode creates, starts or unpauses the node, and records its endpoints.
func (m *Manager) provisionNode(ctx context.Context, s *startState) error {
	prof := s.prof
	var err error
	switch s.state {
	case driver.StateNonexistent:
		err = m.step("Creating node ("+m.Driver.Name()+")", func() (err error) {
			s.node, err = m.Driver.Create(ctx, m.nodeSpec(prof, s.net))
			return err
		})
	case driver.StateStopped, driver.StateError:
		err = m.step("Starting stopped node", func() error { return m.Driver.Start(ctx, prof.Name) })
	case driver.StatePaused:
		err = m.step("Unpausing node", func() error { return m.unpause(ctx, prof.Name) })
	}
	if err != nil {
		return err
	}
	if s.node == nil {
		if s.node, err = m.Driver.Node(ctx, prof.Name); err != nil {
			return err
		}
	}
	if err := m.fillEndpoints(ctx, prof, s.node); err != nil {
		return err
	}
	prof.LBRange = m.lbRange(prof, prof.NodeIP)
	if err := checkLBRange(prof.LBRange, prof.NodeIP); err != nil {
		return err
	}
	return m.Home.Save(prof)
}

// checkRegistryOptions refuses registry and proxy settings a node could not use, before
// anything changes.
func (m *Manager) checkRegistryOptions(opts StartOptions) error {
	for _, u := range opts.RegistryMirrors {
		if err := ValidateMirror(u); err != nil {
			return err
		}
	}
	for _, h := range opts.InsecureRegistries {
		if err := ValidateInsecureRegistry(h); err != nil {
			return err
		}
	}
	if err := opts.Proxy.Validate(); err != nil {
		return err
	}
	if m.ImageCache != nil {
		if _, err := m.ImageCache.Upstreams(); err != nil {
			return err
		}
	}
	return nil
}

// applyRegistryOptions records the registry settings start was given.
func applyRegistryOptions(prof *Profile, opts StartOptions) {
	if opts.RegistryMirrors != nil {
		prof.RegistryMirrors = opts.RegistryMirrors
	}
	if opts.InsecureRegistries != nil {
		prof.InsecureRegistries = opts.InsecureRegistries
	}
	if opts.ImageCache != nil {
		prof.NoImageCache = !*opts.ImageCache
	}
	if opts.ProxySet {
		prof.Proxy = opts.Proxy
	}
}

// startImageCache starts the shared image cache the node pulls through. A cache that
// cannot start is a warning, not a failure: the node then pulls directly.
func (m *Manager) startImageCache(ctx context.Context, s *startState) error {
	if m.ImageCache == nil || s.prof.NoImageCache {
		return nil
	}
	err := m.step("Starting the shared image cache", func() (err error) {
		s.net.cacheURLs, err = m.ensureImageCache(ctx, s.prof, s.net.direct())
		return err
	})
	if err != nil && ctx.Err() == nil {
		if m.Warn != nil {
			m.warn(fmt.Sprintf("the shared image cache did not start, so the node pulls images directly: %v (disable it with `devk start --image-cache=false`)", err))
		}
		return nil
	}
	return err
}

// checkLBRange refuses a LoadBalancer range the host could not reach through the node:
// outside the node's /24, or holding the node's own address.
func checkLBRange(lbRange, nodeIP string) error {
	if lbRange == "" {
		return nil
	}
	r, err := lbpool.ParseRange(lbRange)
	if err != nil {
		return fmt.Errorf("%w: --lb-range: %v", ErrInvalid, err)
	}
	ip, err := netip.ParseAddr(nodeIP)
	if err != nil {
		return nil // no node address yet: nothing to check against
	}
	subnet := netip.PrefixFrom(ip, 24).Masked()
	if !subnet.Contains(r.First) || !subnet.Contains(r.Last) || r.Contains(ip) {
		return fmt.Errorf("%w: --lb-range %s must lie in the node's network %s and leave out the node's address %s; delete the profile and start it with another range", ErrInvalid, lbRange, subnet, ip)
	}
	return nil
}

// nodeSpec is the profile's node. A node that boots with its configuration (preseeded)
// starts the control plane at once: no reload and restart of systemd units after boot.
func (m *Manager) nodeSpec(prof *Profile, nn nodeNet) driver.NodeSpec {
	ports := []driver.PortMapping{{HostPort: prof.APIServerPort, NodePort: APIServerPort}, {HostPort: prof.DockerPort, NodePort: DockerPort}}
	return driver.NodeSpec{
		Name: prof.Name, Profile: prof.Name, Image: prof.NodeImage, CPUs: prof.CPUs, MemoryMB: prof.MemoryMB,
		Ports: append(ports, prof.Ports...), Mounts: prof.Mounts, CgroupRoot: NewNodeParams(prof.Name, "").CgroupRoot,
		Preseed: func(nodeIP string) ([]byte, error) {
			_, files, err := m.nodeConfig(prof, nodeIP, nn)
			if err != nil {
				return nil, err
			}
			archive, _, err := nodeFilesArchive(files)
			return archive, err
		},
	}
}

// bootNode waits until the node runs commands: files go in then, which needs no
// systemd, so it overlaps the rest of the boot.
func (m *Manager) bootNode(ctx context.Context, s *startState) error {
	return m.step("Booting node", func() error { return waitExec(ctx, s.node) })
}

// restoreCertificates restores certificates lost or damaged on the host from the node's
// copy, so the cluster keeps its CA and every token stays valid.
func (m *Manager) restoreCertificates(ctx context.Context, s *startState) error {
	if s.state == driver.StateNonexistent {
		return nil // a new node gets its certificates from the host
	}
	why := CheckPKI(m.Home.CertsDir(s.prof.Name))
	if why == nil {
		return nil
	}
	return m.step("Restoring the cluster's certificates from the node", func() error {
		return m.restorePKI(ctx, s.node, s.prof.Name, why)
	})
}

// configureNode writes the node's files (configuration, units, certificates) where they
// differ from what it has.
func (m *Manager) configureNode(ctx context.Context, s *startState) error {
	return m.step("Configuring control plane", func() error {
		var files []NodeFile
		var err error
		if s.pki, files, err = m.nodeConfig(s.prof, s.prof.NodeIP, s.net); err != nil {
			return err
		}
		for _, f := range files {
			if f.Path == CoreDNSManifest {
				s.coreDNS = f.Data
			}
		}
		s.changed, err = writeNodeFiles(ctx, s.node, files)
		return err
	})
}

// startUnits tells systemd to (re)start the components where needed. A node that just
// booted with the configuration it already had starts its enabled units by itself.
func (m *Manager) startUnits(ctx context.Context, s *startState) error {
	// A node that was just created or restarted must post a fresh Ready; a running one
	// keeps the condition it has (the kubelet re-posts only on change), and so does a
	// paused one, whose kubelet re-posts only on change or every 5 minutes: what it
	// reports now is what counts.
	if s.state != driver.StateRunning && s.state != driver.StatePaused {
		s.readySince = time.Now()
	}
	restartUnits := s.changed[groupControlPlane]
	if !restartUnits && !s.changed[groupContainerd] && !s.changed[groupDocker] && s.state != driver.StateRunning {
		return nil // nothing changed, or only what containerd reads at each pull
	}
	return m.step("Starting etcd, API server, controllers, kubelet and proxy", func() error {
		if err := waitSystemd(ctx, s.node); err != nil {
			return err
		}
		if restartUnits || s.changed[groupContainerd] || s.changed[groupDocker] {
			// New configuration (the units' enable links came with it): units already
			// running from the files before must restart to take it.
			if _, err := driver.Output(ctx, s.node, "systemctl", "daemon-reload"); err != nil {
				return err
			}
		}
		if s.changed[groupContainerd] { // its pods' containers keep running meanwhile
			if _, err := driver.Output(ctx, s.node, "systemctl", "try-restart", "containerd"); err != nil {
				return err
			}
		}
		// A running node's units are revived if something stopped them behind devk's
		// back. --no-block: the waits that follow check what matters, and systemd
		// otherwise holds the command until the whole boot (image preloading included)
		// has finished.
		verb := []string{"systemctl", "start", "--no-block"}
		units := Units
		switch {
		case restartUnits:
			verb = []string{"systemctl", "restart", "--no-block"}
			if s.state == driver.StateRunning {
				// Booted long ago: nothing to wait for but the restart itself, and without
				// waiting the old API server would answer the waits that follow.
				verb = []string{"systemctl", "restart"}
			}
		case s.changed[groupDocker]:
			// dockerd (on demand through its socket) takes its new flags when next used.
			if _, err := driver.Output(ctx, s.node, "systemctl", "restart", "--no-block", "docker.socket"); err != nil {
				return err
			}
		}
		_, err := driver.Output(ctx, s.node, append(verb, units...)...)
		return err
	})
}

// connectStart makes the API clients start uses from here on.
func (m *Manager) connectStart(ctx context.Context, s *startState) error {
	cfg, err := AdminConfig(s.prof.Server(), s.pki)
	if err != nil {
		return err
	}
	if s.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	s.api, err = NewApplier(cfg)
	return err
}

// applyAddons applies the profile's addons before the waits, so their pods start
// alongside CoreDNS, and watches their health while the node and DNS come up.
func (m *Manager) applyAddons(ctx context.Context, s *startState) error {
	s.addonsHealthy = make(chan error, 1)
	if m.Addons == nil || len(s.prof.Addons) == 0 {
		s.addonsHealthy <- nil
		return nil
	}
	// Images first (not while the node boots: the check would wait on containerd and
	// compete with the API server for the CPU, which measured slower).
	if err := m.Addons.Prepare(ctx, s.node, s.prof); err != nil {
		return err
	}
	var addonsCtx context.Context
	addonsCtx, s.stopAddons = context.WithCancel(ctx)
	healthy, err := m.Addons.Apply(addonsCtx, s.node, s.api, s.prof)
	if err != nil {
		return err
	}
	go func() { s.addonsHealthy <- healthy() }()
	return nil
}

// waitReady waits for node Ready (posted after readySince).
func (m *Manager) waitReady(ctx context.Context, s *startState) error {
	return m.step("Waiting for the node to be Ready", func() error {
		if err := waitNodeReady(ctx, s.client, s.prof.Name, s.readySince, readyTimeout); err != nil {
			return err
		}
		return markControlPlane(ctx, s.client, s.prof.Name)
	})
}

// ControlPlaneRole is the label that shows the node as the control plane (ROLES in
// `kubectl get nodes`), as kubeadm, kind and minikube label theirs. The kubelet may not
// set it itself. The node keeps no taint: it runs the workloads too.
const ControlPlaneRole = "node-role.kubernetes.io/control-plane"

// markControlPlane labels the node as the control plane, if it is not yet.
func markControlPlane(ctx context.Context, client kubernetes.Interface, name string) error {
	n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read node %s: %w", name, err)
	}
	if _, ok := n.Labels[ControlPlaneRole]; ok {
		return nil
	}
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:""}}}`, ControlPlaneRole)
	if _, err := client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("label node %s as the control plane: %w", name, err)
	}
	return nil
}

// restorePKI restores the profile's certificates from the node (see restorePKI).
func (m *Manager) restorePKI(ctx context.Context, node driver.Node, profile string, why error) error {
	dir := m.Home.CertsDir(profile)
	err := restorePKI(dir, func(name string) ([]byte, error) {
		rc, err := node.CopyFrom(ctx, PKIDir+"/"+name)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	})
	if err != nil {
		return fmt.Errorf("the cluster's certificates in %s are unusable (%v) and the node has no usable copy (%v); remove the cluster with `devk delete -p %s` and start a new one", dir, why, err, profile)
	}
	return nil
}

// nodeConfig is the profile's PKI (issued on first use) and every file its node needs.
func (m *Manager) nodeConfig(prof *Profile, nodeIP string, nn nodeNet) (*PKI, []NodeFile, error) {
	pki, err := LoadOrCreatePKI(m.Home.CertsDir(prof.Name), prof.Name, nodeIP)
	if err != nil {
		return nil, nil, err
	}
	params := NewNodeParams(prof.Name, nodeIP)
	params.LBRange = m.lbRange(prof, nodeIP)
	params.ProxyMode = ProxyModeFor(prof.KubernetesVersion)
	params.Registries = RegistryConfig{Cache: nn.cacheURLs, Mirrors: prof.RegistryMirrors, Insecure: prof.InsecureRegistries}
	if !prof.Proxy.IsZero() {
		params.Proxy = prof.Proxy.Seen(nn.hostAddr, nodeNoProxy(params, nn)...)
	}
	files, err := NodeFiles(params, pki)
	return pki, files, err
}

// lbRange is the profile's LoadBalancer range: the one it was given, else the top of the
// node's /24 (.200-.254, which the docker driver never gives a node), else none where the
// host cannot reach the node's network (a driver that forwards ports instead).
func (m *Manager) lbRange(prof *Profile, nodeIP string) string {
	if prof.LBRange != "" {
		return prof.LBRange
	}
	if _, forwards := m.Driver.(driver.PortForwarder); forwards {
		return ""
	}
	ip, err := netip.ParseAddr(nodeIP)
	if err != nil || !ip.Is4() {
		return ""
	}
	b := ip.As4()
	return fmt.Sprintf("%d.%d.%d.200-%d.%d.%d.254", b[0], b[1], b[2], b[0], b[1], b[2])
}

// appendNew appends the names list lacks, keeping order.
func appendNew(list []string, names ...string) []string {
	out := slices.Clone(list)
	for _, n := range names {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Defaults of a new profile.
const (
	DefaultCPUs     = 2
	DefaultMemoryMB = 4096
)

func withDefaults(o StartOptions) StartOptions {
	if o.CPUs == 0 {
		o.CPUs = DefaultCPUs
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = DefaultMemoryMB
	}
	if o.KubernetesVersion == "" {
		o.KubernetesVersion = iso.DefaultKubernetesVersion
	}
	return o
}

// checkPortsFree rejects host ports something already listens on, before anything is created.
func checkPortsFree(o StartOptions) error {
	var taken, twice []string
	seen := map[string]bool{}
	for _, p := range append([]driver.PortMapping{{HostPort: o.APIServerPort}}, o.Ports...) {
		if p.HostPort == 0 {
			continue
		}
		proto := p.Protocol
		if proto == "" {
			proto = "tcp"
		}
		key := fmt.Sprintf("%d/%s", p.HostPort, proto)
		if seen[key] {
			twice = append(twice, key)
			continue
		}
		seen[key] = true
		addr := fmt.Sprintf("127.0.0.1:%d", p.HostPort)
		if proto == "udp" {
			c, err := net.ListenPacket("udp", addr)
			if err != nil {
				taken = append(taken, key)
				continue
			}
			c.Close()
			continue
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			taken = append(taken, key)
			continue
		}
		l.Close()
	}
	if len(twice) > 0 {
		return fmt.Errorf("%w: host port %s is asked for twice (--apiserver-port and --ports share the host's ports); give each mapping its own host port", ErrInvalid, strings.Join(twice, ", "))
	}
	if len(taken) > 0 {
		return fmt.Errorf("%w: host port %s on 127.0.0.1 is already in use; pick another port or stop what uses it", ErrInvalid, strings.Join(taken, ", "))
	}
	return nil
}

// checkUnchanged rejects flags that would change a profile that already exists.
func checkUnchanged(p *Profile, o StartOptions) error {
	var diffs []string
	if o.KubernetesVersion != "" && o.KubernetesVersion != p.KubernetesVersion {
		diffs = append(diffs, fmt.Sprintf("--kubernetes-version %s (profile has %s)", o.KubernetesVersion, p.KubernetesVersion))
	}
	if o.CPUs != 0 && o.CPUs != p.CPUs {
		diffs = append(diffs, fmt.Sprintf("--cpus %d (profile has %d)", o.CPUs, p.CPUs))
	}
	if o.MemoryMB != 0 && o.MemoryMB != p.MemoryMB {
		diffs = append(diffs, fmt.Sprintf("--memory %dm (profile has %dm)", o.MemoryMB, p.MemoryMB))
	}
	if o.APIServerPort != 0 && o.APIServerPort != p.APIServerPort {
		diffs = append(diffs, fmt.Sprintf("--apiserver-port %d (profile has %d)", o.APIServerPort, p.APIServerPort))
	}
	if len(o.Ports) > 0 && !slices.Equal(o.Ports, p.Ports) {
		diffs = append(diffs, "--ports (published ports are fixed when the node is created)")
	}
	if o.LBRange != "" && o.LBRange != p.LBRange {
		diffs = append(diffs, fmt.Sprintf("--lb-range %s (profile has %s)", o.LBRange, p.LBRange))
	}
	if len(o.Mounts) > 0 && !slices.Equal(o.Mounts, p.Mounts) {
		diffs = append(diffs, "--mount-string (mounts are fixed when the node is created; `devk mount` adds one to a running cluster)")
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: profile %s exists and cannot change %s; run `devk delete -p %s` first to recreate it", ErrInvalid, p.Name, strings.Join(diffs, ", "), p.Name)
	}
	return nil
}

func (m *Manager) fillEndpoints(ctx context.Context, prof *Profile, node driver.Node) error {
	var err error
	if prof.APIServerPort, err = node.HostPort(ctx, APIServerPort); err != nil {
		return err
	}
	if prof.DockerPort, err = node.HostPort(ctx, DockerPort); err != nil {
		return err
	}
	prof.NodeIP, err = node.IP(ctx)
	return err
}

// waitExec waits until the node runs commands: at once for a container, once SSH
// answers for a virtual machine.
func waitExec(ctx context.Context, node driver.Node) error {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	for {
		_, err := driver.Output(ctx, node, "true")
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w waiting for the node to run commands (%v); see `devk logs`", ErrTimeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitSystemd waits until the node's systemd manages units. It does not wait for the
// whole boot: the control plane's units order themselves after what they need, and
// starting them while the rest of the boot finishes saves seconds.
func waitSystemd(ctx context.Context, node driver.Node) error {
	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	var last string
	for {
		out, _ := driver.Output(ctx, node, "systemctl", "is-system-running")
		switch out {
		case "starting", "running", "degraded":
			return nil
		}
		last = out
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w waiting for systemd in the node (state %q); see `devk logs`", ErrTimeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// filesStamp records in the node which configuration it has, per file group, so an
// unchanged restart skips rewriting files and reloading systemd, and a change restarts
// only what reads the changed files.
const filesStamp = "/etc/kubernetes/.devk-files.sha256"

// File groups: what must restart when a group's files change.
const (
	groupControlPlane = "control-plane" // the Units
	groupContainerd   = "containerd"
	groupDocker       = "docker"
	groupRegistries   = "registries" // hosts.toml: containerd reads them at each pull
)

// fileGroup is the group of a node file.
func fileGroup(path string) string {
	switch {
	case strings.HasPrefix(path, RegistriesDir+"/"):
		return groupRegistries
	case path == iso.ContainerdConfigPath || path == proxyDropInPath("containerd"):
		return groupContainerd
	case strings.HasPrefix(path, "/etc/systemd/system/docker.") || strings.HasPrefix(path, "/etc/docker/"):
		return groupDocker
	}
	return groupControlPlane
}

// writeNodeFiles copies every file in one tar stream (one round trip, not one per file)
// unless the node already has exactly these files. It reports the groups that changed:
// all of them where the node's stamp is missing or from an older devk.
func writeNodeFiles(ctx context.Context, node driver.Node, files []NodeFile) (map[string]bool, error) {
	archive, stamp, err := nodeFilesArchive(files)
	if err != nil {
		return nil, err
	}
	have, _ := driver.Output(ctx, node, "cat", filesStamp)
	if have == stamp {
		return nil, nil
	}
	var hosts []string
	for _, f := range files {
		if fileGroup(f.Path) == groupRegistries {
			hosts = append(hosts, filepath.Base(filepath.Dir(f.Path)))
		}
	}
	if err := node.Exec(ctx, writeFilesArgv(hosts), driver.ExecOptions{Stdin: bytes.NewReader(archive)}); err != nil {
		return nil, fmt.Errorf("write configuration into the node: %w", err)
	}
	before, after := parseStamp(have), parseStamp(stamp)
	changed := map[string]bool{}
	for group, sum := range after {
		if group != "all" && before[group] != sum {
			changed[group] = true
		}
	}
	return changed, nil
}

// parseStamp reads "group=hash ..." (an older devk's stamp, a bare hash, gives nothing).
func parseStamp(stamp string) map[string]string {
	out := map[string]string{}
	for _, field := range strings.Fields(stamp) {
		if group, sum, ok := strings.Cut(field, "="); ok {
			out[group] = sum
		}
	}
	return out
}

// writeFilesArgv extracts the node files, then removes the hosts.toml files devk wrote
// for registries no longer configured (hosts are the ones it has now); files a user put
// beside them (a registry's ca.crt) stay.
func writeFilesArgv(hosts []string) []string {
	script := `tar -x --no-same-owner -C / || exit $?
cd ` + RegistriesDir + ` 2>/dev/null || exit 0
for f in */hosts.toml; do
  [ -e "$f" ] || continue
  h=${f%/hosts.toml}; keep=
  for k in "$@"; do [ "$k" = "$h" ] && keep=1; done
  [ -z "$keep" ] && grep -q '^# Written by devk' "$f" && rm -f "$f" && rmdir "$h" 2>/dev/null
done
exit 0`
	return append([]string{"sh", "-c", script, "sh"}, hosts...)
}

// nodeFilesArchive is the tar archive of files plus filesStamp, which records a hash of
// the whole archive and of each file group.
func nodeFilesArchive(files []NodeFile) (archive []byte, stamp string, err error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	groups := map[string]hash.Hash{}
	for _, f := range files {
		h := &tar.Header{Name: strings.TrimPrefix(f.Path, "/"), Mode: f.Mode, Size: int64(len(f.Data)), ModTime: time.Unix(0, 0)}
		if f.Link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, f.Link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, "", err
		}
		g := fileGroup(f.Path)
		if groups[g] == nil {
			groups[g] = sha256.New()
		}
		fmt.Fprintf(groups[g], "%s\x00%o\x00%s\x00%d\x00", f.Path, f.Mode, f.Link, len(f.Data))
		groups[g].Write(f.Data)
	}
	sum := sha256.Sum256(buf.Bytes())
	fields := []string{"all=" + hex.EncodeToString(sum[:])}
	for _, g := range slices.Sorted(maps.Keys(groups)) {
		fields = append(fields, g+"="+hex.EncodeToString(groups[g].Sum(nil)))
	}
	stamp = strings.Join(fields, " ")
	if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(filesStamp, "/"), Mode: 0o644, Size: int64(len(stamp)), ModTime: time.Unix(0, 0)}); err != nil {
		return nil, "", err
	}
	if _, err := tw.Write([]byte(stamp)); err != nil {
		return nil, "", err
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), stamp, nil
}

// AdminConfig is the client configuration for the cluster with the admin credentials.
func AdminConfig(server string, pki *PKI) (*rest.Config, error) {
	data, err := clientcmd.Write(*Kubeconfig("devk", "devk-admin", server, pki.CA.CertPEM, pki.Leaves[CertAdmin]))
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 10 * time.Second
	// devk's requests are few and it waits on them: no client-side throttling.
	cfg.QPS, cfg.Burst = 100, 200
	return cfg, nil
}

// APIServerReady asks /readyz.
func APIServerReady(ctx context.Context, client kubernetes.Interface) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var status int
	body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).StatusCode(&status).Raw()
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("readyz: %d %s", status, body)
	}
	return nil
}

func poll(parent context.Context, timeout time.Duration, what string, check func() error) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			if parent.Err() != nil { // interrupted, not timed out
				return fmt.Errorf("waiting for %s: %w", what, parent.Err())
			}
			return fmt.Errorf("%w after %s waiting for %s: %v", ErrTimeout, timeout, what, err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func waitAPIServer(ctx context.Context, client kubernetes.Interface, timeout time.Duration) error {
	return poll(ctx, timeout, "the API server", func() error { return APIServerReady(ctx, client) })
}

// waitNodeReady waits for a Ready condition the kubelet posted after since: after a
// restart the stored condition still says Ready from before the stop.
func waitNodeReady(ctx context.Context, client kubernetes.Interface, name string, since time.Time, timeout time.Duration) error {
	return poll(ctx, timeout, "node "+name+" to be Ready", func() error {
		n, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue && !c.LastHeartbeatTime.Time.Before(since.Truncate(time.Second)) {
					return nil
				}
				return fmt.Errorf("%s: %s", c.Reason, c.Message)
			}
		}
		return errors.New("no Ready condition yet")
	})
}

// waitDNS asks the cluster DNS Service from the node, which checks CoreDNS, its Service
// and kube-proxy's rules at once.
func waitDNS(ctx context.Context, node driver.Node, timeout time.Duration) error {
	return poll(ctx, timeout, "cluster DNS to answer", func() error {
		_, err := driver.Output(ctx, node, "busybox", "nslookup", "-timeout=1", "kubernetes.default.svc.cluster.local", DNSIP)
		return err
	})
}
