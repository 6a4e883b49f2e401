package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

func (a *app) imageCmd() *cobra.Command {
	c := &cobra.Command{Use: "image", Short: "Manage the cluster's images (no registry needed)"}
	var output string
	ls := &cobra.Command{
		Use: "ls", Short: "List the cluster's images", Example: "  devk image ls\n  devk image ls -o json", Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			images, err := m.ImageList(c.Context(), a.profile)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(images)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "IMAGE\tID\tSIZE")
			for _, img := range images {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", img.Ref, img.ID, humanBytes(img.Size))
			}
			return tw.Flush()
		},
	}
	ls.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")

	rm := &cobra.Command{
		Use: "rm IMAGE...", Short: "Remove images from the cluster", Example: "  devk image rm web-app:1.0", Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			return m.ImageRemove(c.Context(), a.profile, args)
		},
	}

	load := &cobra.Command{
		Use:   "load IMAGE|ARCHIVE",
		Short: "Load an image from the host's Docker engine, or a `docker save` archive, into the cluster",
		Example: `  devk image load web-app:1.0
  devk image load ./web-app.tar`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			bar := newProgressBar(a.stderr, isTerminal(a.terminal), "Loading "+args[0])
			msg, err := m.ImageLoad(c.Context(), a.profile, args[0], bar.update)
			bar.finish(err)
			if err != nil {
				return err
			}
			if msg != "" {
				fmt.Fprintln(a.stdout, msg)
			}
			return nil
		},
	}

	var tags []string
	var dockerfile string
	build := &cobra.Command{
		Use:     "build DIR",
		Short:   "Build an image in the node from DIR's Dockerfile",
		Example: "  devk image build -t web-app:1.0 ./web-app",
		Args:    cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			return m.ImageBuild(c.Context(), a.profile, args[0], dockerfile, tags, a.stderr)
		},
	}
	build.Flags().StringSliceVarP(&tags, "tag", "t", nil, "name:tag for the image (repeatable)")
	build.Flags().StringVarP(&dockerfile, "file", "f", "", "Dockerfile name within DIR (default Dockerfile)")
	c.AddCommand(ls, rm, load, build)
	return c
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// progressBar redraws one line on a terminal, at most five times a second; elsewhere it
// prints only the final line.
type progressBar struct {
	out   io.Writer
	label string
	tty   bool
	last  time.Time
	start time.Time
	done  int64
}

func newProgressBar(out io.Writer, tty bool, label string) *progressBar {
	return &progressBar{out: out, label: label, tty: tty, start: time.Now()}
}

func (p *progressBar) update(done, total int64) {
	p.done = done
	if !p.tty || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	if total > 0 {
		width := 30
		filled := int(float64(width) * float64(min(done, total)) / float64(total))
		fmt.Fprintf(p.out, "\r%s [%s%s] %s / %s", p.label, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), humanBytes(done), humanBytes(total))
		return
	}
	fmt.Fprintf(p.out, "\r%s %s", p.label, humanBytes(done))
}

func (p *progressBar) finish(err error) {
	if p.tty {
		fmt.Fprint(p.out, "\r\033[K")
	}
	if err == nil {
		fmt.Fprintf(p.out, "%s: %s in %.1fs\n", p.label, humanBytes(p.done), time.Since(p.start).Seconds())
	}
}
