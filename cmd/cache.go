package cmd

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) cacheCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "cache",
		Short: "The shared image cache: every image a cluster pulled, kept for every later cluster and offline",
	}
	var output string
	list := &cobra.Command{
		Use: "list", Short: "List the images the cache holds, with their sizes",
		Example: "  devk cache list\n  devk cache list -o json", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			contents, err := m.ImageCacheList()
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(contents)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tSIZE\tDIGEST")
			for _, img := range contents.Images {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", img.Image, humanBytes(img.Size), shortDigest(img.Digest))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "%d images, %s on disk in %s\n", len(contents.Images), humanBytes(contents.DiskBytes), contents.Dir)
			return nil
		},
	}
	list.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	rm := &cobra.Command{
		Use: "rm IMAGE...", Short: "Remove images from the cache (every tag of a name given without one)",
		Example: "  devk cache rm busybox:1.37\n  devk cache rm ghcr.io/org/app", Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			if err := m.ImageCacheRemove(c.Context(), args...); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "Removed %s from the image cache.\n", strings.Join(args, ", "))
			return nil
		},
	}
	prune := &cobra.Command{
		Use: "prune", Short: "Empty the cache (clusters keep the images they have)",
		Example: "  devk cache prune", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			freed, err := m.ImageCachePrune(c.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "Emptied the image cache: %s freed.\n", humanBytes(freed))
			return nil
		},
	}
	c.AddCommand(list, rm, prune)
	return c
}

// shortDigest is a digest as `docker images` shows an ID: 12 hex digits.
func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}
