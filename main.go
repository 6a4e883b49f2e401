// Command devk runs a single-node Kubernetes cluster on this machine.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/devk-dev/devk/cmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := cmd.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if msg := cmd.FormatError(err); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
	}
	os.Exit(code)
}
