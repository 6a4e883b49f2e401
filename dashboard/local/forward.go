package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// Target is what a port forward reaches: a pod's port, or a Service's port (through
// one of its ready pods, as kubectl port-forward svc/NAME does).
type Target struct {
	Kind      string `json:"kind"` // "pods" or "services"
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Port      int32  `json:"port"`
}

// Forward is one port forward as the UI lists it.
type Forward struct {
	ID string `json:"id"`
	Target
	Pod     string `json:"pod"`
	PodPort int32  `json:"podPort"`
	// URL is where it answers: http://127.0.0.1:PORT.
	URL     string `json:"url"`
	Started string `json:"started"`
	// Error is why it stopped (the pod went away); empty while it runs.
	Error  string `json:"error,omitempty"`
	Active bool   `json:"active"`
}

// ForwardFunc forwards a pod's port to a free port on 127.0.0.1, calls ready with that
// port, and keeps forwarding until ctx ends or the connection to the pod does.
type ForwardFunc func(ctx context.Context, namespace, pod string, port int32, ready func(localPort int)) error

// APIForward forwards through the API server, over WebSocket and, for API servers that
// lack it, SPDY, as kubectl port-forward does; it listens on 127.0.0.1 only.
func APIForward(cfg *rest.Config, cs kubernetes.Interface) ForwardFunc {
	return func(ctx context.Context, namespace, pod string, port int32, ready func(int)) error {
		u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("portforward").URL()
		rt, upgrader, err := spdy.RoundTripperFor(cfg)
		if err != nil {
			return err
		}
		var dialer httpstream.Dialer = spdy.NewDialer(upgrader, &http.Client{Transport: rt}, http.MethodPost, u)
		tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
		if err != nil {
			return err
		}
		dialer = portforward.NewFallbackDialer(tunnel, dialer, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		stop, readyCh := make(chan struct{}), make(chan struct{})
		fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(int(port))}, stop, readyCh, io.Discard, io.Discard)
		if err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() { done <- fw.ForwardPorts() }()
		go func() {
			select {
			case <-ctx.Done():
				close(stop)
			case <-done:
			}
		}()
		select {
		case <-readyCh:
		case err := <-done:
			return err
		}
		ports, err := fw.GetPorts()
		if err != nil || len(ports) == 0 {
			close(stop)
			return fmt.Errorf("port forward: no local port: %v", err)
		}
		ready(int(ports[0].Local))
		err = <-done
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("the connection to the pod ended")
		}
		return err
	}
}

// Forwards are the port forwards of one `devk dashboard` launch: they end with it.
type Forwards struct {
	client  kubernetes.Interface
	forward ForwardFunc
	// readyTimeout bounds how long a forward may take to listen.
	readyTimeout time.Duration
	now          func() time.Time

	mu     sync.Mutex
	next   int
	list   []*Forward
	cancel map[string]context.CancelFunc
}

// NewForwards forwards with forward, resolving Services with client.
func NewForwards(client kubernetes.Interface, forward ForwardFunc) *Forwards {
	return &Forwards{client: client, forward: forward, readyTimeout: 30 * time.Second, now: time.Now, cancel: map[string]context.CancelFunc{}}
}

// Start resolves the target and forwards it; it returns once the local port listens.
func (f *Forwards) Start(ctx context.Context, t Target) (Forward, error) {
	pod, podPort, err := ResolveTarget(ctx, f.client, t)
	if err != nil {
		return Forward{}, err
	}
	f.mu.Lock()
	f.next++
	fw := &Forward{ID: strconv.Itoa(f.next), Target: t, Pod: pod, PodPort: podPort, Started: f.now().UTC().Format(time.RFC3339)}
	f.mu.Unlock()
	// The forward outlives the request that started it.
	fctx, cancel := context.WithCancel(context.Background())
	ready := make(chan int, 1)
	failed := make(chan error, 1)
	go func() {
		err := f.forward(fctx, t.Namespace, pod, podPort, func(port int) {
			f.mu.Lock()
			fw.Active, fw.URL = true, "http://127.0.0.1:"+strconv.Itoa(port)
			f.mu.Unlock()
			ready <- port
		})
		f.mu.Lock()
		defer f.mu.Unlock()
		fw.Active = false
		if err != nil && fw.Error == "" {
			fw.Error = err.Error()
		}
		failed <- err
	}()
	select {
	case <-ready:
		f.mu.Lock()
		f.list = append(f.list, fw)
		f.cancel[fw.ID] = cancel
		out := *fw
		f.mu.Unlock()
		return out, nil
	case err := <-failed:
		cancel()
		if err == nil {
			err = errors.New("it stopped before it listened")
		}
		return Forward{}, fmt.Errorf("forward %s/%s port %d: %w", t.Namespace, pod, podPort, err)
	case <-time.After(f.readyTimeout):
		cancel()
		return Forward{}, fmt.Errorf("forward %s/%s port %d: not listening after %s", t.Namespace, pod, podPort, f.readyTimeout)
	}
}

// List is every forward of this launch, the newest first, stopped ones included.
func (f *Forwards) List() []Forward {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Forward, 0, len(f.list))
	for i := len(f.list) - 1; i >= 0; i-- {
		out = append(out, *f.list[i])
	}
	return out
}

// Stop ends a forward and forgets it.
func (f *Forwards) Stop(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, fw := range f.list {
		if fw.ID == id {
			f.cancel[id]()
			delete(f.cancel, id)
			f.list = append(f.list[:i], f.list[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no port forward %q", id)
}

// Close ends every forward.
func (f *Forwards) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, cancel := range f.cancel {
		cancel()
		delete(f.cancel, id)
	}
}

// ResolveTarget finds the pod and its port that a target reaches: a pod's own port, or
// for a Service port, a running, ready pod that the Service selects (by name, so the
// same one each time) and the port its targetPort names.
func ResolveTarget(ctx context.Context, cs kubernetes.Interface, t Target) (string, int32, error) {
	if t.Namespace == "" || t.Name == "" {
		return "", 0, errors.New("namespace and name are required")
	}
	if t.Port < 1 || t.Port > 65535 {
		return "", 0, fmt.Errorf("port %d: use 1-65535", t.Port)
	}
	switch t.Kind {
	case "pods":
		p, err := cs.CoreV1().Pods(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return "", 0, err
		}
		if p.Status.Phase != corev1.PodRunning {
			return "", 0, fmt.Errorf("pod %s/%s is %s, not running", t.Namespace, t.Name, p.Status.Phase)
		}
		return p.Name, t.Port, nil
	case "services":
		svc, err := cs.CoreV1().Services(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return "", 0, err
		}
		var sp *corev1.ServicePort
		for i := range svc.Spec.Ports {
			if svc.Spec.Ports[i].Port == t.Port {
				sp = &svc.Spec.Ports[i]
			}
		}
		if sp == nil {
			return "", 0, fmt.Errorf("service %s/%s has no port %d", t.Namespace, t.Name, t.Port)
		}
		if len(svc.Spec.Selector) == 0 {
			return "", 0, fmt.Errorf("service %s/%s selects no pods (no selector): forward a pod instead", t.Namespace, t.Name)
		}
		pods, err := cs.CoreV1().Pods(t.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
		if err != nil {
			return "", 0, err
		}
		var ready []corev1.Pod
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && podReady(&p) {
				ready = append(ready, p)
			}
		}
		if len(ready) == 0 {
			return "", 0, fmt.Errorf("service %s/%s has no running, ready pod", t.Namespace, t.Name)
		}
		sort.Slice(ready, func(i, j int) bool { return ready[i].Name < ready[j].Name })
		port, err := containerPort(&ready[0], *sp)
		if err != nil {
			return "", 0, fmt.Errorf("service %s/%s port %d: %w", t.Namespace, t.Name, t.Port, err)
		}
		return ready[0].Name, port, nil
	}
	return "", 0, fmt.Errorf("kind %q: forward pods or services", t.Kind)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// containerPort is the pod port a Service port sends to: its targetPort as a number,
// or the container port of that name; no targetPort means the Service's own port.
func containerPort(p *corev1.Pod, sp corev1.ServicePort) (int32, error) {
	switch {
	case sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "":
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == sp.TargetPort.StrVal {
					return cp.ContainerPort, nil
				}
			}
		}
		return 0, fmt.Errorf("pod %s has no container port named %q", p.Name, sp.TargetPort.StrVal)
	case sp.TargetPort.IntVal != 0:
		return sp.TargetPort.IntVal, nil
	}
	return sp.Port, nil
}

func (s *Server) handleForward(w http.ResponseWriter, r *http.Request) {
	var t Target
	if !readJSON(w, r, &t) {
		return
	}
	fw, err := s.Forwards.Start(r.Context(), t)
	if err != nil {
		writeKubeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, fw)
}

func (s *Server) handleStopForward(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if err := s.Forwards.Stop(req.ID); err != nil {
		writeError(w, http.StatusNotFound, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true})
}
