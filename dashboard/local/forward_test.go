package local

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

func testPod(name string, phase corev1.PodPhase, ready bool, labels map[string]string) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
		Status:     corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func testService(name string, selector map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Spec: corev1.ServiceSpec{Selector: selector, Ports: ports}}
}

func TestResolveTarget(t *testing.T) {
	app := map[string]string{"app": "web"}
	objects := []runtime.Object{
		testPod("web-b", corev1.PodRunning, true, app),
		testPod("web-a", corev1.PodRunning, true, app),  // first by name: the one a Service reaches
		testPod("web-0", corev1.PodRunning, false, app), // not ready
		testPod("pending", corev1.PodPending, false, map[string]string{"app": "pending"}),
		testService("web", app,
			corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)},
			corev1.ServicePort{Port: 81, TargetPort: intstr.FromString("http")},
			corev1.ServicePort{Port: 9000},
			corev1.ServicePort{Port: 82, TargetPort: intstr.FromString("nope")}),
		testService("external", nil, corev1.ServicePort{Port: 80}),
		testService("idle", map[string]string{"app": "pending"}, corev1.ServicePort{Port: 80}),
	}
	tests := []struct {
		name    string
		target  Target
		pod     string
		port    int32
		wantErr string
	}{
		{"a pod's port", Target{"pods", "default", "web-b", 8080}, "web-b", 8080, ""},
		{"a pending pod", Target{"pods", "default", "pending", 80}, "", 0, "not running"},
		{"a pod that is not there", Target{"pods", "default", "gone", 80}, "", 0, "not found"},
		{"a Service port to a numbered target port", Target{"services", "default", "web", 80}, "web-a", 8080, ""},
		{"a Service port to a named container port", Target{"services", "default", "web", 81}, "web-a", 8080, ""},
		{"a Service port without a target port", Target{"services", "default", "web", 9000}, "web-a", 9000, ""},
		{"a target port name no container has", Target{"services", "default", "web", 82}, "", 0, `no container port named "nope"`},
		{"a port the Service lacks", Target{"services", "default", "web", 443}, "", 0, "has no port 443"},
		{"a Service without a selector", Target{"services", "default", "external", 80}, "", 0, "no selector"},
		{"a Service without a ready pod", Target{"services", "default", "idle", 80}, "", 0, "no running, ready pod"},
		{"no port", Target{"pods", "default", "web-b", 0}, "", 0, "use 1-65535"},
		{"another kind", Target{"deployments", "default", "web", 80}, "", 0, "forward pods or services"},
	}
	cs := fake.NewClientset(objects...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod, port, err := ResolveTarget(context.Background(), cs, tt.target)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || pod != tt.pod || port != tt.port {
				t.Errorf("got %s:%d (%v), want %s:%d", pod, port, err, tt.pod, tt.port)
			}
		})
	}
}

// TestForwards: a forward is listed with its URL while it runs, shows why it stopped,
// and stops on request or when the command ends.
func TestForwards(t *testing.T) {
	cs := fake.NewClientset(testPod("web-a", corev1.PodRunning, true, nil), testPod("web-b", corev1.PodRunning, true, nil))
	lost := make(chan struct{})
	running := map[string]context.Context{}
	fake := func(ctx context.Context, ns, pod string, port int32, ready func(int)) error {
		switch pod {
		case "web-b":
			if port == 1 {
				return errors.New("pod refused the connection")
			}
			ready(40001)
			<-lost // the pod goes away
			return errors.New("lost connection to pod")
		}
		running[pod] = ctx
		ready(40000)
		<-ctx.Done()
		return nil
	}
	f := NewForwards(cs, fake)
	a, err := f.Start(context.Background(), Target{"pods", "default", "web-a", 8080})
	if err != nil || a.URL != "http://127.0.0.1:40000" || !a.Active || a.Pod != "web-a" || a.PodPort != 8080 {
		t.Fatalf("start: %+v, %v", a, err)
	}
	b, err := f.Start(context.Background(), Target{"pods", "default", "web-b", 8080})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Start(context.Background(), Target{"pods", "default", "web-b", 1}); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("a forward that fails to start: %v", err)
	}
	if l := f.List(); len(l) != 2 || l[0].ID != b.ID || l[1].ID != a.ID {
		t.Fatalf("list %+v, want b then a", l)
	}
	close(lost)
	deadline := time.Now().Add(5 * time.Second)
	for f.List()[0].Active && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if l := f.List(); l[0].Active || !strings.Contains(l[0].Error, "lost connection") {
		t.Errorf("a forward whose pod went away: %+v", l[0])
	}
	if err := f.Stop(b.ID); err != nil || len(f.List()) != 1 {
		t.Errorf("stop: %v, list %+v", err, f.List())
	}
	if err := f.Stop("nope"); err == nil {
		t.Error("stopping an unknown forward succeeded")
	}
	f.Close()
	select {
	case <-running["web-a"].Done():
	case <-time.After(5 * time.Second):
		t.Error("Close left a forward running")
	}
}
