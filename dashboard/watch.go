package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// Change is one message of /api/watch: the whole list of a kind (reset), one object
// added or changed (upsert) or deleted (delete), or why the kind cannot be watched.
type Change struct {
	Kind  string `json:"kind"`
	Type  string `json:"type"`
	Rows  []Row  `json:"rows,omitempty"`
	Error string `json:"error,omitempty"`
}

// Change types.
const (
	ChangeReset  = "reset"
	ChangeUpsert = "upsert"
	ChangeDelete = "delete"
	ChangeError  = "error"
)

// retryDelay is how long a failed list or watch waits before it tries again.
const retryDelay = 3 * time.Second

// eventStream writes server-sent events.
type eventStream struct {
	w http.ResponseWriter
	f http.Flusher
}

// startEvents answers with an event stream, or an error if w cannot stream.
func startEvents(w http.ResponseWriter) (*eventStream, bool) {
	f, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, errors.New("streaming is not supported here"))
		return nil, false
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	return &eventStream{w: w, f: f}, true
}

// send writes one event; data must be one line (JSON is).
func (s *eventStream) send(event, data string) error {
	var b strings.Builder
	if event != "" {
		b.WriteString("event: " + event + "\n")
	}
	b.WriteString("data: " + data + "\n\n")
	if _, err := s.w.Write([]byte(b.String())); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

// ping writes a comment, which keeps idle streams open through proxies.
func (s *eventStream) ping() error {
	if _, err := s.w.Write([]byte(": ping\n\n")); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

func (s *Server) heartbeat() time.Duration {
	if s.Heartbeat > 0 {
		return s.Heartbeat
	}
	return 15 * time.Second
}

// handleWatch streams the rows of one or more kinds (kinds=pods,deployments): first
// the whole list of each, then every change, until the client goes away. One stream
// serves a whole view, so a page holds one connection however many tables it shows.
func (s *Server) handleWatch(w http.ResponseWriter, r *http.Request, byName map[string]Resource) {
	var list []Resource
	seen := map[string]bool{}
	for _, name := range strings.Split(r.URL.Query().Get("kinds"), ",") {
		res, ok := byName[name]
		if !ok {
			writeError(w, http.StatusBadRequest, fmt.Errorf("unknown kind %q", name))
			return
		}
		if !seen[name] {
			seen[name] = true
			list = append(list, res)
		}
	}
	ns := r.URL.Query().Get("namespace")
	stream, ok := startEvents(w)
	if !ok {
		return
	}
	ctx := r.Context()
	changes := make(chan Change)
	for _, res := range list {
		rns := ns
		if !res.Namespaced {
			rns = ""
		}
		go s.watchResource(ctx, res, rns, changes)
	}
	tick := time.NewTicker(s.heartbeat())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-changes:
			data, _ := json.Marshal(c)
			if stream.send("", string(data)) != nil {
				return
			}
		case <-tick.C:
			if stream.ping() != nil {
				return
			}
		}
	}
}

// envFor looks up what the kind's rows need.
func (s *Server) envFor(ctx context.Context, res Resource) rowEnv {
	if res.Name == "services" {
		return s.env(ctx)
	}
	return rowEnv{}
}

// watchResource lists the kind and forwards its changes to out until ctx ends; when a
// watch ends (the API server closes them after a while) it lists again.
func (s *Server) watchResource(ctx context.Context, res Resource, ns string, out chan<- Change) {
	send := func(c Change) bool {
		select {
		case out <- c:
			return true
		case <-ctx.Done():
			return false
		}
	}
	wait := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-ctx.Done():
			return false
		}
	}
	api := res.api(s.Client, ns)
	for {
		if err := s.listAndWatch(ctx, res, api, send); err != nil {
			if ctx.Err() != nil || !send(Change{Kind: res.Name, Type: ChangeError, Error: err.Error()}) {
				return
			}
			if !wait(retryDelay) {
				return
			}
			continue
		}
		if !wait(100 * time.Millisecond) {
			return
		}
	}
}

// listAndWatch sends the kind's list, then its changes until the watch ends.
func (s *Server) listAndWatch(ctx context.Context, res Resource, api objectAPI, send func(Change) bool) error {
	list, err := api.list(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	env := s.envFor(ctx, res)
	rows, err := rowsOf(res, list, env)
	if err != nil {
		return err
	}
	if !send(Change{Kind: res.Name, Type: ChangeReset, Rows: rows}) {
		return nil
	}
	lm, err := meta.ListAccessor(list)
	if err != nil {
		return err
	}
	w, err := api.watch(ctx, metav1.ListOptions{ResourceVersion: lm.GetResourceVersion(), AllowWatchBookmarks: true})
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				row, err := rowOf(res, ev.Object, env)
				if err != nil {
					return err
				}
				typ := ChangeUpsert
				if ev.Type == watch.Deleted {
					typ = ChangeDelete
				}
				if !send(Change{Kind: res.Name, Type: typ, Rows: []Row{row}}) {
					return nil
				}
			case watch.Error:
				// Usually "too old resource version": list again.
				return nil
			}
		}
	}
}
