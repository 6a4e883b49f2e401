package cmd

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"
	"text/template"
	"time"

	"github.com/pkg/browser"
	"github.com/spf13/cobra"

	"github.com/devk-dev/devk/cluster"
)

func (a *app) serviceCmd() *cobra.Command {
	var (
		namespace, format string
		url, https        bool
		wait              time.Duration
	)
	c := &cobra.Command{
		Use:   "service NAME",
		Short: "Print or open the host URLs of a NodePort or LoadBalancer service",
		Example: `  devk service web --url
  devk service web -n shop --https --url
  devk service web --url --format '{{.IP}}:{{.NodePort}}'
  devk service list`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			tmpl, err := template.New("format").Option("missingkey=error").Parse(format)
			if err != nil {
				return fmt.Errorf("%w: --format: %v", errUsage, err)
			}
			if wait < 0 {
				return fmt.Errorf("%w: --wait must not be negative", errUsage)
			}
			scheme := "http"
			if https {
				scheme = "https"
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			ports, err := m.ServiceURLs(c.Context(), a.profile, namespace, args[0], scheme, wait, func(msg string) { fmt.Fprintln(a.stderr, msg) })
			if err != nil {
				return err
			}
			for _, p := range ports {
				if url {
					if err := tmpl.Execute(a.stdout, p); err != nil {
						return fmt.Errorf("%w: --format: %v", errUsage, err)
					}
					fmt.Fprintln(a.stdout)
					continue
				}
				fmt.Fprintf(a.stderr, "Opening %s in your browser ...\n", p.URL)
				if err := browser.OpenURL(p.URL); err != nil {
					return fmt.Errorf("open a browser (use --url to print the URL instead): %w", err)
				}
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&namespace, "namespace", "n", "default", "namespace of the service")
	f.BoolVar(&url, "url", false, "print the URLs instead of opening a browser")
	f.BoolVar(&https, "https", false, "use https:// in the URLs")
	f.StringVar(&format, "format", "{{.URL}}", "Go template for each URL (fields: URL, IP, NodePort, Port, Name, Service, Namespace)")
	f.DurationVar(&wait, "wait", 2*time.Minute, "how long to wait for a ready pod behind the service")
	c.AddCommand(a.serviceListCmd())
	return c
}

func (a *app) serviceListCmd() *cobra.Command {
	var namespace, output string
	c := &cobra.Command{
		Use:     "list",
		Short:   "List services and their host URLs",
		Example: "  devk service list\n  devk service list -n kube-system -o json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			ports, err := m.ListServices(c.Context(), a.profile, namespace)
			if err != nil {
				return err
			}
			if output == "json" {
				if ports == nil {
					ports = []cluster.ServicePort{}
				}
				return json.NewEncoder(a.stdout).Encode(ports)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAMESPACE\tNAME\tPORT\tURL")
			for _, p := range ports {
				port, url := p.Name, p.URL
				if url == "" {
					port, url = "-", "(no node port)"
				}
				if port == "" {
					port = fmt.Sprint(p.Port)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p.Namespace, p.Service, port, url)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&namespace, "namespace", "n", "", "namespace (all when empty)")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}
