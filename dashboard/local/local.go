// Package local serves the parts of `devk dashboard` that run on the host, in front of
// the API server's proxy to the in-cluster dashboard: a shell in a container, port
// forwards to 127.0.0.1 and applying YAML. They run with the user's kubeconfig
// credentials, as kubectl would, so the dashboard's ServiceAccount needs none of the
// powers they take (exec into any pod, create any object): it stays read-mostly.
//
// Like tokenauth, the package lives outside the dashboard package, whose files are the
// source of the dashboard's image.
package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/devk-dev/devk/dashboard"
)

// Server answers the host-side API calls.
type Server struct {
	// Exec runs a shell in a container (APIExec in production).
	Exec ExecFunc
	// Forwards are this launch's port forwards.
	Forwards *Forwards
	// Apply applies YAML.
	Apply *Applier
}

// New is a Server that reaches the cluster with cfg (the user's kubeconfig).
func New(cfg *rest.Config) (*Server, error) {
	cfg = rest.CopyConfig(cfg)
	// Discovery on the first apply asks for every API group: the default 5 QPS would
	// throttle it (and klog would say so on the terminal).
	cfg.QPS, cfg.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	applier, err := NewApplier(cfg)
	if err != nil {
		return nil, err
	}
	return &Server{
		Exec:     APIExec(cfg, cs),
		Forwards: NewForwards(cs, APIForward(cfg, cs)),
		Apply:    applier,
	}, nil
}

// Close stops every port forward.
func (s *Server) Close() { s.Forwards.Close() }

// Handler serves the host-side calls and passes everything else to next (the proxy to
// the in-cluster dashboard). Changes need the dashboard's CSRF header, as there.
func (s *Server) Handler(next http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/exec", s.handleExec)
	mux.HandleFunc("GET /api/forwards", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Forwards.List())
	})
	mux.HandleFunc("POST /api/forwards", s.handleForward)
	mux.HandleFunc("POST /api/forwards/stop", s.handleStopForward)
	mux.HandleFunc("POST /api/apply", s.handleApply)
	mux.Handle("/", next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && strings.HasPrefix(r.URL.Path, "/api/") && r.Header.Get(dashboard.CSRFHeader) != "1" {
			writeError(w, http.StatusForbidden, fmt.Errorf("changes need the %s: 1 header", dashboard.CSRFHeader))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// apiError is the body of a failed call, as the in-cluster dashboard's.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error()})
}

// writeKubeError answers with the API server's status code for its errors (an invalid
// object is 422), else with code.
func writeKubeError(w http.ResponseWriter, code int, err error) {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code >= 400 {
		code = int(status.Status().Code)
	}
	writeError(w, code, err)
}

// readJSON decodes a small request body.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: %v", err))
		return false
	}
	return true
}

// maxBody bounds a request body: pasted YAML of a few objects.
const maxBody = 4 << 20
