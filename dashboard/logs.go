package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
