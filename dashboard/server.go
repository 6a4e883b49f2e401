// Package dashboard is devk's web dashboard: an HTTP server with an embedded
// single-page UI that shows a cluster's objects (live, through watches), streams pod
// logs and scales, restarts and deletes. It runs in the cluster as the dashboard addon,
// with its own RBAC (see Rules), and `devk dashboard` reaches it through the API
// server's service proxy (see NewProxy).
//
// The package imports nothing from the rest of devk: devk builds the dashboard's image
// from the package's embedded source (see Source).
package dashboard

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Server serves the dashboard's UI and its JSON API under /api/.
type Server struct {
	Client kubernetes.Interface
	// Metrics reads node usage from the metrics API; nil shows no usage.
	Metrics MetricsFunc
	// Now is the clock (restart annotations); nil means time.Now.
	Now func() time.Time
	// Heartbeat is how often idle event streams send a comment, so proxies keep them
	// open; zero means 15 seconds.
	Heartbeat time.Duration
}

// CSRFHeader must be set on every request that changes something: a page on another
// origin cannot set it without a CORS preflight, which the dashboard never allows.
const CSRFHeader = "X-Devk-Dashboard"

// Handler routes the UI and the API.
func (s *Server) Handler() http.Handler {
	byName := map[string]Resource{}
	for _, r := range Resources() {
		byName[r.Name] = r
	}
	ui, err := fs.Sub(source, "ui")
	if err != nil {
		panic(err) // embedded at compile time: a missing folder is a build defect
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /api/resources", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, Resources()) })
	mux.HandleFunc("GET /api/overview", s.handleOverview)
	mux.HandleFunc("GET /api/list", func(w http.ResponseWriter, r *http.Request) { s.handleList(w, r, byName) })
	mux.HandleFunc("GET /api/watch", func(w http.ResponseWriter, r *http.Request) { s.handleWatch(w, r, byName) })
	mux.HandleFunc("GET /api/yaml", func(w http.ResponseWriter, r *http.Request) { s.handleYAML(w, r, byName) })
	mux.HandleFunc("GET /api/secret", s.handleSecret)
	mux.HandleFunc("GET /api/logs", s.handleLogs)
	mux.HandleFunc("GET /api/workloadlogs", s.handleWorkloadLogs)
	mux.HandleFunc("GET /api/related", func(w http.ResponseWriter, r *http.Request) { s.handleRelated(w, r, byName) })
	mux.HandleFunc("POST /api/scale", s.handleScale)
	mux.HandleFunc("POST /api/restart", s.handleRestart)
	mux.HandleFunc("POST /api/delete", s.handleDelete)
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, errors.New("no such API call"))
	})
	static := http.FileServerFS(ui)
	mux.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		static.ServeHTTP(w, r)
	})
	return securityHeaders(mux)
}

// securityHeaders keeps the page from being framed or sniffed, and refuses changes
// that lack the CSRF header.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// Scripts only from the dashboard itself. Styles may be inline: the terminal
		// widget (xterm.js) sizes and colours its rows through <style> elements it writes.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Header.Get(CSRFHeader) != "1" {
			writeError(w, http.StatusForbidden, fmt.Errorf("changes need the %s: 1 header", CSRFHeader))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// apiError is the body of every failed API call.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, apiError{Error: err.Error()})
}

// writeKubeError answers with the API server's status code for its errors.
func writeKubeError(w http.ResponseWriter, err error) {
	code := http.StatusBadGateway
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code >= 400 {
		code = int(status.Status().Code)
	}
	writeError(w, code, err)
}

// resourceParam reads the kind query parameter and the namespace it needs.
func resourceParam(r *http.Request, byName map[string]Resource) (Resource, string, error) {
	name := r.URL.Query().Get("kind")
	res, ok := byName[name]
	if !ok {
		return Resource{}, "", fmt.Errorf("unknown kind %q", name)
	}
	ns := r.URL.Query().Get("namespace")
	if !res.Namespaced {
		ns = ""
	}
	return res, ns, nil
}

// env looks up what rows need: the node IP that node ports answer on.
func (s *Server) env(ctx context.Context) rowEnv {
	nodes, err := s.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) == 0 {
		return rowEnv{}
	}
	return rowEnv{NodeIP: nodeInternalIP(&nodes.Items[0])}
}

// listBody is the answer of /api/list.
type listBody struct {
	Kind string `json:"kind"`
	Rows []Row  `json:"rows"`
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request, byName map[string]Resource) {
	res, ns, err := resourceParam(r, byName)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	list, err := res.api(s.Client, ns).list(r.Context(), metav1.ListOptions{})
	if err != nil {
		writeKubeError(w, err)
		return
	}
	rows, err := rowsOf(res, list, s.env(r.Context()))
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusOK, listBody{Kind: res.Name, Rows: rows})
}

func (s *Server) handleYAML(w http.ResponseWriter, r *http.Request, byName map[string]Resource) {
	res, ns, err := resourceParam(r, byName)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	obj, err := res.api(s.Client, ns).get(r.Context(), r.URL.Query().Get("name"))
	if err != nil {
		writeKubeError(w, err)
		return
	}
	out, err := ToYAML(obj)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(out)
}

// SecretKey is one key of a Secret; Value is only set when asked for.
type SecretKey struct {
	Name  string `json:"name"`
	Size  int    `json:"size"`
	Value string `json:"value,omitempty"`
	// Base64 is true when Value is base64 because the value is not text.
	Base64 bool `json:"base64,omitempty"`
}

// secretBody is the answer of /api/secret.
type secretBody struct {
	Namespace string      `json:"namespace"`
	Name      string      `json:"name"`
	Type      string      `json:"type"`
	Keys      []SecretKey `json:"keys"`
}

// handleSecret lists a Secret's keys and sizes; with key= it also answers that key's
// value, which is the only way a value leaves the server.
func (s *Server) handleSecret(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sec, err := s.Client.CoreV1().Secrets(q.Get("namespace")).Get(r.Context(), q.Get("name"), metav1.GetOptions{})
	if err != nil {
		writeKubeError(w, err)
		return
	}
	reveal := q.Get("key")
	if _, ok := sec.Data[reveal]; reveal != "" && !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("secret %s/%s has no key %q", sec.Namespace, sec.Name, reveal))
		return
	}
	body := secretBody{Namespace: sec.Namespace, Name: sec.Name, Type: string(sec.Type), Keys: []SecretKey{}}
	for _, k := range sortedKeys(sec.Data) {
		key := SecretKey{Name: k, Size: len(sec.Data[k])}
		if k == reveal {
			key.Value, key.Base64 = secretText(sec.Data[k])
		}
		body.Keys = append(body.Keys, key)
	}
	writeJSON(w, http.StatusOK, body)
}

// secretText shows a value as text when it is, else as base64.
func secretText(v []byte) (string, bool) {
	if utf8.Valid(v) {
		return string(v), false
	}
	return base64.StdEncoding.EncodeToString(v), true
}

// actionRequest is the body of /api/scale, /api/restart and /api/delete.
type actionRequest struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Replicas  *int32 `json:"replicas,omitempty"`
}

// MaxReplicas bounds what the scale action accepts: a single node has no use for more.
const MaxReplicas = 100

func readAction(w http.ResponseWriter, r *http.Request, kinds ...string) (actionRequest, bool) {
	var req actionRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("bad request body: %v", err))
		return req, false
	}
	if req.Namespace == "" || req.Name == "" {
		writeError(w, http.StatusBadRequest, errors.New("namespace and name are required"))
		return req, false
	}
	for _, k := range kinds {
		if req.Kind == k {
			return req, true
		}
	}
	writeError(w, http.StatusBadRequest, fmt.Errorf("kind %q: this action takes %v", req.Kind, kinds))
	return req, false
}

// handleScale sets the replica count through the scale subresource.
func (s *Server) handleScale(w http.ResponseWriter, r *http.Request) {
	req, ok := readAction(w, r, "deployments", "statefulsets")
	if !ok {
		return
	}
	if req.Replicas == nil || *req.Replicas < 0 || *req.Replicas > MaxReplicas {
		writeError(w, http.StatusBadRequest, fmt.Errorf("replicas must be between 0 and %d", MaxReplicas))
		return
	}
	ctx := r.Context()
	apps := s.Client.AppsV1()
	var err error
	switch req.Kind {
	case "deployments":
		d := apps.Deployments(req.Namespace)
		scale, gerr := d.GetScale(ctx, req.Name, metav1.GetOptions{})
		if err = gerr; err == nil {
			scale.Spec.Replicas = *req.Replicas
			_, err = d.UpdateScale(ctx, req.Name, scale, metav1.UpdateOptions{})
		}
	case "statefulsets":
		st := apps.StatefulSets(req.Namespace)
		scale, gerr := st.GetScale(ctx, req.Name, metav1.GetOptions{})
		if err = gerr; err == nil {
			scale.Spec.Replicas = *req.Replicas
			_, err = st.UpdateScale(ctx, req.Name, scale, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		writeKubeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "replicas": *req.Replicas})
}

// RestartAnnotation is what `kubectl rollout restart` sets on the pod template.
const RestartAnnotation = "kubectl.kubernetes.io/restartedAt"

// handleRestart restarts a rollout as `kubectl rollout restart` does: a new pod
// template annotation rolls every pod.
func (s *Server) handleRestart(w http.ResponseWriter, r *http.Request) {
	req, ok := readAction(w, r, "deployments", "statefulsets")
	if !ok {
		return
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{RestartAnnotation: s.now().UTC().Format(time.RFC3339)},
	}}}})
	var err error
	switch req.Kind {
	case "deployments":
		_, err = s.Client.AppsV1().Deployments(req.Namespace).Patch(r.Context(), req.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	case "statefulsets":
		_, err = s.Client.AppsV1().StatefulSets(req.Namespace).Patch(r.Context(), req.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	}
	if err != nil {
		writeKubeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	req, ok := readAction(w, r, "pods")
	if !ok {
		return
	}
	if err := s.Client.CoreV1().Pods(req.Namespace).Delete(r.Context(), req.Name, metav1.DeleteOptions{}); err != nil {
		writeKubeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}

// intParam reads a non-negative integer query parameter.
func intParam(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s must be a non-negative integer", name)
	}
	return n, nil
}

// podContainers lists a pod's containers, app containers first (the first is what
// the logs view shows by default), then init containers.
func podContainers(p *corev1.Pod) []string {
	var out []string
	for _, c := range p.Spec.Containers {
		out = append(out, c.Name)
	}
	for _, c := range p.Spec.InitContainers {
		out = append(out, c.Name)
	}
	return out
}
