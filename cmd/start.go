package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/iso"
	"github.com/devk-dev/devk/iso/kube/lbpool"
)

func (a *app) startCmd() *cobra.Command {
	var (
		driverName, accel, memory, version, output, mountString, lbRange string
		cpus, apiServerPort                                              int
		ports, addons, mirrors, insecure                                 []string
		imageCache, prebuild                                             bool
	)
	c := &cobra.Command{
		Use:   "start",
		Short: "Create or restart the cluster and point kubectl at it",
		Example: `  devk start
  devk start -p dev2 --cpus 4 --memory 6g --kubernetes-version v1.34.4 --ports 8080:30080
  devk start --mount-string "$HOME/src:/src"
  devk start -p vm --driver qemu --accel tcg    # software emulation, no KVM check
  devk start --registry-mirror https://mirror.example.com --insecure-registry 192.168.1.10:5000
  devk start --image-cache=false               # pull directly, not through the shared cache
  DEVK_CPUS=4 devk start                       # or once for all: devk config set cpus 4`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			if err := a.applySettings(c); err != nil {
				return err
			}
			opts := cluster.StartOptions{Profile: a.profile, KubernetesVersion: version, APIServerPort: apiServerPort, Addons: addons}
			if err := validateAddons(addons); err != nil {
				return err
			}
			if c.Flags().Changed("driver") {
				a.driverName = driverName
			}
			if err := cluster.ValidateDriver(driverName); err != nil {
				return err
			}
			if err := cluster.ValidateAccel(accel); err != nil {
				return err
			}
			a.accel = accel
			if _, err := iso.NewRecipe(version); err != nil {
				return err
			}
			if c.Flags().Changed("cpus") {
				if err := cluster.ValidateCPUs(cpus); err != nil {
					return err
				}
				opts.CPUs = cpus
			}
			if c.Flags().Changed("memory") {
				mb, err := cluster.ParseMemory(memory)
				if err != nil {
					return err
				}
				if err := cluster.ValidateMemory(mb); err != nil {
					return err
				}
				opts.MemoryMB = mb
			}
			if apiServerPort != 0 {
				if err := cluster.ParsePort("--apiserver-port", apiServerPort); err != nil {
					return err
				}
			}
			for _, p := range ports {
				m, err := cluster.ParsePortMapping(p)
				if err != nil {
					return err
				}
				opts.Ports = append(opts.Ports, m)
			}
			if lbRange != "" {
				if _, err := lbpool.ParseRange(lbRange); err != nil {
					return fmt.Errorf("%w: --lb-range: %v", errUsage, err)
				}
				opts.LBRange = lbRange
			}
			if mountString != "" {
				mnt, err := cluster.ParseMount(mountString)
				if err != nil {
					return err
				}
				opts.Mounts = append(opts.Mounts, mnt)
			}
			if c.Flags().Changed("registry-mirror") {
				opts.RegistryMirrors = append([]string{}, mirrors...) // empty, not nil: clears
			}
			if c.Flags().Changed("insecure-registry") {
				opts.InsecureRegistries = append([]string{}, insecure...)
			}
			if c.Flags().Changed("image-cache") {
				opts.ImageCache = &imageCache
			}
			opts.Proxy, opts.ProxySet = cluster.ProxyFromEnv(os.LookupEnv)
			report := a.reporter(output)
			m, _, err := a.manager(report)
			if err != nil {
				return err
			}
			m.Addons = addonManager(m, report)
			if !c.Flags().Changed("kubernetes-version") {
				opts.KubernetesVersion = "" // a new profile gets the default; an existing one keeps its own
			}
			prof, err := m.Start(c.Context(), opts)
			if err != nil {
				return err
			}
			if prebuild {
				if err := a.startPrebuild(m); err != nil {
					a.warn(err.Error())
				}
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(map[string]any{"type": "result", "profile": prof.Name,
					"server": fmt.Sprintf("https://127.0.0.1:%d", prof.APIServerPort), "context": prof.Name,
					"kubernetesVersion": prof.KubernetesVersion, "nodeIP": prof.NodeIP})
			}
			fmt.Fprintf(a.stdout, "Cluster %q is running Kubernetes %s; kubectl now uses context %q (https://127.0.0.1:%d)\n",
				prof.Name, prof.KubernetesVersion, prof.Name, prof.APIServerPort)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&driverName, "driver", "docker", "driver: docker (a container) or qemu (a virtual machine)")
	f.StringVar(&accel, "accel", "auto", "qemu driver: auto (KVM when it works here, else software emulation), kvm or tcg; checked at every start")
	f.IntVar(&cpus, "cpus", cluster.DefaultCPUs, "CPUs for the node")
	f.StringVar(&memory, "memory", fmt.Sprintf("%dm", cluster.DefaultMemoryMB), "memory for the node, such as 4g or 4096m")
	f.StringVar(&version, "kubernetes-version", iso.DefaultKubernetesVersion, "Kubernetes version, vMAJOR.MINOR.PATCH")
	f.IntVar(&apiServerPort, "apiserver-port", 0, "host port (on 127.0.0.1) for the API server; 0 picks a free one")
	f.StringSliceVar(&ports, "ports", nil, "extra ports to publish on 127.0.0.1, HOST:NODE[/udp]")
	f.StringSliceVar(&addons, "addons", nil, "addons to enable")
	f.StringVar(&lbRange, "lb-range", "", "FIRST-LAST: addresses on the node's network for LoadBalancer Services (default: .200-.254 of its /24)")
	f.StringVar(&mountString, "mount-string", "", "HOST_DIR:NODE_DIR: a host folder in the node (and in pods through hostPath) for the life of the cluster")
	f.StringSliceVar(&mirrors, "registry-mirror", nil, "Docker Hub mirror URL, tried in order before Docker Hub (repeatable; an empty value clears the profile's)")
	f.StringSliceVar(&insecure, "insecure-registry", nil, "HOST[:PORT] of a registry reached over plain HTTP or unverified TLS (repeatable)")
	f.BoolVar(&prebuild, "prebuild-addons", true, "once the cluster is up, build the optional addons' images in the background at low priority (the first time), so a first `addons enable` takes seconds")
	f.BoolVar(&imageCache, "image-cache", true, "pull through devk's shared image cache, which keeps every pulled image across clusters and offline (docker driver)")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

// applySettings gives each start flag the user did not pass its DEVK_<FLAG> environment
// variable, else its `devk config` setting (see configCmd). Values go through the flag's
// own Set, so the checks in startCmd apply to them as to flags; they are checked here
// first too, to name where a bad value came from. They are defaults for a new cluster:
// an existing profile keeps what it was created with, so they are only checked there.
func (a *app) applySettings(c *cobra.Command) error {
	home, err := cluster.DefaultHome()
	if err != nil {
		return err
	}
	settings, err := home.LoadSettings()
	if err != nil {
		return err
	}
	_, loadErr := home.Load(a.profile)
	exists := loadErr == nil
	for _, key := range cluster.SettingKeys() {
		f := c.Flags().Lookup(key)
		if key == "profile" || f == nil || f.Changed { // the profile is the root flag's default
			continue
		}
		value, source, ok := cluster.LookupSetting(key, os.Getenv, settings)
		if !ok {
			continue
		}
		if err := validateSetting(key, value); err != nil {
			return fmt.Errorf("%w (from %s)", err, source)
		}
		if exists && !slices.Contains(cluster.HostSettings(), key) {
			continue
		}
		if err := c.Flags().Set(key, value); err != nil {
			return fmt.Errorf("%w: %s %q (from %s): %v", errUsage, key, value, source, err)
		}
	}
	return nil
}

// validateSetting checks a setting as its start flag would, addon names included (the
// addons are cmd's to know).
func validateSetting(key, value string) error {
	if err := cluster.ValidateSetting(key, value); err != nil {
		return err
	}
	if key == "addons" {
		var names []string
		for _, n := range strings.Split(value, ",") {
			names = append(names, strings.TrimSpace(n))
		}
		return validateAddons(names)
	}
	return nil
}
