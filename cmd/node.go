package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/devk-dev/devk/addons"
	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/driver"
	"github.com/devk-dev/devk/iso"
)

// Version is devk's version, stamped at build time with -ldflags -X.
var Version = "dev"

func (a *app) ipCmd() *cobra.Command {
	return &cobra.Command{
		Use: "ip", Short: "Print the node's IP address", Example: "  devk ip", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			_, prof, err := m.RunningNode(c.Context(), a.profile)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, prof.NodeIP)
			return nil
		},
	}
}

func (a *app) sshCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ssh [-- COMMAND...]",
		Short: "Open a shell in the node, or run one command there",
		Example: `  devk ssh
  devk ssh -- systemctl status kubelet`,
		RunE: func(c *cobra.Command, args []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			node, _, err := m.RunningNode(c.Context(), a.profile)
			if err != nil {
				return err
			}
			a.endProgress()
			opts := driver.ExecOptions{Stdout: unwrap(a.stdout), Stderr: unwrap(a.stderr)}
			if len(args) == 0 {
				args = []string{"bash", "-l"}
				stdin, ok := c.InOrStdin().(*os.File)
				if ok && term.IsTerminal(int(stdin.Fd())) {
					old, err := term.MakeRaw(int(stdin.Fd()))
					if err != nil {
						return fmt.Errorf("set the terminal to raw mode: %w", err)
					}
					defer term.Restore(int(stdin.Fd()), old) //nolint:errcheck
					opts.TTY = true
				}
				opts.Stdin = c.InOrStdin()
			} else if !isTerminal(os.Stdin) {
				opts.Stdin = c.InOrStdin()
			}
			return passExitCode(node.Exec(c.Context(), args, opts))
		},
	}
}

// passExitCode makes devk exit with the remote command's status, printing nothing more.
func passExitCode(err error) error {
	var exit *driver.ExitError
	if errors.As(err, &exit) {
		return &statusExit{code: exit.Code}
	}
	return err
}

func (a *app) cpCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cp SRC DST",
		Short: "Copy a file into the node, or out of it with node:PATH (onto a folder: into it)",
		Example: `  devk cp ./app.conf /etc/app.conf
  devk cp ./app.conf /etc/             # -> /etc/app.conf
  devk cp node:/var/log/pods.txt ./pods.txt`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			src, dst := args[0], args[1]
			fromNode := strings.HasPrefix(src, "node:")
			if fromNode == strings.HasPrefix(dst, "node:") && fromNode {
				return fmt.Errorf("%w: only one side of cp may be node:PATH", errUsage)
			}
			dst = strings.TrimPrefix(dst, "node:")
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			node, _, err := m.RunningNode(c.Context(), a.profile)
			if err != nil {
				return err
			}
			if fromNode {
				return cluster.CopyFromNode(c.Context(), node, strings.TrimPrefix(src, "node:"), dst)
			}
			return cluster.CopyToNode(c.Context(), node, src, dst)
		},
	}
}

func (a *app) logsCmd() *cobra.Command {
	var o cluster.LogOptions
	var file string
	c := &cobra.Command{
		Use:   "logs",
		Short: "Show the node's component logs (kubelet, apiserver, etcd, containerd, ...)",
		Example: `  devk logs
  devk logs --component kubelet --follow
  devk logs --problems --file devk.log`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.Lines < 1 {
				return fmt.Errorf("%w: --length must be at least 1", errUsage)
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			out := a.stdout
			if file != "" {
				f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
				if err != nil {
					return fmt.Errorf("%w: --file: %v", errUsage, err)
				}
				defer f.Close()
				out = f
			}
			return m.Logs(c.Context(), a.profile, o, out)
		},
	}
	c.Flags().StringSliceVar(&o.Components, "component", nil, "components to show (kubelet, apiserver, controller-manager, scheduler, proxy, etcd, containerd, docker)")
	c.Flags().IntVarP(&o.Lines, "length", "n", 60, "number of lines to show per component")
	c.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep streaming new lines")
	c.Flags().BoolVar(&o.Problems, "problems", false, "only lines that look like problems")
	c.Flags().StringVar(&file, "file", "", "write the logs to this file")
	return c
}

func (a *app) updateContextCmd() *cobra.Command {
	return &cobra.Command{
		Use: "update-context", Short: "Rewrite the profile's kubeconfig context and make it current",
		Example: "  devk update-context", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			server, err := m.UpdateContext(c.Context(), a.profile)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Context %q points at %s\n", a.profile, server)
			return nil
		},
	}
}

func (a *app) profileCmd() *cobra.Command {
	c := &cobra.Command{Use: "profile", Short: "Work with profiles (clusters)"}
	var output string
	list := &cobra.Command{
		Use: "list", Short: "List profiles and their state", Example: "  devk profile list -o json", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			profiles, err := m.ListProfiles(c.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(profiles)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PROFILE\tDRIVER\tSTATUS\tVERSION\tIP\tAPI SERVER\tLOADBALANCER RANGE")
			for _, p := range profiles {
				lb := p.LBRange
				if lb == "" {
					lb = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\thttps://127.0.0.1:%d\t%s\n", p.Name, p.Driver, p.Status, p.KubernetesVersion, p.NodeIP, p.APIServerPort, lb)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	c.AddCommand(list)
	return c
}

func (a *app) pauseCmds() []*cobra.Command {
	pause := &cobra.Command{
		Use: "pause", Short: "Freeze the control plane and every workload", Example: "  devk pause", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			return m.Pause(c.Context(), a.profile)
		},
	}
	unpause := &cobra.Command{
		Use: "unpause", Short: "Thaw a paused cluster", Example: "  devk unpause", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			return m.Unpause(c.Context(), a.profile)
		},
	}
	return []*cobra.Command{pause, unpause}
}

// takeProfileFlag removes devk's -p/--profile from the arguments before "--" and
// applies it; what remains (after "--" if given) belongs to kubectl.
func (a *app) takeProfileFlag(args []string) ([]string, error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			return append(rest, args[i+1:]...), cluster.ValidateProfileName(a.profile)
		case arg == "-p" || arg == "--profile":
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%w: %s needs a profile name", errUsage, arg)
			}
			a.profile = args[i+1]
			i++
		case strings.HasPrefix(arg, "--profile="):
			a.profile = strings.TrimPrefix(arg, "--profile=")
		default:
			rest = append(rest, arg)
		}
	}
	return rest, cluster.ValidateProfileName(a.profile)
}

// VersionInfo is `devk version -o json`. Field names are stable.
type VersionInfo struct {
	Devk              string `json:"devk"`
	KubernetesVersion string `json:"kubernetesVersion"`
	NodeImage         string `json:"nodeImage"`
}

func (a *app) versionCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use: "version", Short: "Print devk's version, and the Kubernetes version and node image it runs",
		Example: "  devk version\n  devk version -o json", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			recipe, err := iso.NewRecipe("")
			if err != nil {
				return err
			}
			recipe.Programs = addons.Builtin().NodeImagePrograms()
			v := VersionInfo{Devk: Version, KubernetesVersion: recipe.KubernetesVersion, NodeImage: recipe.Tag()}
			// A profile that exists reports what it actually runs.
			if home, err := cluster.DefaultHome(); err == nil {
				if prof, err := home.Load(a.profile); err == nil {
					v.KubernetesVersion, v.NodeImage = prof.KubernetesVersion, prof.NodeImage
				}
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(v)
			}
			fmt.Fprintf(a.stdout, "devk: %s\nkubernetes: %s\nnode image: %s\n", v.Devk, v.KubernetesVersion, v.NodeImage)
			return nil
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

func (a *app) kubectlCmd() *cobra.Command {
	return &cobra.Command{
		Use:                "kubectl -- ARGS...",
		Short:              "Run a kubectl matching the cluster's version, on the profile's context",
		Example:            "  devk kubectl -- get pods -A\n  devk kubectl -- apply -f app.yaml",
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			// With flag parsing off, cobra hands over devk's own flags too (`devk -p x kubectl`).
			args, err := a.takeProfileFlag(args)
			if err != nil {
				return err
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			bin, err := m.Kubectl(c.Context(), a.profile)
			if err != nil {
				return err
			}
			cmd := exec.CommandContext(c.Context(), bin, append([]string{"--context", a.profile, "--kubeconfig", m.Kubeconfig}, args...)...)
			// kubectl gets the terminal itself (a pipe would stop `kubectl edit` and colours).
			a.endProgress()
			cmd.Stdin, cmd.Stdout, cmd.Stderr = c.InOrStdin(), unwrap(a.stdout), unwrap(a.stderr)
			err = cmd.Run()
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				return &statusExit{code: exit.ExitCode()}
			}
			return err
		},
	}
}
