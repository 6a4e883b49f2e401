package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// DefaultTailLines is how many earlier lines a log stream starts with.
const DefaultTailLines = 300

// maxLogLine bounds one log line; longer ones are cut.
const maxLogLine = 256 << 10

// handleLogs streams a container's log as server-sent events: one "line" event per
// line (its data a JSON string), then an "end" event when the log ends (follow=0, or
// the container stopped).
func (s *Server) handleLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns, name, container := q.Get("namespace"), q.Get("name"), q.Get("container")
	tail, err := intParam(r, "tail", DefaultTailLines)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	pod, err := s.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		writeKubeError(w, err)
		return
	}
	if container == "" && len(pod.Spec.Containers) > 0 {
		container = pod.Spec.Containers[0].Name
	}
	opts := &corev1.PodLogOptions{Container: container, Follow: q.Get("follow") != "0", TailLines: &tail}
	logs, err := s.Client.CoreV1().Pods(ns).GetLogs(name, opts).Stream(ctx)
	if err != nil {
		writeKubeError(w, err)
		return
	}
	defer logs.Close()
	stream, ok := startEvents(w)
	if !ok {
		return
	}
	lines := make(chan string)
	done := make(chan error, 1)
	go readLines(ctx, logs, lines, done)
	tick := time.NewTicker(s.heartbeat())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case line := <-lines:
			data, _ := json.Marshal(line)
			if stream.send("line", string(data)) != nil {
				return
			}
		case err := <-done:
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			data, _ := json.Marshal(msg)
			_ = stream.send("end", string(data))
			return
		case <-tick.C:
			if stream.ping() != nil {
				return
			}
		}
	}
}

// readLines sends r's lines to out, then r's error (nil at its end) to done.
func readLines(ctx context.Context, r io.Reader, out chan<- string, done chan<- error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLogLine)
	for sc.Scan() {
		select {
		case out <- strings.TrimSuffix(sc.Text(), "\r"):
		case <-ctx.Done():
			return
		}
	}
	done <- sc.Err()
}

// DefaultWorkloadTail is how many earlier lines each pod's stream starts with in a
// workload's logs (several pods share one view).
const DefaultWorkloadTail = 100

// maxLogStreams bounds the containers one workload's logs follow at once: each is a
// request to the API server.
const maxLogStreams = 30

// LogLine is one line of a workload's logs: which pod and container said it.
type LogLine struct {
	Pod       string `json:"pod"`
	Container string `json:"container"`
	Text      string `json:"text,omitempty"`
	// Error is why a stream ended early (an "stop" event).
	Error string `json:"error,omitempty"`
}

type sse struct {
	event string
	data  any
}

// handleWorkloadLogs streams the logs of every pod of a workload (kind=deployments,
// statefulsets, daemonsets or replicasets) at once, as server-sent events: "start"
// when a container's stream starts, "line" per line, "stop" when one ends, and "end"
// when all did (follow=0). Following, pods that start later join the stream.
func (s *Server) handleWorkloadLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ns, kind, name := q.Get("namespace"), q.Get("kind"), q.Get("name")
	tail, err := intParam(r, "tail", DefaultWorkloadTail)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	follow := q.Get("follow") != "0"
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	wl, err := s.workloadOf(ctx, kind, ns, name)
	if errors.Is(err, errNotWorkload) {
		writeError(w, http.StatusBadRequest, err)
		return
	} else if err != nil {
		writeKubeError(w, err)
		return
	}
	pods := s.Client.CoreV1().Pods(ns)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: wl.selector.String()})
	if err != nil {
		writeKubeError(w, err)
		return
	}
	stream, ok := startEvents(w)
	if !ok {
		return
	}
	msgs := make(chan sse)
	var wg sync.WaitGroup
	started := map[string]bool{}
	start := func(p *corev1.Pod) {
		// A pending pod has no log yet: following, the watch starts it once it runs.
		if p.Status.Phase == corev1.PodPending || p.Status.Phase == "" {
			return
		}
		for _, c := range p.Spec.Containers {
			key := p.Name + "/" + c.Name
			if started[key] || len(started) >= maxLogStreams {
				continue
			}
			started[key] = true
			wg.Add(1)
			go func(pod, container string) {
				defer wg.Done()
				s.streamPodLog(ctx, ns, pod, container, tail, follow, msgs)
			}(p.Name, c.Name)
		}
	}
	for i := range list.Items {
		start(&list.Items[i])
	}
	var podEvents <-chan watch.Event
	if follow {
		if wt, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: wl.selector.String(), ResourceVersion: list.ResourceVersion}); err == nil {
			defer wt.Stop()
			podEvents = wt.ResultChan()
		}
	}
	allDone := make(chan struct{})
	if !follow {
		go func() { wg.Wait(); close(allDone) }()
	}
	tick := time.NewTicker(s.heartbeat())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-msgs:
			data, _ := json.Marshal(m.data)
			if stream.send(m.event, string(data)) != nil {
				return
			}
		case ev, ok := <-podEvents:
			if !ok {
				podEvents = nil // no more new pods; the running streams go on
				continue
			}
			if p, isPod := ev.Object.(*corev1.Pod); isPod && (ev.Type == watch.Added || ev.Type == watch.Modified) {
				start(p)
			}
		case <-allDone:
			_ = stream.send("end", `""`)
			return
		case <-tick.C:
			if stream.ping() != nil {
				return
			}
		}
	}
}

// streamPodLog sends one container's log lines to out, between a "start" and a "stop".
func (s *Server) streamPodLog(ctx context.Context, ns, pod, container string, tail int64, follow bool, out chan<- sse) {
	send := func(event string, l LogLine) bool {
		select {
		case out <- sse{event, l}:
			return true
		case <-ctx.Done():
			return false
		}
	}
	id := LogLine{Pod: pod, Container: container}
	logs, err := s.Client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: follow, TailLines: &tail}).Stream(ctx)
	if err != nil {
		stop := id
		stop.Error = err.Error()
		send("stop", stop)
		return
	}
	defer logs.Close()
	if !send("start", id) {
		return
	}
	lines := make(chan string)
	done := make(chan error, 1)
	go readLines(ctx, logs, lines, done)
	for {
		select {
		case <-ctx.Done():
			return
		case text := <-lines:
			l := id
			l.Text = text
			if !send("line", l) {
				return
			}
		case err := <-done:
			stop := id
			if err != nil {
				stop.Error = err.Error()
			}
			send("stop", stop)
			return
		}
	}
}
