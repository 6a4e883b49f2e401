package cmd

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) snapshotCmd() *cobra.Command {
	c := &cobra.Command{Use: "snapshot", Short: "Save the whole cluster and go back to it (objects, volume data, images, settings)"}
	save := &cobra.Command{
		Use:   "save NAME",
		Short: "Save the cluster as a snapshot (a running cluster is paused for the copy)",
		Example: `  devk snapshot save seeded
  devk snapshot save before-upgrade -p dev`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			snap, err := m.SnapshotSave(c.Context(), a.profile, args[0])
			if err != nil {
				return err
			}
			how := "from the " + snap.From + " node"
			if snap.FrozenSeconds > 0 {
				how = fmt.Sprintf("the workloads were frozen for %.1f s", snap.FrozenSeconds)
			}
			fmt.Fprintf(a.stdout, "Saved snapshot %q of cluster %q in %.1f s (node disk %s, %s more on this disk); %s.\n", snap.Name, a.profile, snap.Seconds, humanBytes(snap.DiskSize), humanBytes(snap.Size), how)
			return nil
		},
	}
	restore := &cobra.Command{
		Use:     "restore NAME",
		Short:   "Put the cluster back as the snapshot saved it; what was created since is gone",
		Example: `  devk snapshot restore seeded`,
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			m.Addons = addonManager(m, m.Report)
			snap, started, err := m.SnapshotRestore(c.Context(), a.profile, args[0])
			if err != nil {
				return err
			}
			state := "stopped; `devk start -p " + a.profile + "` runs it"
			if started {
				state = "running"
			}
			fmt.Fprintf(a.stdout, "Restored cluster %q from snapshot %q (saved %s); it is %s.\n", a.profile, snap.Name, snap.Created.Local().Format("2006-01-02 15:04:05"), state)
			return nil
		},
	}
	var output string
	list := &cobra.Command{
		Use: "list", Short: "List the cluster's snapshots", Example: "  devk snapshot list\n  devk snapshot list -o json", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			snaps, err := m.SnapshotList(a.profile)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(snaps)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			// DISK is the node's disk it holds; ADDED what saving it added to the host's disk
			// (files it shares with older snapshots are kept once).
			fmt.Fprintln(tw, "NAME\tCREATED\tDISK\tADDED\tKUBERNETES\tNODE IMAGE\tTAKEN FROM")
			for _, s := range snaps {
				disk := "-" // not recorded by format 1
				if s.DiskSize > 0 {
					disk = humanBytes(s.DiskSize)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Created.Local().Format("2006-01-02 15:04:05"), disk, humanBytes(s.Size), s.KubernetesVersion, s.NodeImage, s.From)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a snapshot", Example: "  devk snapshot delete seeded", Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			if err := m.SnapshotDelete(a.profile, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "Deleted snapshot %q of cluster %q.\n", args[0], a.profile)
			return nil
		},
	}
	c.AddCommand(save, restore, list, del)
	return c
}
