package cmd

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/iso"
)

func (a *app) startCmd() *cobra.Command {
	var (
		driverName, memory, version, output string
		cpus, apiServerPort                 int
		ports, addons                       []string
	)
	c := &cobra.Command{
		Use:   "start",
		Short: "Create or restart the cluster and point kubectl at it",
		Example: `  devk start
  devk start -p dev2 --cpus 4 --memory 6g --kubernetes-version v1.34.4 --ports 8080:30080`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			opts := cluster.StartOptions{Profile: a.profile, KubernetesVersion: version, APIServerPort: apiServerPort, Addons: addons}
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			if driverName != "docker" {
				return fmt.Errorf("%w: --driver %q: available drivers: docker", errUsage, driverName)
			}
			if _, err := iso.NewRecipe(version); err != nil {
				return err
			}
			if c.Flags().Changed("cpus") {
				if cpus < 1 || cpus > runtime.NumCPU() {
					return fmt.Errorf("%w: --cpus %d: this machine has %d", errUsage, cpus, runtime.NumCPU())
				}
				opts.CPUs = cpus
			}
			if c.Flags().Changed("memory") {
				mb, err := cluster.ParseMemory(memory)
				if err != nil {
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
			report := a.reporter(output)
			m, _, err := a.manager(report)
			if err != nil {
				return err
			}
			if !c.Flags().Changed("kubernetes-version") {
				opts.KubernetesVersion = "" // a new profile gets the default; an existing one keeps its own
			}
			prof, err := m.Start(c.Context(), opts)
			if err != nil {
				return err
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
	f.StringVar(&driverName, "driver", envOr("DEVK_DRIVER", "docker"), "driver: docker")
	f.IntVar(&cpus, "cpus", cluster.DefaultCPUs, "CPUs for the node")
	f.StringVar(&memory, "memory", fmt.Sprintf("%dm", cluster.DefaultMemoryMB), "memory for the node, such as 4g or 4096m")
	f.StringVar(&version, "kubernetes-version", iso.DefaultKubernetesVersion, "Kubernetes version, vMAJOR.MINOR.PATCH")
	f.IntVar(&apiServerPort, "apiserver-port", 0, "host port (on 127.0.0.1) for the API server; 0 picks a free one")
	f.StringSliceVar(&ports, "ports", nil, "extra ports to publish on 127.0.0.1, HOST:NODE[/udp]")
	f.StringSliceVar(&addons, "addons", nil, "addons to enable")
	f.StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}
