package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/devk-dev/devk/dashboard"
)

// echoShell is a shell that answers each line it reads with "you said: LINE", reports
// each terminal size, and exits on "exit" (with an error on "fail").
func echoShell(got chan<- ExecRequest) ExecFunc {
	return func(ctx context.Context, req ExecRequest, term Terminal) error {
		got <- req
		go func() {
			for {
				size := term.Sizes.Next()
				if size == nil {
					return
				}
				_, _ = term.Stdout.Write([]byte("size " + itoa(int(size.Width)) + "x" + itoa(int(size.Height)) + "\r\n"))
			}
		}()
		sc := bufio.NewScanner(term.Stdin)
		for sc.Scan() {
			switch line := strings.TrimSpace(sc.Text()); line {
			case "exit":
				return nil
			case "fail":
				return errors.New("command terminated with exit code 7")
			default:
				if _, err := term.Stdout.Write([]byte("you said: " + line + "\r\n")); err != nil {
					return err
				}
			}
		}
		return nil
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func testServer(t *testing.T, exec ExecFunc) (*httptest.Server, *Server) {
	t.Helper()
	s := &Server{Exec: exec, Forwards: NewForwards(fake.NewClientset(), nil)}
	s.Apply, _ = fakeApplier(t)
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("proxied")) })
	ts := httptest.NewServer(s.Handler(next))
	t.Cleanup(ts.Close)
	return ts, s
}

// readUntil reads the shell's output until it contains want, and the exit message.
func readUntil(t *testing.T, c *websocket.Conn, want string) (string, *Control) {
	t.Helper()
	var out strings.Builder
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		kind, data, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("reading %q: %v (so far %q)", want, err, out.String())
		}
		if kind == websocket.TextMessage {
			var ctl Control
			if err := json.Unmarshal(data, &ctl); err != nil {
				t.Fatal(err)
			}
			return out.String(), &ctl
		}
		out.Write(data)
		if want != "" && strings.Contains(out.String(), want) {
			return out.String(), nil
		}
	}
}

func TestShell(t *testing.T) {
	got := make(chan ExecRequest, 1)
	ts, _ := testServer(t, echoShell(got))
	wsURL := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/exec?namespace=default&pod=web-1&container=main"
	origin := http.Header{"Origin": {ts.URL}}
	c, _, err := websocket.DefaultDialer.Dial(wsURL, origin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := <-got
	if req.Namespace != "default" || req.Pod != "web-1" || req.Container != "main" || strings.Join(req.Command, " ") != strings.Join(ShellCommand, " ") {
		t.Errorf("exec %+v", req)
	}
	resize, _ := json.Marshal(Control{Type: "resize", Cols: 120, Rows: 40})
	if err := c.WriteMessage(websocket.TextMessage, resize); err != nil {
		t.Fatal(err)
	}
	readUntil(t, c, "size 120x40")
	if err := c.WriteMessage(websocket.BinaryMessage, []byte("echo hi\n")); err != nil {
		t.Fatal(err)
	}
	readUntil(t, c, "you said: echo hi")
	if err := c.WriteMessage(websocket.BinaryMessage, []byte("fail\n")); err != nil {
		t.Fatal(err)
	}
	if _, exit := readUntil(t, c, ""); exit == nil || exit.Type != "exit" || !strings.Contains(exit.Error, "exit code 7") {
		t.Errorf("exit message %+v, want the command's error", exit)
	}
}

func TestShellRefuses(t *testing.T) {
	ts, _ := testServer(t, echoShell(make(chan ExecRequest, 1)))
	ws := "ws" + strings.TrimPrefix(ts.URL, "http") + "/api/exec"
	tests := []struct {
		name, url, origin string
		code              int
	}{
		{"a page of another origin", ws + "?namespace=default&pod=p", "http://evil.example", http.StatusForbidden},
		{"no origin", ws + "?namespace=default&pod=p", "", http.StatusForbidden},
		{"no pod", ws + "?namespace=default", ts.URL, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			c, resp, err := websocket.DefaultDialer.Dial(tt.url, h)
			if err == nil {
				c.Close()
				t.Fatal("the WebSocket opened")
			}
			if resp == nil || resp.StatusCode != tt.code {
				t.Errorf("response %v, want %d", resp, tt.code)
			}
		})
	}
}

// TestHandlerRoutes: the host-side calls are served here, changes need the CSRF header,
// and everything else goes to the in-cluster dashboard.
func TestHandlerRoutes(t *testing.T) {
	ts, s := testServer(t, nil)
	s.Forwards = NewForwards(fake.NewClientset(testPod("web-a", corev1.PodRunning, true, nil)),
		func(ctx context.Context, _, _ string, _ int32, ready func(int)) error {
			ready(40000)
			<-ctx.Done()
			return nil
		})
	defer s.Close()
	post := func(path, body string, csrf bool) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+path, strings.NewReader(body))
		if csrf {
			req.Header.Set(dashboard.CSRFHeader, "1")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	tests := []struct {
		name, path, body string
		csrf             bool
		code             int
		want             string
	}{
		{"apply without the CSRF header", "/api/apply", `{"yaml":"x"}`, false, 403, "X-Devk-Dashboard"},
		{"apply", "/api/apply", `{"yaml":"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n","namespace":"shop"}`, true, 200, `"action":"created"`},
		{"apply of an invalid object: the API server's answer", "/api/apply", `{"yaml":"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: invalid\n"}`, true, 422, "must be a map"},
		{"apply of nothing", "/api/apply", `{"yaml":"  "}`, true, 400, "no YAML"},
		{"forward", "/api/forwards", `{"kind":"pods","namespace":"default","name":"web-a","port":8080}`, true, 200, `"url":"http://127.0.0.1:40000"`},
		{"forward a missing pod", "/api/forwards", `{"kind":"pods","namespace":"default","name":"gone","port":8080}`, true, 404, "not found"},
		{"stop an unknown forward", "/api/forwards/stop", `{"id":"99"}`, true, 404, "no port forward"},
		{"the in-cluster dashboard's calls", "/api/scale", `{}`, true, 200, "proxied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := post(tt.path, tt.body, tt.csrf)
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("POST %s: %d %s, want %d with %q", tt.path, code, body, tt.code, tt.want)
			}
		})
	}
	resp, err := http.Get(ts.URL + "/api/forwards")
	if err != nil {
		t.Fatal(err)
	}
	var list []Forward
	_ = json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list) != 1 || list[0].Pod != "web-a" || !list[0].Active {
		t.Errorf("forwards %+v", list)
	}
	for _, path := range []string{"/", "/api/list?kind=pods"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if b.String() != "proxied" {
			t.Errorf("GET %s: %q, want it proxied", path, b.String())
		}
	}
}
