package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/devk-dev/devk/cluster"
)

func (a *app) mountCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "mount HOST_DIR:NODE_DIR",
		Short: "Share a host folder with the node and its pods until Ctrl-C",
		Long: `Share a host folder with the running node, read-write both ways, until the command
is stopped (Ctrl-C or SIGTERM unmounts it). Pods reach it with a hostPath volume on
NODE_DIR. It needs root and a Docker engine on this machine; ` + "`devk start --mount-string`" + `
shares a folder for the whole life of a new cluster instead.`,
		Example: `  devk mount ./data:/data
  sudo devk mount "$HOME/src:/src"`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			mnt, err := cluster.ParseMount(args[0])
			if err != nil {
				return err
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			unmount, err := m.Mount(c.Context(), a.profile, mnt)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Mounted %s at %s in node %s (pods: hostPath %s); press Ctrl-C to unmount.\n",
				mnt.HostPath, mnt.NodePath, a.profile, mnt.NodePath)
			<-c.Context().Done()
			if err := unmount(); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Unmounted %s from node %s.\n", mnt.NodePath, a.profile)
			return nil
		},
	}
}
