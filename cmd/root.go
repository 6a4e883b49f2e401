// Package cmd holds devk's cobra commands: they parse flags, call packages and print.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/devk-dev/devk/addons"
	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/driver"
	"github.com/devk-dev/devk/driver/docker"
	"github.com/devk-dev/devk/driver/qemu"
	"github.com/devk-dev/devk/iso"
)

// app carries what every command shares: the streams and the global flags.
type app struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	// terminal is stderr itself, where the live progress view draws.
	terminal io.Writer
	profile  string
	// driverName is --driver of `devk start`; other commands use the profile's driver.
	driverName string
	// accel is --accel of `devk start` (the qemu driver's accelerator).
	accel string
	// closers run when the command ends, before anything else is printed.
	closers []func()
	// live is the terminal progress view while it runs (nil otherwise).
	live *teaReporter
}

// endingWriter ends the live progress view before the first thing a command prints on
// stdout or stderr, so the view's last redraw cannot overwrite it (both are usually the
// same terminal).
type endingWriter struct {
	a *app
	w io.Writer
}

func (e endingWriter) Write(p []byte) (int, error) {
	e.a.endProgress()
	return e.w.Write(p)
}

// unwrap is the stream beneath an endingWriter, for a child process that must get the
// terminal itself rather than a pipe.
func unwrap(w io.Writer) io.Writer {
	if e, ok := w.(endingWriter); ok {
		return e.w
	}
	return w
}

// warn prints a warning line, above the live progress view when there is one.
func (a *app) warn(msg string) {
	line := "devk: warning: " + msg
	if a.live != nil {
		a.live.Println(line)
		return
	}
	fmt.Fprintln(a.stderr, line)
}

// Execute runs devk with args and returns the exit code and the error to print.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) (int, error) {
	a := &app{ctx: ctx, terminal: stderr}
	a.stdout, a.stderr = endingWriter{a: a, w: stdout}, endingWriter{a: a, w: stderr}
	root := &cobra.Command{
		Use:           "devk",
		Short:         "devk runs a single-node Kubernetes cluster on this machine",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(c *cobra.Command, _ []string) error {
			return cluster.ValidateProfileName(a.profile)
		},
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fmt.Errorf("%w: %v (see --help)", errUsage, err) })
	root.PersistentFlags().StringVarP(&a.profile, "profile", "p", envOr("DEVK_PROFILE", "devk"), "profile (cluster) name")
	root.AddCommand(a.startCmd(), a.stopCmd(), a.deleteCmd(), a.statusCmd(), a.nodeImageCmd(), a.dockerEnvCmd(), a.serviceCmd(),
		a.ipCmd(), a.sshCmd(), a.cpCmd(), a.logsCmd(), a.updateContextCmd(), a.profileCmd(), a.versionCmd(), a.kubectlCmd(), a.imageCmd(), a.configCmd(), a.mountCmd(), a.addonsCmd(), a.dashboardCmd(), a.snapshotCmd(), a.cacheCmd())
	root.AddCommand(a.pauseCmds()...)
	err := root.ExecuteContext(ctx)
	a.endProgress()
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: interrupted; run the command again to resume: %v", context.Canceled, err)
	}
	if err != nil && !errors.Is(err, errUsage) && isCobraUsageError(err) {
		err = fmt.Errorf("%w: %v (see --help)", errUsage, err)
	}
	return ExitCode(err), err
}

// isCobraUsageError recognizes cobra's own argument errors (unknown command, bad args).
func isCobraUsageError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// reporter picks how progress is shown: JSON events, a live view on a terminal, or
// plain lines for logs and pipes.
func (a *app) reporter(output string) cluster.Reporter {
	switch {
	case output == "json":
		return newJSONReporter(a.stdout)
	case isTerminal(a.terminal) && os.Getenv("TERM") != "dumb":
		r := newTeaReporter(a.terminal)
		a.closers = append(a.closers, r.Close)
		a.live = r
		return r
	default:
		return newLineReporter(a.stderr)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// manager wires the profile's driver (or --driver for a new one), the node image builder
// and the user's kubeconfig.
func (a *app) manager(report cluster.Reporter) (*cluster.Manager, driver.Driver, error) {
	home, err := cluster.DefaultHome()
	if err != nil {
		return nil, nil, err
	}
	kubeconfig, err := cluster.UserKubeconfigPath()
	if err != nil {
		return nil, nil, err
	}
	// An explicit --driver wins (start then refuses a mismatch with the profile); otherwise
	// the profile's own driver, and docker for a new profile.
	name := a.driverName
	if prof, err := home.Load(a.profile); err == nil && name == "" {
		name = prof.Driver
	}
	builder := &iso.Builder{CacheDir: home.CacheDir(), Report: report, Mirror: os.Getenv("DEVK_DEBIAN_MIRROR"),
		Programs: addons.Builtin().NodeImagePrograms()}
	if os.Getenv("DEVK_BUILD_LOG") != "" {
		if f, err := os.OpenFile(os.Getenv("DEVK_BUILD_LOG"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
			builder.Log = f
		}
	}
	drv, err := a.newDriver(name, home)
	if err != nil {
		return nil, nil, err
	}
	if d, ok := drv.(*docker.Driver); ok {
		builder.Engine = d
	} else {
		builder.VM = true
	}
	cache := &cluster.ImageCache{Program: addons.ImageCacheProgram(), UpstreamOverrides: os.Getenv(cluster.ImageCacheUpstreamsVar), Build: builder.GoImage}
	return &cluster.Manager{
		Home: home, Driver: drv, Images: builder, Report: report, Kubeconfig: kubeconfig,
		DriverNamed: func(name string) (driver.Driver, error) { return a.newDriver(name, home) },
		ImageCache:  cache, Warn: a.warn,
	}, drv, nil
}

// newDriver makes the named driver (docker when name is empty) for home.
func (a *app) newDriver(name string, home cluster.Home) (driver.Driver, error) {
	if name == "qemu" {
		return &qemu.Driver{Dir: filepath.Join(home.Dir, "machines"), Accel: a.accel, StateDir: filepath.Join(home.CacheDir(), "qemu"),
			Warn: a.warn}, nil
	}
	homeID, err := home.ID()
	if err != nil {
		return nil, err
	}
	return docker.New(filepath.Join(home.CacheDir(), "docker"), homeID)
}

func validateOutput(output string, allowed ...string) error {
	if output == "" {
		return nil
	}
	for _, o := range allowed {
		if output == o {
			return nil
		}
	}
	return fmt.Errorf("%w: --output %q: use one of %v", errUsage, output, allowed)
}
