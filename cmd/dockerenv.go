package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/devk-dev/devk/driver/docker"
)

// dockerEnvVars are set (or unset) in this order; DEVK_ACTIVE_DOCKERD marks a shell
// pointed at a devk node, DEVK_DOCKER_HOST_BEFORE keeps the engine it used before (devk
// keeps using that one, and --unset restores it).
var dockerEnvVars = []string{"DOCKER_TLS_VERIFY", "DOCKER_HOST", "DOCKER_CERT_PATH", docker.ActiveDockerdVar, docker.BeforeHostVar}

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
			before := os.Getenv("DOCKER_HOST")
			if os.Getenv(docker.ActiveDockerdVar) != "" {
				before = os.Getenv(docker.BeforeHostVar) // DOCKER_HOST is a node's
			}
			if unset {
				return writeShellEnv(a.stdout, shell, a.profile, nil, before)
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
				"DOCKER_TLS_VERIFY": env.TLSVerify, "DOCKER_HOST": env.Host, "DOCKER_CERT_PATH": env.CertPath,
				docker.ActiveDockerdVar: env.Profile, docker.BeforeHostVar: before,
			}, before)
		},
	}
	c.Flags().StringVar(&shell, "shell", "bash", "shell syntax: "+strings.Join(shells, ", "))
	c.Flags().BoolVarP(&unset, "unset", "u", false, "print the commands that undo docker-env")
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}

// writeShellEnv prints set (values non-nil) or unset commands in the shell's syntax,
// followed by the usual hint. Unsetting gives DOCKER_HOST back its value from before
// docker-env, if it had one.
func writeShellEnv(w io.Writer, shell, profile string, values map[string]string, before string) error {
	for _, k := range dockerEnvVars {
		var line string
		switch {
		case values == nil && k == "DOCKER_HOST" && before != "":
			line = setLine(shell, k, before)
		case values == nil && shell == "fish":
			line = "set -e " + k + ";"
		case values == nil && shell == "powershell":
			line = `Remove-Item Env:\\` + k + " -ErrorAction SilentlyContinue"
		case values == nil && shell == "cmd":
			line = "SET " + k + "="
		case values == nil:
			line = "unset " + k
		default:
			line = setLine(shell, k, values[k])
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

// setLine sets k to v in the shell's syntax.
func setLine(shell, k, v string) string {
	switch shell {
	case "fish":
		return fmt.Sprintf("set -gx %s %q;", k, v)
	case "powershell":
		return fmt.Sprintf("$Env:%s = %q", k, v)
	case "cmd":
		return fmt.Sprintf("SET %s=%s", k, v)
	}
	return fmt.Sprintf("export %s=%q", k, v)
}
