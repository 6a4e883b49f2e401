package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// ShellCommand is what a shell runs: bash where the image has it, else sh, with a TERM
// that the browser's terminal understands.
var ShellCommand = []string{"sh", "-c", "export TERM=xterm-256color; if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh"}

// ExecRequest names the container a command runs in.
type ExecRequest struct {
	Namespace, Pod, Container string
	Command                   []string
}

// Terminal is the browser's side of a shell: what it types, where the output goes, and
// its size as it changes.
type Terminal struct {
	Stdin  io.Reader
	Stdout io.Writer
	Sizes  remotecommand.TerminalSizeQueue
}

// ExecFunc runs a command in a container with a TTY until it exits or ctx ends.
type ExecFunc func(ctx context.Context, req ExecRequest, term Terminal) error

// APIExec execs through the API server, over WebSocket and, for API servers that lack
// it, SPDY, as kubectl exec does.
func APIExec(cfg *rest.Config, cs kubernetes.Interface) ExecFunc {
	return func(ctx context.Context, req ExecRequest, term Terminal) error {
		u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(req.Namespace).Name(req.Pod).SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: req.Container, Command: req.Command, Stdin: true, Stdout: true, TTY: true}, scheme.ParameterCodec).URL()
		ws, err := remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, u.String())
		if err != nil {
			return err
		}
		spdy, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, u)
		if err != nil {
			return err
		}
		exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		if err != nil {
			return err
		}
		return exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: term.Stdin, Stdout: term.Stdout, Tty: true, TerminalSizeQueue: term.Sizes})
	}
}

// Control is a text message of the shell's WebSocket: the browser sends "resize" (and
// its input as binary messages); the server sends "exit" when the shell ends (its
// output as binary messages).
type Control struct {
	Type  string `json:"type"`
	Cols  uint16 `json:"cols,omitempty"`
	Rows  uint16 `json:"rows,omitempty"`
	Error string `json:"error,omitempty"`
}

// sizeQueue hands the browser's terminal sizes to the executor.
type sizeQueue struct {
	ctx context.Context
	ch  chan remotecommand.TerminalSize
}

func (q sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case s := <-q.ch:
		return &s
	case <-q.ctx.Done():
		return nil
	}
}

// sameOrigin accepts a WebSocket only from a page of this server: browsers let any
// page open a WebSocket to 127.0.0.1, and the SameSite cookie alone should not be all
// that stands between it and a shell.
func sameOrigin(r *http.Request) bool {
	u, err := url.Parse(r.Header.Get("Origin"))
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && strings.EqualFold(u.Host, r.Host)
}

var upgrader = websocket.Upgrader{CheckOrigin: sameOrigin, ReadBufferSize: 4096, WriteBufferSize: 32 << 10}

// wsWriter sends the shell's output as binary messages.
type wsWriter struct {
	mu   *sync.Mutex
	conn *websocket.Conn
}

func (w wsWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.conn.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// handleExec bridges a WebSocket from the browser's terminal to a shell in a container
// (namespace, pod and container in the query).
func (s *Server) handleExec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := ExecRequest{Namespace: q.Get("namespace"), Pod: q.Get("pod"), Container: q.Get("container"), Command: ShellCommand}
	if req.Namespace == "" || req.Pod == "" {
		writeError(w, http.StatusBadRequest, errors.New("namespace and pod are required"))
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, http.StatusBadRequest, errors.New("a shell is a WebSocket"))
		return
	}
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, fmt.Errorf("a shell opens only from the dashboard's own page, not from %q", r.Header.Get("Origin")))
		return
	}
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader answered
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var mu sync.Mutex
	stdin, typed := io.Pipe()
	sizes := sizeQueue{ctx: ctx, ch: make(chan remotecommand.TerminalSize, 4)}
	go func() {
		// The browser's messages: input and resizes, until it goes away.
		defer cancel()
		defer typed.Close()
		for {
			kind, data, err := conn.ReadMessage()
			if err != nil {
				return
			}
			if kind == websocket.BinaryMessage {
				if _, err := typed.Write(data); err != nil {
					return
				}
				continue
			}
			var c Control
			if json.Unmarshal(data, &c) == nil && c.Type == "resize" && c.Cols > 0 && c.Rows > 0 {
				select {
				case sizes.ch <- remotecommand.TerminalSize{Width: c.Cols, Height: c.Rows}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	err = s.Exec(ctx, req, Terminal{Stdin: stdin, Stdout: wsWriter{mu: &mu, conn: conn}, Sizes: sizes})
	_ = stdin.Close()
	exit := Control{Type: "exit"}
	if err != nil && ctx.Err() == nil {
		exit.Error = err.Error()
	}
	data, _ := json.Marshal(exit)
	mu.Lock()
	_ = conn.WriteMessage(websocket.TextMessage, data)
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	mu.Unlock()
}
