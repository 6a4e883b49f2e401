package cmd

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/pkg/browser"
	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/devk-dev/devk/addons"
	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/dashboard"
	"github.com/devk-dev/devk/dashboard/local"
	"github.com/devk-dev/devk/dashboard/tokenauth"
)

func (a *app) dashboardCmd() *cobra.Command {
	var (
		printURL bool
		port     int
	)
	c := &cobra.Command{
		Use:   "dashboard",
		Short: "Open devk's web dashboard (enables the dashboard addon on first use)",
		Long: `Serve the cluster's web dashboard on 127.0.0.1 until Ctrl-C, and open it in a browser.

The first run enables the dashboard addon (its image is built from the source devk
carries, a minute or two, then cached). Shells in containers, port forwards (to
127.0.0.1, for as long as the command runs) and applying YAML run in this command,
with your kubeconfig's credentials. The local server reaches the dashboard through
the API server's service proxy with your kubeconfig's credentials; it answers only on
127.0.0.1, and only to requests with a token made for this launch: it is in the URL devk
opens or prints (the page then keeps it in a cookie), so other users of the machine
cannot use your credentials through it. Scripts may send "Authorization: Bearer TOKEN".`,
		Example: `  devk dashboard
  devk dashboard --url
  devk dashboard --url --port 8001 -p dev2`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if port < 0 || port > 65535 {
				return fmt.Errorf("%w: --port %d: use 1-65535, or 0 for a free port", errUsage, port)
			}
			ctx := c.Context()
			report := a.reporter("text")
			m, _, err := a.manager(report)
			if err != nil {
				return err
			}
			prof, err := m.Home.Load(a.profile)
			if err != nil {
				return err
			}
			cfg, err := profileRESTConfig(a.profile)
			if err != nil {
				return err
			}
			if err := a.ensureDashboard(ctx, m, report, prof, cfg); err != nil {
				return err
			}
			a.endProgress() // the command keeps running: give the terminal back
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				return fmt.Errorf("%w: --port %d: %v (pick another port, or leave --port out for a free one)", errUsage, port, err)
			}
			bound := ln.Addr().(*net.TCPAddr).Port
			hostPort := "127.0.0.1:" + strconv.Itoa(bound)
			hosts := []string{hostPort, "localhost:" + strconv.Itoa(bound)}
			proxy, err := dashboard.NewProxy(cfg, hosts)
			if err != nil {
				ln.Close()
				return err
			}
			// Shells, port forwards and apply run here, with the user's credentials.
			host, err := local.New(cfg)
			if err != nil {
				ln.Close()
				return err
			}
			defer host.Close() // the port forwards end with the command
			// 127.0.0.1 is open to every user of the machine: the token keeps them from
			// reaching the cluster with this user's credentials.
			token := tokenauth.NewToken()
			handler, err := tokenauth.Require(dashboard.RequireHost(hosts, host.Handler(proxy)), token, bound)
			if err != nil {
				ln.Close()
				return err
			}
			srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			url := "http://" + hostPort + "/?" + tokenauth.Param + "=" + token // the token needs no escaping
			if printURL {
				fmt.Fprintln(a.stdout, url)
				fmt.Fprintln(a.stderr, "Serving the dashboard; press Ctrl-C to stop.")
			} else {
				fmt.Fprintf(a.stderr, "Opening %s in your browser; press Ctrl-C to stop.\n", url)
				if err := browser.OpenURL(url); err != nil {
					fmt.Fprintf(a.stderr, "devk: could not open a browser (%v); open %s yourself.\n", err, url)
				}
			}
			select {
			case err := <-served:
				return fmt.Errorf("serve the dashboard on %s: %w", hostPort, err)
			case <-ctx.Done():
			}
			shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdown)
			return nil
		},
	}
	c.Flags().BoolVar(&printURL, "url", false, "print the URL instead of opening a browser (and keep serving until Ctrl-C)")
	c.Flags().IntVar(&port, "port", 0, "local port to serve on (default: a free one)")
	return c
}

// endProgress draws the final state of the progress view and gives the terminal back,
// for a command that prints and keeps running after its steps.
func (a *app) endProgress() {
	closers := a.closers
	a.closers, a.live = nil, nil
	for _, closeFn := range closers {
		closeFn()
	}
}

// profileRESTConfig is the user's kubeconfig (every $KUBECONFIG file, or ~/.kube/config)
// at the profile's context: the dashboard is reached with the user's own credentials.
func profileRESTConfig(profile string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: profile}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: kubeconfig context %q: %v; run `devk update-context -p %s`", cluster.ErrNotRunning, profile, err, profile)
	}
	return cfg, nil
}

// ensureDashboard enables the dashboard addon when the profile lacks it, or it is not
// available, or it runs another image than this devk's (enabling builds the image on
// first use and waits until the addon is healthy).
func (a *app) ensureDashboard(ctx context.Context, m *cluster.Manager, report cluster.Reporter, prof *cluster.Profile, cfg *rest.Config) error {
	addon := addons.Dashboard()
	if slices.Contains(prof.Addons, addon.Name) && dashboardAvailable(ctx, cfg, addon.Images["Dashboard"].Image) {
		return nil
	}
	return addonManager(m, report).EnableOnProfile(ctx, m, a.profile, addon.Name)
}

// dashboardAvailable reports whether the dashboard's Deployment runs image and has an
// available, up-to-date replica.
func dashboardAvailable(ctx context.Context, cfg *rest.Config, image string) bool {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := cs.AppsV1().Deployments(dashboard.Namespace).Get(ctx, "dashboard", metav1.GetOptions{})
	if err != nil {
		return false
	}
	ctrs := d.Spec.Template.Spec.Containers
	return len(ctrs) == 1 && ctrs[0].Image == image &&
		d.Generation == d.Status.ObservedGeneration && d.Status.UpdatedReplicas > 0 && d.Status.AvailableReplicas > 0
}
