package cmd

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/devk-dev/devk/cluster"
)

// configCmd is `devk config`. Building it also gives --profile its `devk config`
// default (see applyProfileSetting).
func (a *app) configCmd() *cobra.Command {
	a.applyProfileSetting()
	keys := strings.Join(cluster.SettingKeys(), ", ")
	c := &cobra.Command{
		Use:   "config",
		Short: "Set persistent defaults for devk start flags",
		Long: `Set persistent defaults for devk start flags, kept in $DEVK_HOME/config.json.

Keys: ` + keys + `.
A flag on the command line wins over the environment variable DEVK_<KEY> (upper case,
dashes as underscores: DEVK_CPUS, DEVK_KUBERNETES_VERSION), which wins over this file,
which wins over devk's built-in default. Settings apply when a cluster is created; an
existing profile keeps what it was created with. The profile setting picks the default
-p/--profile of every command.`,
		Example: `  devk config set cpus 4
  devk config set ports 8080:30080,8443:30443
  devk config get cpus
  devk config unset cpus
  devk config view -o json`,
	}
	set := &cobra.Command{
		Use: "set KEY VALUE", Short: "Set a default (checked as the start flag would be)", Args: cobra.ExactArgs(2),
		Example: "  devk config set memory 6g",
		RunE: func(c *cobra.Command, args []string) error {
			key, value := args[0], args[1]
			if err := validateSetting(key, value); err != nil {
				return err
			}
			home, err := cluster.DefaultHome()
			if err != nil {
				return err
			}
			return home.UpdateSettings(func(s cluster.Settings) error { s[key] = value; return nil })
		},
	}
	get := &cobra.Command{
		Use: "get KEY", Short: "Print a default", Args: cobra.ExactArgs(1), Example: "  devk config get memory",
		RunE: func(c *cobra.Command, args []string) error {
			if err := cluster.ValidateSettingKey(args[0]); err != nil {
				return err
			}
			s, err := a.settings()
			if err != nil {
				return err
			}
			v, ok := s[args[0]]
			if !ok {
				return fmt.Errorf("%s is not set; set it with `devk config set %s VALUE`", args[0], args[0])
			}
			fmt.Fprintln(a.stdout, v)
			return nil
		},
	}
	unset := &cobra.Command{
		Use: "unset KEY", Short: "Remove a default, going back to devk's built-in one", Args: cobra.ExactArgs(1),
		Example: "  devk config unset memory",
		RunE: func(c *cobra.Command, args []string) error {
			if err := cluster.ValidateSettingKey(args[0]); err != nil {
				return err
			}
			home, err := cluster.DefaultHome()
			if err != nil {
				return err
			}
			return home.UpdateSettings(func(s cluster.Settings) error { delete(s, args[0]); return nil })
		},
	}
	var output string
	view := &cobra.Command{
		Use: "view", Short: "Print every default that is set", Args: cobra.NoArgs, Example: "  devk config view -o json",
		RunE: func(c *cobra.Command, _ []string) error {
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			s, err := a.settings()
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(s)
			}
			keys := make([]string, 0, len(s))
			for k := range s {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 1, ' ', 0)
			for _, k := range keys {
				fmt.Fprintf(tw, "%s:\t%s\n", k, s[k])
			}
			return tw.Flush()
		},
	}
	view.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	c.AddCommand(set, get, unset, view)
	return c
}

func (a *app) settings() (cluster.Settings, error) {
	home, err := cluster.DefaultHome()
	if err != nil {
		return nil, err
	}
	return home.LoadSettings()
}

// applyProfileSetting makes the profile setting the default of -p/--profile, below
// DEVK_PROFILE. It must run after the root command defined the flag (whose default it
// replaces) and before the arguments are parsed (which override it): the root command
// builds its subcommands in between. A settings file it cannot read is reported by the
// commands that need it, not here.
func (a *app) applyProfileSetting() {
	if os.Getenv(cluster.EnvVar("profile")) != "" {
		return
	}
	// A hand-edited bad name is ignored rather than failing every command, `devk config` included.
	if s, err := a.settings(); err == nil && cluster.ValidateProfileName(s["profile"]) == nil {
		a.profile = s["profile"]
	}
}
