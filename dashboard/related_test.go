package dashboard

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

func replicaSet(name, owner string, ownerUID types.UID) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{"app": owner},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: owner, UID: ownerUID, Controller: ptr(true)}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": owner}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": owner}}}},
	}
}

func labelled(p *corev1.Pod, labels map[string]string) *corev1.Pod {
	p.Labels = labels
	return p
}

func event(name, kind, obj, ns, reason string) *corev1.Event {
	return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Reason: reason, Type: corev1.EventTypeNormal,
		InvolvedObject: corev1.ObjectReference{Kind: kind, Name: obj, Namespace: ns}, LastTimestamp: created}
}

// TestRelated: an object's page shows its own events only; a Deployment's shows its
// ReplicaSets, its pods and the Services that select them; a Service's, its pods.
func TestRelated(t *testing.T) {
	web := map[string]string{"app": "web"}
	_, _, ts := newServer(t, node(), deployment("web", 2, 2), deployment("other", 1, 1),
		replicaSet("web-abc", "web", "uid-web"), replicaSet("other-def", "other", "uid-other"),
		labelled(pod("web-abc-1", "Running", true), web), labelled(pod("web-abc-2", "Running", true), web),
		labelled(pod("other-def-1", "Running", true), map[string]string{"app": "other"}),
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{Selector: web, Ports: []corev1.ServicePort{{Port: 80}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-and-more", Namespace: "default"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web", "tier": "x"}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: "default"}},
		event("e1", "Deployment", "web", "default", "ScalingReplicaSet"),
		event("e2", "Deployment", "other", "default", "ScalingReplicaSet"),
		event("e3", "ReplicaSet", "web", "default", "SuccessfulCreate"),
		event("e4", "Node", "devk", "", "NodeReady"))
	tests := []struct {
		name, query string
		code        int
		events      []string
		sections    []string // kind: names
		self        string
	}{
		{"a Deployment", "kind=deployments&namespace=default&name=web", 200, []string{"ScalingReplicaSet"},
			[]string{"replicasets: web-abc", "pods: web-abc-1 web-abc-2", "services: web"}, "web"},
		{"a ReplicaSet", "kind=replicasets&namespace=default&name=web-abc", 200, nil,
			[]string{"pods: web-abc-1 web-abc-2", "services: web"}, "web-abc"},
		{"a Service", "kind=services&namespace=default&name=web", 200, nil, []string{"pods: web-abc-1 web-abc-2"}, "web"},
		{"a Service without a selector", "kind=services&namespace=default&name=headless", 200, nil, nil, "headless"},
		{"a cluster-scoped object's events", "kind=nodes&name=devk", 200, []string{"NodeReady"}, nil, "devk"},
		{"a pod", "kind=pods&namespace=default&name=web-abc-1", 200, nil, nil, "web-abc-1"},
		{"an object that is not there", "kind=deployments&namespace=default&name=nope", 404, nil, nil, ""},
		{"no name", "kind=deployments&namespace=default", 400, nil, nil, ""},
		{"an unknown kind", "kind=widgets&name=x", 400, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, ts.URL+"/api/related?"+tt.query)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			if code != 200 {
				return
			}
			var got Related
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			var reasons []string
			for _, e := range got.Events {
				reasons = append(reasons, e.Cells[1].Text)
			}
			if strings.Join(reasons, ",") != strings.Join(tt.events, ",") {
				t.Errorf("events %v, want %v", reasons, tt.events)
			}
			var sections []string
			for _, s := range got.Sections {
				var names []string
				for _, r := range s.Rows {
					names = append(names, r.Name)
				}
				sections = append(sections, s.Kind+": "+strings.Join(names, " "))
			}
			if strings.Join(sections, " | ") != strings.Join(tt.sections, " | ") {
				t.Errorf("sections %q, want %q", sections, tt.sections)
			}
			if got.Self.Name != tt.self {
				t.Errorf("self %q, want %q", got.Self.Name, tt.self)
			}
		})
	}
}

// TestWorkloadLogs: a Deployment's logs are every running pod's, each line named by its
// pod; a pending pod has none yet; the stream ends when all did (follow=0).
func TestWorkloadLogs(t *testing.T) {
	web := map[string]string{"app": "web"}
	_, _, ts := newServer(t, deployment("web", 3, 2),
		labelled(pod("web-1", "Running", true), web), labelled(pod("web-2", "Running", true), web),
		labelled(pod("web-3", "Pending", false), web), labelled(pod("other", "Running", true), map[string]string{"app": "other"}))
	r := openStream(t, ts.URL+"/api/workloadlogs?kind=deployments&namespace=default&name=web&follow=0")
	got := events(t, r, 7) // per pod: start, line, stop; then end
	lines := map[string]string{}
	for _, ev := range got[:6] {
		if ev[0] != "line" {
			continue
		}
		var l LogLine
		if err := json.Unmarshal([]byte(ev[1]), &l); err != nil {
			t.Fatal(err)
		}
		lines[l.Pod] = l.Container + ": " + l.Text
	}
	want := map[string]string{"web-1": "main: fake logs", "web-2": "main: fake logs"}
	if len(lines) != 2 || lines["web-1"] != want["web-1"] || lines["web-2"] != want["web-2"] {
		t.Errorf("lines %v, want %v (events %q)", lines, want, got)
	}
	if got[6][0] != "end" {
		t.Errorf("last event %q, want end", got[6])
	}
	for _, q := range []string{"kind=pods&namespace=default&name=web-1", "kind=deployments&namespace=default&name=nope", "kind=deployments&namespace=default&name=web&tail=x"} {
		if code, _ := get(t, ts.URL+"/api/workloadlogs?"+q); code == 200 {
			t.Errorf("/api/workloadlogs?%s: status 200, want an error", q)
		}
	}
}

func TestRowsCarryLabelsAndPorts(t *testing.T) {
	p := labelled(pod("web-1", "Running", true), map[string]string{"app": "web"})
	p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 8080}, {ContainerPort: 53, Protocol: corev1.ProtocolUDP}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{
		Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}}}}
	byName := map[string]Resource{}
	for _, r := range Resources() {
		byName[r.Name] = r
	}
	tests := []struct {
		name   string
		kind   string
		obj    runtime.Object
		labels map[string]string
		ports  []int32
	}{
		{"a pod: its labels, its TCP container ports", "pods", p, map[string]string{"app": "web"}, []int32{8080}},
		{"a Service: its TCP ports", "services", svc, nil, []int32{80}},
		{"a Deployment: its labels", "deployments", labelled2(deployment("web", 1, 1)), map[string]string{"team": "a"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row, err := rowOf(byName[tt.kind], tt.obj, rowEnv{})
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(row.Labels, tt.labels) || !slices.Equal(row.Ports, tt.ports) {
				t.Errorf("labels %v ports %v, want %v %v", row.Labels, row.Ports, tt.labels, tt.ports)
			}
		})
	}
}

func labelled2(d *appsv1.Deployment) *appsv1.Deployment {
	d.Labels = map[string]string{"team": "a"}
	return d
}
