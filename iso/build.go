package iso

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/version"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/modfile"
)

// Errors a user can act on.
var (
	ErrBadVersion     = errors.New("invalid Kubernetes version")
	ErrUnknownVersion = errors.New("unknown Kubernetes version")
	ErrMissingTool    = errors.New("a tool the node image build needs is missing")
	ErrBuildFailed    = errors.New("node image build failed")
)

// Reporter shows progress: Step starts a phase, Done ends the last one started.
type Reporter interface {
	Step(name string)
	Done(err error)
}

// Engine is what the builder needs from the container engine.
type Engine interface {
	// ImageRecipe returns the recipe label of a local image, or "" if the image is absent.
	ImageRecipe(ctx context.Context, ref string) (string, error)
	// LoadImage loads a docker-archive stream into the engine.
	LoadImage(ctx context.Context, archive io.Reader) error
}

// Builder builds node images, caching every intermediate artifact by content under CacheDir.
type Builder struct {
	Engine   Engine
	CacheDir string
	// Report shows the build's phases; nil means quiet.
	Report Reporter
	// Log receives the output of the tools the build runs (mmdebstrap, go); nil means
	// a log file in CacheDir.
	Log     io.Writer
	logPath string
	// VM makes Ensure provide the VM files' folder (for the qemu driver) instead of the
	// container image.
	VM bool
	// Mirror is the Debian mirror; empty means the one in the host's apt sources, else
	// DefaultDebianMirror.
	Mirror string
	// Programs are the addon images the node image carries.
	Programs Programs
}

// Ensure returns the node image for a Kubernetes version, building it if the engine lacks it.
func (b *Builder) Ensure(ctx context.Context, kubernetesVersion string) (string, error) {
	r, err := b.Recipe(kubernetesVersion)
	if err != nil {
		return "", err
	}
	if b.VM {
		files, err := b.EnsureVM(ctx, kubernetesVersion)
		return filepath.Dir(files.Disk), err
	}
	tag, _, err := b.EnsureRecipe(ctx, r)
	return tag, err
}

// Recipe is the node image of a Kubernetes version with the builder's programs.
func (b *Builder) Recipe(kubernetesVersion string) (Recipe, error) {
	r, err := NewRecipe(kubernetesVersion)
	r.Programs = b.Programs
	return r, err
}

// EnsureRecipe returns the tag of the recipe's node image, building it if the engine lacks it.
func (b *Builder) EnsureRecipe(ctx context.Context, r Recipe) (tag string, built bool, err error) {
	tag = r.Tag()
	label, err := b.Engine.ImageRecipe(ctx, tag)
	if err != nil {
		return "", false, err
	}
	if label == r.Hash() {
		return tag, false, nil
	}
	return tag, true, b.Build(ctx, r)
}

// Build builds the recipe's node image and loads it into the engine. Artifacts are
// written under temporary names and renamed when complete, so an interrupted build
// never leaves anything a later build would take as finished.
func (b *Builder) Build(ctx context.Context, r Recipe) error {
	if err := os.MkdirAll(b.CacheDir, 0o755); err != nil {
		return fmt.Errorf("%w: create cache dir: %v", ErrBuildFailed, err)
	}
	if err := b.checkTools(); err != nil {
		return err
	}
	if b.Log == nil {
		// The tools' full output goes to a log; errors quote its last line and name it.
		logPath := filepath.Join(b.CacheDir, "node-image-build.log")
		f, err := os.Create(logPath)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBuildFailed, err)
		}
		defer f.Close()
		b.Log, b.logPath = f, logPath
		defer func() { b.Log, b.logPath = nil, "" }()
	}
	var a artifacts
	steps := append(b.componentSteps(ctx, r, &a),
		buildStep{"Building the Debian " + Suite + " root filesystem", "rootfs", b.rootfsPath(), 40 * time.Second, func() (err error) { a.rootfs, err = b.rootfs(ctx); return }})
	for _, p := range r.Programs.Preload {
		steps = append(steps, buildStep{"Building " + p.Name + " " + p.Version + " from source", p.Name, b.goImagePath(p), time.Minute, func() error {
			archive, err := b.goImage(ctx, p)
			a.images = append(a.images, archive)
			return err
		}})
	}
	for _, p := range r.Programs.OnDemand {
		steps = append(steps, buildStep{"Building " + p.Name + " " + p.Version + " from source", p.Name, b.goImagePath(p), time.Minute, func() error {
			archive, err := b.goImage(ctx, p)
			a.onDemand = append(a.onDemand, archive)
			return err
		}})
	}
	steps = append(steps, buildStep{"Assembling and loading the node image", "assemble", "", 0, func() error {
		return b.assemble(ctx, r, a)
	}})
	return b.runSteps(steps)
}

// componentSteps build the programs every node has, container or VM, into a. Each step
// names the artifact it produces (a cache hit when it exists) and how long building it
// took on our 2-core machines, said once when it has to be built.
func (b *Builder) componentSteps(ctx context.Context, r Recipe, a *artifacts) []buildStep {
	return []buildStep{
		{"Building Kubernetes " + r.KubernetesVersion + " from source", "kubernetes", b.kubePath(r), 7 * time.Minute, func() (err error) { a.kube, err = b.kube(ctx, r); return }},
		{"Building CoreDNS " + CoreDNSVersion, "coredns", b.coreDNSPath(), 70 * time.Second, func() (err error) { a.coredns, err = b.coreDNS(ctx); return }},
		{"Building containerd " + ContainerdVersion + " from source", "containerd", b.containerdPath(), 80 * time.Second, func() (err error) { a.containerd, err = b.containerd(ctx); return }},
		{"Building the pause image", "pause", b.pausePath(), 10 * time.Second, func() (err error) { a.pause, err = b.pause(ctx); return }},
	}
}

// buildStep is one phase of a build.
type buildStep struct {
	name string
	// key names the step in the record of measured build times.
	key string
	// artifact is the cached file the step produces ("" for a step that always runs).
	artifact string
	// estimate is how long building the artifact takes on a 2-core machine of ours.
	estimate time.Duration
	run      func() error
}

// runSteps runs the steps in order, reporting each. A step that has to build says how
// long that took here last time (or its estimate), and the time it takes is recorded.
func (b *Builder) runSteps(steps []buildStep) error {
	times := loadBuildTimes(b.CacheDir)
	for _, s := range steps {
		name := s.name
		building := s.artifact != "" && !exists(s.artifact)
		if building {
			name += " (" + times.expect(s.key, s.estimate) + ")"
		}
		if b.Report != nil {
			b.Report.Step(name)
		}
		began := time.Now()
		err := s.run()
		if b.Report != nil {
			b.Report.Done(err)
		}
		if err != nil {
			return err
		}
		if building {
			times.record(b.CacheDir, s.key, time.Since(began))
		}
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// MinGoVersion is the oldest Go that builds every part of the node image: containerd's
// go.mod asks for it, and builds use the local toolchain only (GOTOOLCHAIN=local).
const MinGoVersion = "go1.26.8"

func (b *Builder) checkTools() error {
	var missing []string
	if _, err := exec.LookPath("go"); err != nil {
		missing = append(missing, "go (install Go "+strings.TrimPrefix(MinGoVersion, "go")+" or newer and put it on PATH)")
	} else if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		if v := strings.TrimSpace(string(out)); version.IsValid(v) && version.Compare(v, MinGoVersion) < 0 {
			return fmt.Errorf("%w: go is %s and the node image needs %s or newer (containerd %s asks for it): install a newer Go", ErrMissingTool, v, MinGoVersion, ContainerdVersion)
		}
	}
	if _, err := exec.LookPath("mmdebstrap"); err != nil {
		missing = append(missing, "mmdebstrap (apt-get install mmdebstrap)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingTool, strings.Join(missing, "; "))
	}
	return nil
}

func (b *Builder) log() io.Writer {
	if b.Log == nil {
		return io.Discard
	}
	return b.Log
}

// cached returns path if it exists; otherwise it runs produce(tmp) and renames tmp to path.
// The temporary name is this process's own, so two builds at once never write into one
// another's; if the other one finished first, its artifact is as good as this one.
func cached(path string, produce func(tmp string) error) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	removeStalePartials(path)
	tmp := fmt.Sprintf("%s.partial-%d", path, os.Getpid())
	_ = os.RemoveAll(tmp)
	if err := produce(tmp); err != nil {
		_ = os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.RemoveAll(tmp)
		if _, statErr := os.Stat(path); statErr == nil {
			return path, nil // a folder artifact another build renamed into place first
		}
		return "", fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	return path, nil
}

// removeStalePartials removes what interrupted builds of path left: the partial
// artifacts of processes that no longer run.
func removeStalePartials(path string) {
	matches, _ := filepath.Glob(path + ".partial-*")
	for _, m := range matches {
		pid, err := strconv.Atoi(strings.TrimPrefix(m, path+".partial-"))
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(m)
		}
	}
}

func (b *Builder) run(ctx context.Context, dir string, env []string, name string, args ...string) error {
	return b.runTo(ctx, dir, env, io.Discard, name, args...)
}

// runTo runs a tool, its output going to the log and to also.
func (b *Builder) runTo(ctx context.Context, dir string, env []string, also io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var tail tailBuffer
	out := io.MultiWriter(b.log(), &tail, also)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		msg := fmt.Sprintf("%s %s: %v", name, args[0], err)
		if last := tail.last(); last != "" {
			msg += ": " + last
		}
		if b.logPath != "" {
			msg += " (full output in " + b.logPath + ")"
		}
		return errors.New(msg)
	}
	return nil
}

// tailBuffer keeps the last lines a tool printed, for the error message.
type tailBuffer struct{ lines []string }

func (t *tailBuffer) Write(p []byte) (int, error) {
	sc := bufio.NewScanner(bytes.NewReader(p))
	for sc.Scan() {
		t.lines = append(t.lines, sc.Text())
		if len(t.lines) > 15 {
			t.lines = t.lines[1:]
		}
	}
	return len(p), nil
}

// last is the last line that says something, usually the error.
func (t *tailBuffer) last() string {
	for i := len(t.lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(t.lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// The node runs on this host's engine, so binaries and images are for this host's architecture.
var goEnv = []string{"GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOARCH=" + runtime.GOARCH}

// goModule writes a throwaway module (go.mod and main.go) and builds it to out.
func (b *Builder) goBuild(ctx context.Context, dir, gomod, mainSrc, out, ldflags string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(mainSrc), 0o644); err != nil {
		return err
	}
	if err := b.run(ctx, dir, goEnv, "go", "mod", "tidy"); err != nil {
		return fmt.Errorf("%w: fetching Go modules (is the Go module proxy reachable? see `go env GOPROXY`): %v", ErrBuildFailed, err)
	}
	counter := &packageCounter{total: countPackages(ctx, dir, goEnv, "."), report: b.progress}
	if err := b.runTo(ctx, dir, goEnv, counter, "go", "build", "-v", "-trimpath", "-ldflags", ldflags, "-o", out, "."); err != nil {
		return fmt.Errorf("%w: %v", ErrBuildFailed, err)
	}
	return nil
}

// KubeGoMod is the go.mod of the multi-call binary: k8s.io/kubernetes at the version,
// with its staging modules replaced by their published versions (k8s.io/kubernetes'
// own go.mod points them at local paths, which the module proxy cannot serve).
func KubeGoMod(r Recipe, kubernetesGoMod []byte) (string, error) {
	f, err := modfile.Parse("go.mod", kubernetesGoMod, nil)
	if err != nil {
		return "", fmt.Errorf("parse k8s.io/kubernetes go.mod: %w", err)
	}
	if f.Go == nil {
		return "", fmt.Errorf("k8s.io/kubernetes go.mod has no go directive")
	}
	staging := "v0." + strings.TrimPrefix(r.KubernetesVersion, "v1.")
	var sb strings.Builder
	fmt.Fprintf(&sb, "module devk/kube\n\ngo %s\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n", f.Go.Version, r.KubernetesVersion)
	for _, rep := range f.Replace {
		if strings.HasPrefix(rep.New.Path, "./staging/") {
			fmt.Fprintf(&sb, "\t%s => %s %s\n", rep.Old.Path, rep.Old.Path, staging)
		}
	}
	sb.WriteString(")\n")
	return sb.String(), nil
}

func (b *Builder) kubernetesGoMod(ctx context.Context, r Recipe) ([]byte, error) {
	gomod, _, err := b.kubernetesModule(ctx, r)
	return gomod, err
}

// kubernetesModule downloads k8s.io/kubernetes at the recipe's version and returns its
// go.mod and the folder of its source in the module cache.
func (b *Builder) kubernetesModule(ctx context.Context, r Recipe) (gomod []byte, dir string, err error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "k8s.io/kubernetes@"+r.KubernetesVersion)
	cmd.Env = append(os.Environ(), goEnv...)
	cmd.Dir = b.CacheDir
	out, err := cmd.Output()
	var info struct{ GoMod, Dir, Error string }
	_ = json.Unmarshal(out, &info)
	if info.Error != "" {
		if strings.Contains(info.Error, "unknown revision") || strings.Contains(info.Error, "not found") ||
			strings.Contains(info.Error, "invalid version") || strings.Contains(info.Error, "version is not available") {
			return nil, "", fmt.Errorf("%w: %s is not a Kubernetes release (see https://kubernetes.io/releases)", ErrUnknownVersion, r.KubernetesVersion)
		}
		return nil, "", fmt.Errorf("%w: download k8s.io/kubernetes@%s (is the Go module proxy reachable?): %s", ErrBuildFailed, r.KubernetesVersion, info.Error)
	}
	if err != nil {
		return nil, "", fmt.Errorf("%w: go mod download k8s.io/kubernetes@%s: %v", ErrBuildFailed, r.KubernetesVersion, err)
	}
	gomod, err = os.ReadFile(info.GoMod)
	return gomod, info.Dir, err
}

func (b *Builder) kubePath(r Recipe) string {
	return filepath.Join(b.CacheDir, "devk-kube-"+r.KubernetesVersion+"-"+r.KubeKey()[:16])
}

func (b *Builder) kube(ctx context.Context, r Recipe) (string, error) {
	return cached(b.kubePath(r), func(tmp string) error {
		k8sMod, err := b.kubernetesGoMod(ctx, r)
		if err != nil {
			return err
		}
		gomod, err := KubeGoMod(r, k8sMod)
		if err != nil {
			return err
		}
		dir := filepath.Join(b.CacheDir, "src-kube-"+r.KubernetesVersion)
		// The LoadBalancer pool is a package of its own, unit-tested in devk.
		if err := os.MkdirAll(filepath.Join(dir, "lbpool"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "lbpool", "pool.go"), []byte(mustRead(sources, "kube/lbpool/pool.go")), 0o644); err != nil {
			return err
		}
		return b.goBuild(ctx, dir, gomod, r.KubeMain(), tmp, r.ldflags())
	})
}

// KubeMain is the multi-call binary's source for the recipe's minor. A line of the
// template ending in "// devk:since N" calls upstream code as it is from minor N on, one
// ending in "// devk:before N" as it was before N: each is kept only for those minors,
// without the marker (so the source, and the hash, of a version that has the line are
// what they would be without the marker).
func (r Recipe) KubeMain() string {
	var out []string
	for _, line := range strings.Split(mustRead(sources, "kube/main.go.tmpl"), "\n") {
		keep := true
		for _, m := range []struct {
			marker string
			keep   func(n int) bool
		}{{" // devk:since ", func(n int) bool { return r.Minor >= n }}, {" // devk:before ", func(n int) bool { return r.Minor < n }}} {
			if i := strings.LastIndex(line, m.marker); i >= 0 {
				if n, err := strconv.Atoi(strings.TrimSpace(line[i+len(m.marker):])); err == nil {
					keep = m.keep(n)
					line = line[:i]
				}
			}
		}
		if keep {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// ldflags stamps the version, so nodes and `kubectl version` report the real one.
func (r Recipe) ldflags() string {
	pkg := "k8s.io/component-base/version"
	return strings.Join([]string{"-s", "-w",
		"-X", pkg + ".gitVersion=" + r.KubernetesVersion,
		"-X", pkg + ".gitMajor=1",
		"-X", fmt.Sprintf("%s.gitMinor=%d", pkg, r.Minor),
		"-X", pkg + ".gitTreeState=clean",
		"-X", pkg + ".buildDate=1970-01-01T00:00:00Z",
	}, " ")
}

func (b *Builder) coreDNSPath() string {
	return filepath.Join(b.CacheDir, "coredns-"+CoreDNSVersion+"-"+coreDNSKey()[:16])
}

func (b *Builder) coreDNS(ctx context.Context) (string, error) {
	return cached(b.coreDNSPath(), func(tmp string) error {
		gomod := "module devk/coredns\n\ngo 1.24.0\n\nrequire github.com/coredns/coredns " + CoreDNSVersion + "\n"
		return b.goBuild(ctx, filepath.Join(b.CacheDir, "src-coredns"), gomod, mustRead(sources, "coredns/main.go.tmpl"), tmp, "-s -w")
	})
}

// containerdCommands are the containerd programs the node runs, in place of Debian's.
var containerdCommands = []string{"containerd", "containerd-shim-runc-v2", "ctr"}

func containerdLdflags() string {
	return "-s -w -X github.com/containerd/containerd/v2/version.Version=" + ContainerdVersion
}

func (b *Builder) containerdPath() string {
	return filepath.Join(b.CacheDir, "containerd-"+ContainerdVersion+"-"+containerdKey()[:16])
}

// containerd builds containerd's commands into a folder, with `go install` of the
// release so every dependency is at the version containerd's own go.mod pins.
func (b *Builder) containerd(ctx context.Context) (string, error) {
	return cached(b.containerdPath(), func(tmp string) error {
		args := []string{"install", "-trimpath", "-ldflags", containerdLdflags()}
		for _, c := range containerdCommands {
			args = append(args, "github.com/containerd/containerd/v2/cmd/"+c+"@"+ContainerdVersion)
		}
		// go install pkg@version refuses goEnv's -mod=mod; the later GOFLAGS wins (and,
		// unlike an empty one, also overrides a user's `go env -w GOFLAGS=...`).
		env := append(slices.Clone(goEnv), "GOBIN="+tmp, "GOFLAGS=-mod=readonly")
		if err := b.run(ctx, b.CacheDir, env, "go", args...); err != nil {
			return fmt.Errorf("%w: containerd %s (is the Go module proxy reachable? see `go env GOPROXY`): %v", ErrBuildFailed, ContainerdVersion, err)
		}
		return nil
	})
}

func (b *Builder) pausePath() string { return filepath.Join(b.CacheDir, "pause-"+pauseKey()[:16]) }

func (b *Builder) pause(ctx context.Context) (string, error) {
	return cached(b.pausePath(), func(tmp string) error {
		return b.goBuild(ctx, filepath.Join(b.CacheDir, "src-pause"), "module devk/pause\n\ngo 1.24.0\n", mustRead(sources, "pause/main.go.tmpl"), tmp, "-s -w")
	})
}

// customizeHooks run in the finished root filesystem: units that devk starts itself
// (after writing their certificates) are disabled, and what a container has no use for
// is masked so the node boots faster.
func customizeHooks() []string {
	return []string{
		`chroot "$1" systemctl disable docker.service docker.socket etcd.service ssh.service ssh.socket 2>/dev/null || true`,
		`chroot "$1" systemctl mask getty@tty1.service console-getty.service systemd-udevd.service systemd-udev-trigger.service systemd-firstboot.service apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service e2scrub_all.timer fstrim.timer dpkg-db-backup.timer systemd-tmpfiles-clean.timer systemd-networkd-wait-online.service`,
		`rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log "$1"/usr/share/doc/*/changelog*`,
		`rm -f "$1"/etc/machine-id "$1"/var/lib/dbus/machine-id && touch "$1"/etc/machine-id`,
	}
}

func (b *Builder) rootfsPath() string {
	return filepath.Join(b.CacheDir, "rootfs-"+Suite+"-"+RootfsKey()[:16]+".tar")
}

func (b *Builder) rootfs(ctx context.Context) (string, error) {
	return cached(b.rootfsPath(), func(tmp string) error { return b.mmdebstrap(ctx, tmp, Packages(), customizeHooks()) })
}

// mirror is the Debian mirror builds use.
func (b *Builder) mirror() string {
	if b.Mirror != "" {
		return b.Mirror
	}
	return HostDebianMirror()
}

// mmdebstrap writes a Debian root filesystem with the packages as a tar archive.
func (b *Builder) mmdebstrap(ctx context.Context, out string, packages, hooks []string) error {
	mirror := b.mirror()
	if os.Geteuid() != 0 {
		// mmdebstrap builds without root in a user namespace (its unshare mode).
		if u, err := user.Current(); err == nil {
			if why := userNamespaceProblem("/", u.Username, u.Uid); why != "" {
				return fmt.Errorf("%w: building the root filesystem as %s needs user namespaces: %s", ErrMissingTool, u.Username, why)
			}
		}
	}
	args := []string{"--variant=minbase", "--include=" + strings.Join(packages, ","),
		"--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
		"--dpkgopt=path-include=/usr/share/doc/*/copyright", "--dpkgopt=path-exclude=/usr/share/locale/*",
		"--format=tar"}
	for _, h := range hooks {
		args = append(args, "--customize-hook="+h)
	}
	args = append(args, Suite, out, mirror)
	if err := b.run(ctx, "", nil, "mmdebstrap", args...); err != nil {
		return fmt.Errorf("%w: building the root filesystem (is the Debian mirror %s reachable? pick another with --debian-mirror or DEVK_DEBIAN_MIRROR; is the disk full?): %v", ErrBuildFailed, mirror, err)
	}
	return nil
}

// DefaultDebianMirror is the Debian project's own redirector, for hosts whose apt
// sources name no Debian mirror (Ubuntu, Fedora, Arch, ...).
const DefaultDebianMirror = "http://deb.debian.org/debian"

// userNamespaceProblem says what keeps user (uid) from building a root filesystem in a
// user namespace on the system under root, "" if nothing: subordinate id ranges, and a
// kernel that allows unprivileged user namespaces.
func userNamespaceProblem(root, username, uid string) string {
	var problems []string
	for _, f := range []string{"etc/subuid", "etc/subgid"} {
		data, _ := os.ReadFile(filepath.Join(root, f))
		found := false
		for _, line := range strings.Split(string(data), "\n") {
			owner, _, _ := strings.Cut(strings.TrimSpace(line), ":")
			found = found || (owner != "" && (owner == username || owner == uid))
		}
		if !found {
			problems = append(problems, fmt.Sprintf("no range for %s in /%s (as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)", username, f, username))
		}
	}
	for _, k := range []struct{ file, fix string }{
		{"proc/sys/kernel/unprivileged_userns_clone", "sysctl -w kernel.unprivileged_userns_clone=1"},
		{"proc/sys/user/max_user_namespaces", "sysctl -w user.max_user_namespaces=15000"},
		{"proc/sys/kernel/apparmor_restrict_unprivileged_userns", "sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"},
	} {
		data, err := os.ReadFile(filepath.Join(root, k.file))
		v := strings.TrimSpace(string(data))
		bad := v == "0"
		if k.file == "proc/sys/kernel/apparmor_restrict_unprivileged_userns" {
			bad = v == "1"
		}
		if err == nil && bad {
			problems = append(problems, fmt.Sprintf("the kernel forbids them (/%s is %s; as root: %s)", k.file, v, k.fix))
		}
	}
	return strings.Join(problems, "; ")
}

// HostDebianMirror is the Debian mirror this machine's apt already uses, else the
// default one.
func HostDebianMirror() string {
	if m := FindDebianMirror("/"); m != "" {
		return m
	}
	return DefaultDebianMirror
}

// FindDebianMirror reads the first Debian archive URI from the apt sources under root
// (one-line .list files and deb822 .sources files), "" if there is none.
func FindDebianMirror(root string) string {
	files, _ := filepath.Glob(filepath.Join(root, "etc/apt/sources.list.d/*"))
	for _, f := range append([]string{filepath.Join(root, "etc/apt/sources.list")}, files...) {
		if !strings.HasSuffix(f, ".list") && !strings.HasSuffix(f, ".sources") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			fields := strings.Fields(strings.SplitN(line, "#", 2)[0])
			var uris []string
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:":
				uris = fields[1:]
			case len(fields) >= 3 && fields[0] == "deb":
				rest := fields[1:]
				if strings.HasPrefix(rest[0], "[") { // options: [arch=amd64 signed-by=...]
					for len(rest) > 0 && !strings.HasSuffix(rest[0], "]") {
						rest = rest[1:]
					}
					if len(rest) > 0 {
						rest = rest[1:]
					}
				}
				if len(rest) > 0 {
					uris = rest[:1]
				}
			}
			for _, uri := range uris {
				if strings.HasSuffix(strings.TrimRight(uri, "/"), "/debian") {
					return uri
				}
			}
		}
	}
	return ""
}
