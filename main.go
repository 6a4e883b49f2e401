// Command devk runs a single-node Kubernetes cluster on this machine.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"

	"github.com/devk-dev/devk/cmd"
)

func main() {
	// client-go logs retries through klog; devk reports failures itself, in one line.
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := cmd.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	if msg := cmd.FormatError(err); msg != "" {
		fmt.Fprintln(os.Stderr, msg)
	}
	os.Exit(code)
}
