package cluster

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/devk-dev/devk/driver"
)

// Profile is one cluster's configuration, kept in $DEVK_HOME/profiles/NAME/config.json.
// Field names are stable: scripts read this file.
type Profile struct {
	Name              string               `json:"name"`
	Driver            string               `json:"driver"`
	CPUs              int                  `json:"cpus"`
	MemoryMB          int                  `json:"memoryMB"`
	KubernetesVersion string               `json:"kubernetesVersion"`
	APIServerPort     int                  `json:"apiServerPort"`
	DockerPort        int                  `json:"dockerPort"`
	Ports             []driver.PortMapping `json:"ports,omitempty"`
	Addons            []string             `json:"addons,omitempty"`
	Mounts            []driver.Mount       `json:"mounts,omitempty"`
	NodeImage         string               `json:"nodeImage"`
	NodeIP            string               `json:"nodeIP,omitempty"`
	// LBRange is the addresses LoadBalancer Services get (FIRST-LAST) on the node's
	// network; empty where the host cannot reach the node's network (a VM).
	LBRange string `json:"lbRange,omitempty"`
	// RegistryMirrors are Docker Hub mirrors, InsecureRegistries registries reached
	// without TLS verification (--registry-mirror, --insecure-registry).
	RegistryMirrors    []string `json:"registryMirrors,omitempty"`
	InsecureRegistries []string `json:"insecureRegistries,omitempty"`
	// NoImageCache keeps the node off the shared image cache (--image-cache=false).
	NoImageCache bool `json:"noImageCache,omitempty"`
	// Proxy is the HTTP proxy settings of the last start that had any.
	Proxy   ProxyEnv  `json:"proxy,omitempty"`
	Created time.Time `json:"created"`
}

// Server is the API server's URL from the host: always on 127.0.0.1.
func (p *Profile) Server() string { return fmt.Sprintf("https://127.0.0.1:%d", p.APIServerPort) }

// Home is devk's state directory ($DEVK_HOME, default ~/.devk).
type Home struct{ Dir string }

// DefaultHome resolves $DEVK_HOME or ~/.devk.
func DefaultHome() (Home, error) {
	if d := os.Getenv("DEVK_HOME"); d != "" {
		return Home{Dir: d}, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return Home{}, fmt.Errorf("find home directory (set DEVK_HOME): %w", err)
	}
	return Home{Dir: filepath.Join(home, ".devk")}, nil
}

func (h Home) ProfileDir(name string) string { return filepath.Join(h.Dir, "profiles", name) }
func (h Home) CertsDir(name string) string   { return filepath.Join(h.ProfileDir(name), "certs") }
func (h Home) CacheDir() string              { return filepath.Join(h.Dir, "cache") }

// ErrNoProfile means the profile was never created (or was deleted).
var ErrNoProfile = errors.New("profile does not exist")

// ErrCorruptProfile means the profile's config.json cannot be read as a profile.
var ErrCorruptProfile = errors.New("profile is corrupt")

func (h Home) Load(name string) (*Profile, error) {
	path := filepath.Join(h.ProfileDir(name), "config.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoProfile, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read profile %s: %w", name, err)
	}
	var p Profile
	why := ""
	if err := json.Unmarshal(data, &p); err != nil {
		why = err.Error()
	} else if p.Name != name || p.Driver == "" {
		// "null", "{}" or another profile's file parse, but describe no node of this one.
		why = fmt.Sprintf("it names profile %q with driver %q", p.Name, p.Driver)
	}
	if why != "" {
		return nil, fmt.Errorf("%w: %s is unreadable (%s); remove the cluster (node, volume and folder) with `devk delete -p %s`, then create it again with `devk start -p %s`",
			ErrCorruptProfile, path, why, name, name)
	}
	return &p, nil
}

func (h Home) Save(p *Profile) error {
	data, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(h.ProfileDir(p.Name), "config.json"), append(data, '\n'), 0o600)
}

// Profiles lists the names of existing profiles, sorted.
func (h Home) Profiles() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(h.Dir, "profiles"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	var names []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(h.Dir, "profiles", e.Name(), "config.json")); err == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Lock serializes commands on one profile. The lock file lives beside, not inside, the
// profile folder, so deleting the profile does not race with the lock.
func (h Home) Lock(name string) (func(), error) {
	return Lock(filepath.Join(h.Dir, "locks", name+".lock"), 5*time.Minute)
}

// Remove deletes the profile's folder.
func (h Home) Remove(name string) error {
	if err := os.RemoveAll(h.ProfileDir(name)); err != nil {
		return fmt.Errorf("remove profile %s: %w", name, err)
	}
	return nil
}

var profileNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,30}[a-z0-9]$`)

// ErrInvalid marks bad user input: flags, names and values.
var ErrInvalid = errors.New("invalid value")

// ValidateProfileName accepts DNS-label-like names: they name containers, volumes and
// kubeconfig contexts. Docker refuses one-character container names, so two is the least.
func ValidateProfileName(name string) error {
	if !profileNamePattern.MatchString(name) {
		return fmt.Errorf("%w: profile name %q: use 2-32 lowercase letters, digits and '-', starting and ending with a letter or digit", ErrInvalid, name)
	}
	return nil
}

const maxMemoryMB = 1024 * 1024 // 1 TiB

// ParseMemory reads sizes such as 4096, 4096m, 4g, 4GB, 2048MiB into MiB.
func ParseMemory(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1
	for _, suf := range []struct {
		s string
		m int
	}{{"gib", 1024}, {"gb", 1024}, {"g", 1024}, {"mib", 1}, {"mb", 1}, {"m", 1}} {
		if strings.HasSuffix(t, suf.s) {
			t, mult = strings.TrimSuffix(t, suf.s), suf.m
			break
		}
	}
	n, err := strconv.Atoi(t)
	if err != nil || n <= 0 || n > maxMemoryMB/mult {
		return 0, fmt.Errorf("%w: memory %q: use a size such as 4g or 4096m (at most %dg)", ErrInvalid, s, maxMemoryMB/1024)
	}
	mb := n * mult
	if mb < 1800 {
		return 0, fmt.Errorf("%w: memory %s is below the 1800 MiB a node needs", ErrInvalid, s)
	}
	return mb, nil
}

// ValidateMemory refuses more memory than this machine has: the node would be killed by
// the kernel, or the machine would swap, instead of an error now.
func ValidateMemory(mb int) error {
	total, err := hostMemoryMB()
	if err != nil || total == 0 {
		return nil // unknown: the engine or QEMU will say
	}
	if mb > total {
		return fmt.Errorf("%w: memory %dm is more than this machine has (%dm); ask for less, such as %dg", ErrInvalid, mb, total, max(2, total/2048))
	}
	return nil
}

// hostMemoryMB reads MemTotal from /proc/meminfo.
func hostMemoryMB() (int, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.Atoi(f[1])
			return kb / 1024, err
		}
	}
	return 0, errors.New("no MemTotal in /proc/meminfo")
}

// ParsePort validates a TCP port number.
func ParsePort(what string, n int) error {
	if n < 1 || n > 65535 {
		return fmt.Errorf("%w: %s %d: use a port between 1 and 65535", ErrInvalid, what, n)
	}
	return nil
}

// ParsePortMapping reads HOST:NODE[/PROTO].
func ParsePortMapping(s string) (driver.PortMapping, error) {
	bad := fmt.Errorf("%w: port mapping %q: use HOST:NODE, for example 8080:30080", ErrInvalid, s)
	spec, proto, _ := strings.Cut(s, "/")
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" {
		return driver.PortMapping{}, bad
	}
	hostS, nodeS, ok := strings.Cut(spec, ":")
	if !ok {
		return driver.PortMapping{}, bad
	}
	host, err1 := strconv.Atoi(hostS)
	node, err2 := strconv.Atoi(nodeS)
	if err1 != nil || err2 != nil || ParsePort("host port", host) != nil || ParsePort("node port", node) != nil {
		return driver.PortMapping{}, bad
	}
	return driver.PortMapping{HostPort: host, NodePort: node, Protocol: proto}, nil
}

// ID identifies this devk home to drivers, which label what they create with it so that
// two homes on one engine never act on each other's nodes. It is made once, at random,
// and kept in $DEVK_HOME/id (moving the home keeps it).
func (h Home) ID() (string, error) {
	path := filepath.Join(h.Dir, "id")
	if data, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(data))) > 0 {
		return strings.TrimSpace(string(data)), nil
	}
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return "", fmt.Errorf("create %s: %w", h.Dir, err)
	}
	buf := make([]byte, 8)
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(h.Dir, "id-*")
	if err != nil {
		return "", fmt.Errorf("write the home's id: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(hex.EncodeToString(buf) + "\n"); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	// A link fails if another devk made the id first; theirs is then everyone's.
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("write the home's id: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read the home's id: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}
