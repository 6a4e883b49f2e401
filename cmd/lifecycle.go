package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/iso"
)

func (a *app) stopCmd() *cobra.Command {
	var output string
	return &cobra.Command{
		Use:     "stop",
		Short:   "Stop the cluster, keeping every object and volume",
		Example: "  devk stop\n  devk stop -p dev2",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, _, err := a.manager(a.reporter(output))
			if err != nil {
				return err
			}
			if err := m.Stop(c.Context(), a.profile); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "Cluster %q stopped; `devk start -p %s` resumes it.\n", a.profile, a.profile)
			return nil
		},
	}
}

func (a *app) deleteCmd() *cobra.Command {
	var all, purge bool
	c := &cobra.Command{
		Use:     "delete",
		Short:   "Delete the cluster: node, volume, profile and kubeconfig entries",
		Example: "  devk delete\n  devk delete --all --purge",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if purge && !all {
				return fmt.Errorf("%w: --purge removes devk's whole home with every profile; use it with --all", errUsage)
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			profiles := []string{a.profile}
			if all {
				if profiles, err = m.Home.Profiles(); err != nil {
					return err
				}
			}
			for _, p := range profiles {
				snapshots := m.SnapshotCount(p)
				if err := m.Delete(c.Context(), p); err != nil {
					return err
				}
				switch snapshots {
				case 0:
					fmt.Fprintf(a.stderr, "Deleted cluster %q.\n", p)
				case 1:
					fmt.Fprintf(a.stderr, "Deleted cluster %q and its snapshot.\n", p)
				default:
					fmt.Fprintf(a.stderr, "Deleted cluster %q and its %d snapshots.\n", p, snapshots)
				}
			}
			if purge {
				return m.Purge(c.Context())
			}
			return nil
		},
	}
	c.Flags().BoolVar(&all, "all", false, "delete every profile")
	c.Flags().BoolVar(&purge, "purge", false, "with --all, also remove devk's home (node image cache included)")
	return c
}

func (a *app) statusCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "status",
		Short: "Show the state of the node, kubelet, API server and kubeconfig",
		Long: `Show the state of the node, kubelet, API server and kubeconfig.
The exit code encodes it, as minikube's does: bit 0 (1) the node is not running,
bit 1 (2) the kubelet is not running, bit 2 (4) the API server is not running.`,
		Example: "  devk status\n  devk status -o json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			st, err := m.Status(c.Context(), a.profile)
			if err != nil && !errors.Is(err, cluster.ErrNoProfile) {
				return err
			}
			if errors.Is(err, cluster.ErrNoProfile) {
				if output == "json" {
					_ = json.NewEncoder(a.stdout).Encode(st)
				}
				return fmt.Errorf("%w; create it with `devk start -p %s`", err, a.profile)
			}
			if output == "json" {
				if err := json.NewEncoder(a.stdout).Encode(st); err != nil {
					return err
				}
			} else {
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 1, ' ', 0)
				fmt.Fprintf(tw, "%s\ntype:\tControl Plane\nhost:\t%s\nkubelet:\t%s\napiserver:\t%s\nkubeconfig:\t%s\n", st.Name, st.Host, st.Kubelet, st.APIServer, st.Kubeconfig)
				tw.Flush()
			}
			if st.Warning != "" {
				fmt.Fprintln(a.stderr, "devk: warning: "+st.Warning)
			}
			if code := st.ExitCode(); code != 0 {
				return &statusExit{code: code}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

func (a *app) nodeImageCmd() *cobra.Command {
	var version, mirror string
	var vm bool
	c := &cobra.Command{
		Use:     "node-image",
		Short:   "Build (or find in the cache) the node image for a Kubernetes version",
		Example: "  devk node-image\n  devk node-image --kubernetes-version v1.33.6\n  devk node-image --vm\n  devk node-image --debian-mirror http://ftp.de.debian.org/debian",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if u, err := url.Parse(mirror); mirror != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || u.Path == "") {
				return fmt.Errorf("%w: --debian-mirror %q: use a Debian archive URL such as %s", errUsage, mirror, iso.DefaultDebianMirror)
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			if builder, ok := m.Images.(*iso.Builder); ok && mirror != "" {
				builder.Mirror = mirror
			}
			if vm {
				builder, ok := m.Images.(*iso.Builder)
				if !ok {
					return fmt.Errorf("%w: this driver builds no VM files", errUsage)
				}
				files, err := builder.EnsureVM(c.Context(), version)
				if err != nil {
					return err
				}
				return json.NewEncoder(a.stdout).Encode(files)
			}
			tag, err := m.Images.Ensure(c.Context(), version)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, tag)
			return nil
		},
	}
	c.Flags().StringVar(&version, "kubernetes-version", iso.DefaultKubernetesVersion, "Kubernetes version, vMAJOR.MINOR.PATCH")
	c.Flags().StringVar(&mirror, "debian-mirror", "", "Debian mirror for the root filesystem (default: $DEVK_DEBIAN_MIRROR, else the host's apt sources, else "+iso.DefaultDebianMirror+")")
	c.Flags().BoolVar(&vm, "vm", false, "build the QEMU driver's boot files (kernel, initrd, disk image) instead; prints their paths as JSON")
	return c
}
