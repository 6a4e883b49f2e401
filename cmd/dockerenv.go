package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

// dockerEnvVars are set (or unset) in this order; DEVK_ACTIVE_DOCKERD marks a shell
// pointed at a devk node.
var dockerEnvVars = []string{"DOCKER_TLS_VERIFY", "DOCKER_HOST", "DOCKER_CERT_PATH", "DEVK_ACTIVE_DOCKERD"}

var shells = []string{"bash", "zsh", "fish", "powershell", "cmd"}

func (a *app) dockerEnvCmd() *cobra.Command {
	var shell, output string
	var unset bool
	c := &cobra.Command{
		Use:   "docker-env",
		Short: "Point a docker client at the node's Docker engine (images built there run in pods)",
		Example: `  eval $(devk docker-env)
  docker build -t web-app:1.0 .       # then use image: web-app:1.0, imagePullPolicy: Never
  eval $(devk docker-env --unset)
  devk docker-env --shell fish | source`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := validateOutput(output, "json", "text"); err != nil {
				return err
			}
			if !slices.Contains(shells, shell) {
				return fmt.Errorf("%w: --shell %q: use one of %s", errUsage, shell, strings.Join(shells, ", "))
			}
			if unset {
				return writeShellEnv(a.stdout, shell, a.profile, nil)
			}
			m, _, err := a.manager(a.reporter("text"))
			if err != nil {
				return err
			}
			env, err := m.DockerEnv(c.Context(), a.profile)
			if err != nil {
				return err
			}
			if output == "json" {
				return json.NewEncoder(a.stdout).Encode(env)
			}
			return writeShellEnv(a.stdout, shell, a.profile, map[string]string{
				"DOCKER_TLS_VERIFY": env.TLSVerify, "DOCKER_HOST": env.Host, "DOCKER_CERT_PATH": env.CertPath, "DEVK_ACTIVE_DOCKERD": env.Profile,
			})
		},
	}
	c.Flags().StringVar(&shell, "shell", "bash", "shell syntax: "+strings.Join(shells, ", "))
	c.Flags().BoolVarP(&unset, "unset", "u", false, "print the commands that undo docker-env")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

// writeShellEnv prints set (values non-nil) or unset commands in the shell's syntax,
// followed by the usual hint.
func writeShellEnv(w io.Writer, shell, profile string, values map[string]string) error {
	for _, k := range dockerEnvVars {
		var line string
		switch {
		case values == nil && shell == "fish":
			line = "set -e " + k + ";"
		case values == nil && shell == "powershell":
			line = `Remove-Item Env:\\` + k + " -ErrorAction SilentlyContinue"
		case values == nil && shell == "cmd":
			line = "SET " + k + "="
		case values == nil:
			line = "unset " + k
		case shell == "fish":
			line = fmt.Sprintf("set -gx %s %q;", k, values[k])
		case shell == "powershell":
			line = fmt.Sprintf("$Env:%s = %q", k, values[k])
		case shell == "cmd":
			line = fmt.Sprintf("SET %s=%s", k, values[k])
		default:
			line = fmt.Sprintf("export %s=%q", k, values[k])
		}
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	invocation := "devk -p " + profile + " docker-env"
	if values == nil {
		invocation += " --unset"
	}
	comment, hint := "#", "eval $("+invocation+")"
	switch shell {
	case "fish":
		hint = invocation + " --shell fish | source"
	case "powershell":
		hint = "& " + invocation + " --shell powershell | Invoke-Expression"
	case "cmd":
		comment, hint = "REM", "@FOR /f \"tokens=*\" %i IN ('"+invocation+" --shell cmd') DO @%i"
	}
	_, err := fmt.Fprintf(w, "\n%s To point your shell at devk's Docker engine, run:\n%s %s\n", comment, comment, hint)
	return err
}
