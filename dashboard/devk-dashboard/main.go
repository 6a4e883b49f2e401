// Command devk-dashboard is devk's web dashboard as it runs in the cluster (the
// dashboard addon): it talks to the API server with its pod's service account.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/devk-dev/devk/dashboard"
)

func main() {
	addr := flag.String("listen", dashboard.ListenAddr, "address to listen on")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "devk-dashboard:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster config (the dashboard runs in a pod): %w", err)
	}
	// Every view holds a few watches; the defaults (5 QPS) would throttle page loads.
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "devk-dashboard"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{
		Addr: addr,
		// Event streams end with the server, not after Shutdown's grace period.
		BaseContext:       func(net.Listener) context.Context { return ctx },
		Handler:           (&dashboard.Server{Client: client, Metrics: dashboard.MetricsAPI(client.Discovery().RESTClient())}).Handler(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("devk-dashboard listening on %s", addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
