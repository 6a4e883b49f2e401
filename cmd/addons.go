package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/devk-dev/devk/addons"
	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/iso"
)

// addonManager enables addons with the same builder (cache, build log, progress) as
// the node image.
func addonManager(m *cluster.Manager, report cluster.Reporter) *addons.Manager {
	am := &addons.Manager{Catalog: addons.Builtin(), Report: report}
	if b, ok := m.Images.(*iso.Builder); ok && b != nil {
		am.Images = b
	}
	return am
}

func (a *app) addonsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "addons",
		Short: "List, enable and disable addons (storage, metrics-server, ingress, registry, ...)",
		Example: `  devk addons list
  devk addons enable metrics-server
  devk addons disable ingress`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(a.addonsListCmd(), a.addonsEnableCmd(), a.addonsDisableCmd(), a.addonsPrebuildCmd())
	return c
}

func (a *app) addonsListCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:     "list",
		Short:   "List the addons and which ones the profile has enabled",
		Example: "  devk addons list\n  devk addons list -o json",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			home, err := cluster.DefaultHome()
			if err != nil {
				return err
			}
			var enabled []string
			prof, err := home.Load(a.profile)
			switch {
			case err == nil:
				enabled = prof.Addons
			case !errors.Is(err, cluster.ErrNoProfile):
				return err
			}
			states := addons.Builtin().States(enabled)
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(states)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tENABLED\tDEFAULT\tDESCRIPTION")
			for _, s := range states {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, yesNo(s.Enabled), yesNo(s.Default), s.Description)
			}
			return tw.Flush()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (a *app) addonsEnableCmd() *cobra.Command {
	return a.addonsToggleCmd(true, &cobra.Command{
		Use:   "enable NAME",
		Short: "Enable an addon on the running cluster (built on first use) and remember it",
		Example: `  devk addons enable metrics-server
  devk addons enable ingress -p dev2`,
	})
}

func (a *app) addonsDisableCmd() *cobra.Command {
	return a.addonsToggleCmd(false, &cobra.Command{
		Use:     "disable NAME",
		Short:   "Disable an addon: delete what it applied and forget it",
		Example: "  devk addons disable metrics-server",
	})
}

// addonsToggleCmd gives enable and disable their shared arguments, checks and output.
func (a *app) addonsToggleCmd(enable bool, c *cobra.Command) *cobra.Command {
	var output string
	c.Args = cobra.ExactArgs(1)
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := validateOutput(output, "json", "text"); err != nil {
			return err
		}
		if _, err := addons.Builtin().Get(args[0]); err != nil {
			return err
		}
		report := a.reporter(output)
		m, _, err := a.manager(report)
		if err != nil {
			return err
		}
		am := addonManager(m, report)
		toggle, verb := am.DisableOnProfile, "disabled"
		if enable {
			toggle, verb = am.EnableOnProfile, "enabled"
		}
		if err := toggle(c.Context(), m, a.profile, args[0]); err != nil {
			return err
		}
		if output == "json" {
			return json.NewEncoder(a.stdout).Encode(map[string]any{"type": "result", "profile": a.profile, "addon": args[0], "enabled": enable})
		}
		fmt.Fprintf(a.stdout, "Addon %q is %s on cluster %q.\n", args[0], verb, a.profile)
		return nil
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

func (a *app) addonsPrebuildCmd() *cobra.Command {
	var background bool
	c := &cobra.Command{
		Use:   "prebuild",
		Short: "Build the optional addons' images now, so that a first enable only loads them",
		Long: `Build the images of the optional addons (metrics-server, ingress, registry) from source
into devk's cache. devk start runs this in the background, at low priority, after the
first cluster is up (turn that off with: devk config set prebuild-addons false).`,
		Example: "  devk addons prebuild",
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
			report := a.reporter("text")
			m, _, err := a.manager(report)
			if err != nil {
				return err
			}
			// One prebuild at a time: a background one leaves when another runs; one the
			// user runs waits for it (and then finds its images built).
			wait := 2 * time.Hour
			if background {
				wait = 0
			}
			if ran, err := addonManager(m, report).RunPrebuild(c.Context(), m.Home.CacheDir(), wait); err != nil || !ran {
				return err
			}
			fmt.Fprintln(a.stdout, "The optional addons' images are built.")
			return nil
		},
	}
	c.Flags().BoolVar(&background, "background", false, "leave at once if another prebuild runs (what devk start uses)")
	_ = c.Flags().MarkHidden("background")
	return c
}

// startPrebuild starts `devk addons prebuild` in the background when an optional addon's
// image is still to be built and no prebuild runs, and says so.
func (a *app) startPrebuild(m *cluster.Manager) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("start the background build: %w", err)
	}
	log := filepath.Join(m.Home.Dir, "logs", "addons-prebuild.log")
	started, err := addonManager(m, nil).StartPrebuild(m.Home.CacheDir(), exe, []string{"addons", "prebuild", "--background"}, log)
	if started {
		fmt.Fprintf(a.stderr, "Building the optional addons' images in the background at low priority, so a first `devk addons enable` only loads them (log: %s; `devk config set prebuild-addons false` turns this off).\n", log)
	}
	return err
}

// validateAddons refuses unknown addon names (for `start --addons`) before anything changes.
func validateAddons(names []string) error { return addons.Builtin().Validate(names) }
