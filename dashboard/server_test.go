package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/devk-dev/devk/internal/golden"
)

var created = metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))

func ptr[T any](v T) *T { return &v }

func node() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "devk", UID: "node-uid", CreationTimestamp: created},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "172.30.0.2"}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.34.4", OSImage: "Debian GNU/Linux 13 (trixie)", ContainerRuntimeVersion: "containerd://2.1"},
			Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"),
				corev1.ResourcePods: resource.MustParse("110")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("7Gi"),
				corev1.ResourcePods: resource.MustParse("110")},
		},
	}
}

func deployment(name string, replicas, ready int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), CreationTimestamp: created, Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox:1"}}},
			},
		},
		Status: appsv1.DeploymentStatus{ReadyReplicas: ready, UpdatedReplicas: ready, AvailableReplicas: ready},
	}
}

func pod(name, phase string, ready bool) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), CreationTimestamp: created},
		Spec: corev1.PodSpec{
			NodeName:       "devk",
			InitContainers: []corev1.Container{{Name: "init"}},
			Containers: []corev1.Container{{Name: "main", Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
			}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodPhase(phase), PodIP: "10.244.0.7",
			ContainerStatuses: []corev1.ContainerStatus{{Name: "main", Ready: ready, RestartCount: 2}}},
	}
}

// newServer serves a fake cluster; scale requests work as on a real API server.
func newServer(t *testing.T, objects ...runtime.Object) (*Server, *fake.Clientset, *httptest.Server) {
	t.Helper()
	cs := fake.NewClientset(objects...)
	fakeScale(cs, "deployments")
	fakeScale(cs, "statefulsets")
	s := &Server{Client: cs, Now: func() time.Time { return created.Time }, Heartbeat: time.Hour}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, cs, ts
}

// fakeScale serves the scale subresource of a workload kind from the object tracker
// (the fake clientset has no scale support of its own).
func fakeScale(cs *fake.Clientset, kind string) {
	gvr := appsv1.SchemeGroupVersion.WithResource(kind)
	replicas := func(obj runtime.Object) **int32 {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			return &o.Spec.Replicas
		case *appsv1.StatefulSet:
			return &o.Spec.Replicas
		}
		return nil
	}
	cs.PrependReactor("get", kind, func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		name := a.(k8stesting.GetAction).GetName()
		obj, err := cs.Tracker().Get(gvr, a.GetNamespace(), name)
		if err != nil {
			return true, nil, err
		}
		return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: a.GetNamespace()},
			Spec: autoscalingv1.ScaleSpec{Replicas: **replicas(obj)}}, nil
	})
	cs.PrependReactor("update", kind, func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "scale" {
			return false, nil, nil
		}
		sc := a.(k8stesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
		obj, err := cs.Tracker().Get(gvr, a.GetNamespace(), sc.Name)
		if err != nil {
			return true, nil, err
		}
		*replicas(obj) = ptr(sc.Spec.Replicas)
		return true, sc, cs.Tracker().Update(gvr, obj, a.GetNamespace())
	})
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body
}

func postJSON(t *testing.T, url string, body any, csrf bool) (int, map[string]any) {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	if csrf {
		req.Header.Set(CSRFHeader, "1")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestList(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "default"}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"password": []byte("hunter2"), "user": []byte("admin")}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.10",
		Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}},
	}}
	other := deployment("other", 1, 1)
	other.Namespace = "shop"
	_, _, ts := newServer(t, node(), deployment("web", 3, 2), other, pod("web-1", "Running", true), secret, svc,
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "crash", Namespace: "default"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "c",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}})
	tests := []struct {
		name, query string
		code        int
		rows        []string   // namespace/name, in order
		cells       [][]string // cell texts of each row
		statuses    []string   // status of each row's first cell
	}{
		{"deployments in one namespace", "kind=deployments&namespace=default", 200, []string{"default/web"},
			[][]string{{"2/3", "2", "2", "busybox:1"}}, []string{StatusWarn}},
		{"deployments in all namespaces", "kind=deployments", 200, []string{"default/web", "shop/other"},
			[][]string{{"2/3", "2", "2", "busybox:1"}, {"1/1", "1", "1", "busybox:1"}}, []string{StatusWarn, StatusOK}},
		{"pods with their status", "kind=pods", 200, []string{"default/crash", "default/web-1"},
			[][]string{{"0/1", "CrashLoopBackOff", "0", "", ""}, {"1/1", "Running", "2", "devk", "10.244.0.7"}}, []string{StatusBad, StatusOK}},
		{"services with node port URLs", "kind=services", 200, []string{"default/web"},
			[][]string{{"NodePort", "10.96.0.10", "80:30080/TCP", "http://172.30.0.2:30080"}}, []string{""}},
		{"secrets show keys, never values", "kind=secrets", 200, []string{"default/creds"},
			[][]string{{"Opaque", "password, user"}}, []string{""}},
		{"cluster-scoped kinds ignore the namespace", "kind=nodes&namespace=default", 200, []string{"/devk"},
			[][]string{{"Ready", "v1.34.4", "172.30.0.2"}}, []string{StatusOK}},
		{"unknown kind", "kind=widgets", 400, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, ts.URL+"/api/list?"+tt.query)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			if code != 200 {
				return
			}
			if strings.Contains(string(body), "hunter2") || strings.Contains(string(body), "aHVudGVyMg") {
				t.Fatalf("a secret value leaked into a list: %s", body)
			}
			var got listBody
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			if len(got.Rows) != len(tt.rows) {
				t.Fatalf("rows %+v, want %v", got.Rows, tt.rows)
			}
			for i, row := range got.Rows {
				if row.Namespace+"/"+row.Name != tt.rows[i] {
					t.Errorf("row %d is %s/%s, want %s", i, row.Namespace, row.Name, tt.rows[i])
				}
				var texts []string
				for _, c := range row.Cells {
					texts = append(texts, c.Text)
				}
				if strings.Join(texts, "|") != strings.Join(tt.cells[i], "|") {
					t.Errorf("row %d cells %q, want %q", i, texts, tt.cells[i])
				}
				if row.Cells[0].Status != tt.statuses[i] {
					t.Errorf("row %d status %q, want %q", i, row.Cells[0].Status, tt.statuses[i])
				}
			}
		})
	}
}

func TestPodRowContainersAppFirst(t *testing.T) {
	row := podRow(pod("p", "Running", true), rowEnv{})
	if strings.Join(row.Containers, ",") != "main,init" {
		t.Errorf("containers %v, want the app container first", row.Containers)
	}
}

// events reads server-sent events from r: each event's name ("" for messages) and data.
func events(t *testing.T, r *bufio.Reader, n int) [][2]string {
	t.Helper()
	var out [][2]string
	var name, data string
	for len(out) < n {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d events: %v", len(out), err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if data != "" {
				out = append(out, [2]string{name, data})
			}
			name, data = "", ""
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
	return out
}

func openStream(t *testing.T, url string) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return bufio.NewReader(resp.Body)
}

func TestWatchStreamsChanges(t *testing.T) {
	_, cs, ts := newServer(t, node(), deployment("web", 1, 1), pod("web-1", "Pending", false))
	r := openStream(t, ts.URL+"/api/watch?kinds=pods,deployments&namespace=default")
	changes := map[string]Change{}
	for _, ev := range events(t, r, 2) {
		var c Change
		if err := json.Unmarshal([]byte(ev[1]), &c); err != nil {
			t.Fatal(err)
		}
		changes[c.Kind] = c
	}
	if c := changes["pods"]; c.Type != ChangeReset || len(c.Rows) != 1 || c.Rows[0].Name != "web-1" {
		t.Fatalf("first pods message %+v, want a reset with web-1", c)
	}
	if c := changes["deployments"]; c.Type != ChangeReset || len(c.Rows) != 1 {
		t.Fatalf("first deployments message %+v, want a reset", c)
	}
	ctx := context.Background()
	steps := []struct {
		name   string
		change func() error
		want   Change
	}{
		{"a new pod", func() error {
			_, err := cs.CoreV1().Pods("default").Create(ctx, pod("web-2", "Running", true), metav1.CreateOptions{})
			return err
		}, Change{Kind: "pods", Type: ChangeUpsert, Rows: []Row{{Name: "web-2"}}}},
		{"a scaled deployment", func() error {
			_, err := cs.AppsV1().Deployments("default").Update(ctx, deployment("web", 4, 1), metav1.UpdateOptions{})
			return err
		}, Change{Kind: "deployments", Type: ChangeUpsert, Rows: []Row{{Name: "web", Replicas: ptr(int32(4))}}}},
		{"a deleted pod", func() error { return cs.CoreV1().Pods("default").Delete(ctx, "web-1", metav1.DeleteOptions{}) },
			Change{Kind: "pods", Type: ChangeDelete, Rows: []Row{{Name: "web-1"}}}},
	}
	for _, st := range steps {
		if err := st.change(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var c Change
		if err := json.Unmarshal([]byte(events(t, r, 1)[0][1]), &c); err != nil {
			t.Fatal(err)
		}
		if c.Kind != st.want.Kind || c.Type != st.want.Type || len(c.Rows) != 1 || c.Rows[0].Name != st.want.Rows[0].Name {
			t.Fatalf("%s: got %+v, want %+v", st.name, c, st.want)
		}
		if w := st.want.Rows[0].Replicas; w != nil && (c.Rows[0].Replicas == nil || *c.Rows[0].Replicas != *w) {
			t.Errorf("%s: replicas %v, want %d", st.name, c.Rows[0].Replicas, *w)
		}
	}
}

func TestWatchRejectsUnknownKinds(t *testing.T) {
	_, _, ts := newServer(t)
	if code, _ := get(t, ts.URL+"/api/watch?kinds=pods,widgets"); code != http.StatusBadRequest {
		t.Errorf("status %d, want 400", code)
	}
}

func TestActions(t *testing.T) {
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"}, Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(1))}}
	tests := []struct {
		name  string
		path  string
		body  actionRequest
		csrf  bool
		code  int
		check func(t *testing.T, cs *fake.Clientset)
	}{
		{"scale a deployment", "scale", actionRequest{Kind: "deployments", Namespace: "default", Name: "web", Replicas: ptr(int32(3))}, true, 200,
			func(t *testing.T, cs *fake.Clientset) {
				d, _ := cs.AppsV1().Deployments("default").Get(context.Background(), "web", metav1.GetOptions{})
				if *d.Spec.Replicas != 3 {
					t.Errorf("replicas %d, want 3", *d.Spec.Replicas)
				}
			}},
		{"scale a statefulset to zero", "scale", actionRequest{Kind: "statefulsets", Namespace: "default", Name: "db", Replicas: ptr(int32(0))}, true, 200,
			func(t *testing.T, cs *fake.Clientset) {
				s, _ := cs.AppsV1().StatefulSets("default").Get(context.Background(), "db", metav1.GetOptions{})
				if *s.Spec.Replicas != 0 {
					t.Errorf("replicas %d, want 0", *s.Spec.Replicas)
				}
			}},
		{"scale needs a replica count", "scale", actionRequest{Kind: "deployments", Namespace: "default", Name: "web"}, true, 400, nil},
		{"scale refuses too many", "scale", actionRequest{Kind: "deployments", Namespace: "default", Name: "web", Replicas: ptr(int32(MaxReplicas + 1))}, true, 400, nil},
		{"scale refuses pods", "scale", actionRequest{Kind: "pods", Namespace: "default", Name: "web-1", Replicas: ptr(int32(1))}, true, 400, nil},
		{"scale a missing deployment", "scale", actionRequest{Kind: "deployments", Namespace: "default", Name: "nope", Replicas: ptr(int32(1))}, true, 404, nil},
		{"changes need the CSRF header", "scale", actionRequest{Kind: "deployments", Namespace: "default", Name: "web", Replicas: ptr(int32(5))}, false, 403,
			func(t *testing.T, cs *fake.Clientset) {
				d, _ := cs.AppsV1().Deployments("default").Get(context.Background(), "web", metav1.GetOptions{})
				if *d.Spec.Replicas != 1 {
					t.Errorf("a request without the header scaled to %d", *d.Spec.Replicas)
				}
			}},
		{"restart a deployment", "restart", actionRequest{Kind: "deployments", Namespace: "default", Name: "web"}, true, 200,
			func(t *testing.T, cs *fake.Clientset) {
				d, _ := cs.AppsV1().Deployments("default").Get(context.Background(), "web", metav1.GetOptions{})
				if got := d.Spec.Template.Annotations[RestartAnnotation]; got != "2026-01-02T03:04:05Z" {
					t.Errorf("restart annotation %q", got)
				}
				if d.Spec.Template.Spec.Containers[0].Image != "busybox:1" {
					t.Errorf("restart changed the template: %+v", d.Spec.Template.Spec)
				}
			}},
		{"restart a statefulset", "restart", actionRequest{Kind: "statefulsets", Namespace: "default", Name: "db"}, true, 200,
			func(t *testing.T, cs *fake.Clientset) {
				s, _ := cs.AppsV1().StatefulSets("default").Get(context.Background(), "db", metav1.GetOptions{})
				if s.Spec.Template.Annotations[RestartAnnotation] == "" {
					t.Error("no restart annotation")
				}
			}},
		{"delete a pod", "delete", actionRequest{Kind: "pods", Namespace: "default", Name: "web-1"}, true, 200,
			func(t *testing.T, cs *fake.Clientset) {
				if _, err := cs.CoreV1().Pods("default").Get(context.Background(), "web-1", metav1.GetOptions{}); err == nil {
					t.Error("the pod is still there")
				}
			}},
		{"delete refuses deployments", "delete", actionRequest{Kind: "deployments", Namespace: "default", Name: "web"}, true, 400, nil},
		{"delete needs a name", "delete", actionRequest{Kind: "pods", Namespace: "default"}, true, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, cs, ts := newServer(t, deployment("web", 1, 1), sts, pod("web-1", "Running", true))
			code, body := postJSON(t, ts.URL+"/api/"+tt.path, tt.body, tt.csrf)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %v", code, tt.code, body)
			}
			if code != 200 && body["error"] == "" {
				t.Errorf("a failure without an error message: %v", body)
			}
			if tt.check != nil {
				tt.check(t, cs)
			}
		})
	}
}

func TestActionsNeedPOST(t *testing.T) {
	_, cs, ts := newServer(t, pod("x", "Running", true))
	if code, _ := get(t, ts.URL+"/api/delete?kind=pods&namespace=default&name=x"); code != http.StatusNotFound {
		t.Errorf("GET /api/delete: status %d, want 404", code)
	}
	if _, err := cs.CoreV1().Pods("default").Get(context.Background(), "x", metav1.GetOptions{}); err != nil {
		t.Errorf("GET /api/delete deleted the pod: %v", err)
	}
}

func TestYAMLGolden(t *testing.T) {
	d := deployment("web", 2, 2)
	d.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "default", CreationTimestamp: created,
			Annotations: map[string]string{lastApplied: `{"data":{"password":"aHVudGVyMg=="}}`, "team": "web"}},
		Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"password": []byte("hunter2"), "user": []byte("admin")},
	}
	_, _, ts := newServer(t, d, secret)
	tests := []struct{ name, query, golden string }{
		{"deployment", "kind=deployments&namespace=default&name=web", "deployment.yaml"},
		{"secret values hidden", "kind=secrets&namespace=default&name=creds", "secret.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, ts.URL+"/api/yaml?"+tt.query)
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			for _, leak := range []string{"hunter2", "aHVudGVyMg", "admin", "managedFields"} {
				if strings.Contains(string(body), leak) {
					t.Errorf("YAML contains %q:\n%s", leak, body)
				}
			}
			golden.Assert(t, filepath.Join("testdata", "golden", tt.golden), body) // go test ./dashboard -run Golden -update
		})
	}
	if code, _ := get(t, ts.URL+"/api/yaml?kind=deployments&namespace=default&name=nope"); code != 404 {
		t.Errorf("a missing object: status %d, want 404", code)
	}
}

func TestSecretRevealsOneKeyOnRequest(t *testing.T) {
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "default"}, Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"password": []byte("hunter2"), "user": []byte("admin"), "blob": {0xff, 0xfe}}}
	_, _, ts := newServer(t, secret)
	tests := []struct {
		name, key string
		code      int
		want      map[string]string // key -> value shown
	}{
		{"keys only", "", 200, map[string]string{"blob": "", "password": "", "user": ""}},
		{"one value", "password", 200, map[string]string{"blob": "", "password": "hunter2", "user": ""}},
		{"binary value as base64", "blob", 200, map[string]string{"blob": "//4=", "password": "", "user": ""}},
		{"missing key", "nope", 404, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(t, ts.URL+"/api/secret?namespace=default&name=creds&key="+tt.key)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			if code != 200 {
				return
			}
			var got secretBody
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatal(err)
			}
			shown := map[string]string{}
			for _, k := range got.Keys {
				shown[k.Name] = k.Value
			}
			if len(shown) != len(tt.want) {
				t.Fatalf("keys %v, want %v", shown, tt.want)
			}
			for k, v := range tt.want {
				if shown[k] != v {
					t.Errorf("key %s shows %q, want %q", k, shown[k], v)
				}
			}
		})
	}
}

func TestLogsStream(t *testing.T) {
	_, _, ts := newServer(t, pod("web-1", "Running", true))
	r := openStream(t, ts.URL+"/api/logs?namespace=default&name=web-1&follow=0")
	got := events(t, r, 2)
	// The fake clientset's logs are the line "fake logs".
	if got[0][0] != "line" || got[0][1] != strconv.Quote("fake logs") || got[1][0] != "end" {
		t.Errorf("events %q, want a line then the end", got)
	}
	for _, q := range []string{"namespace=default&name=nope", "namespace=default&name=web-1&tail=-1"} {
		if code, _ := get(t, ts.URL+"/api/logs?"+q); code == 200 {
			t.Errorf("/api/logs?%s: status 200, want an error", q)
		}
	}
}

func TestOverview(t *testing.T) {
	warning := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "default"}, Type: corev1.EventTypeWarning, Reason: "BackOff",
		Message: "Back-off restarting failed container", InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "crash"}, LastTimestamp: created}
	normal := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e2", Namespace: "default"}, Type: corev1.EventTypeNormal, Reason: "Pulled"}
	objects := []runtime.Object{node(), deployment("web", 2, 2), pod("web-1", "Running", true), pod("web-2", "Running", true),
		pod("done", "Succeeded", false), warning, normal, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}}
	tests := []struct {
		name    string
		metrics MetricsFunc
		usage   *Amounts
	}{
		{"without metrics-server", nil, nil},
		{"with metrics-server", func(context.Context) (map[string]Amounts, error) {
			return map[string]Amounts{"devk": {CPUMilli: 420, MemoryBytes: 1 << 30}}, nil
		}, &Amounts{CPUMilli: 420, MemoryBytes: 1 << 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, ts := newServer(t, objects...)
			s.Metrics = tt.metrics
			code, body := get(t, ts.URL+"/api/overview")
			if code != 200 {
				t.Fatalf("status %d: %s", code, body)
			}
			var ov Overview
			if err := json.Unmarshal(body, &ov); err != nil {
				t.Fatal(err)
			}
			if len(ov.Nodes) != 1 || !ov.Nodes[0].Ready || ov.Nodes[0].InternalIP != "172.30.0.2" {
				t.Fatalf("nodes %+v", ov.Nodes)
			}
			n := ov.Nodes[0]
			if n.Capacity.CPUMilli != 4000 || n.Allocatable.MemoryBytes != 7<<30 || n.Capacity.Pods != 110 {
				t.Errorf("capacity %+v allocatable %+v", n.Capacity, n.Allocatable)
			}
			// The finished pod reserves nothing.
			if n.Requested != (Amounts{CPUMilli: 500, MemoryBytes: 128 << 20, Pods: 2}) {
				t.Errorf("requested %+v", n.Requested)
			}
			if (n.Usage == nil) != (tt.usage == nil) || (n.Usage != nil && *n.Usage != *tt.usage) || ov.Metrics != (tt.usage != nil) {
				t.Errorf("usage %+v metrics %v, want %+v", n.Usage, ov.Metrics, tt.usage)
			}
			if ov.Counts["pods"] != 3 || ov.Counts["pods:Running"] != 2 || ov.Counts["deployments"] != 1 || ov.Counts["namespaces"] != 1 {
				t.Errorf("counts %v", ov.Counts)
			}
			if len(ov.Warnings) != 1 || ov.Warnings[0].Cells[1].Text != "BackOff" {
				t.Errorf("warnings %+v, want the one warning event", ov.Warnings)
			}
		})
	}
}

func TestParseNodeMetrics(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]Amounts
		wantErr  bool
	}{
		{"metrics-server answer", `{"kind":"NodeMetricsList","items":[{"metadata":{"name":"devk"},"usage":{"cpu":"153212345n","memory":"1234Ki"}}]}`,
			map[string]Amounts{"devk": {CPUMilli: 154, MemoryBytes: 1234 << 10}}, false},
		{"no nodes", `{"items":[]}`, map[string]Amounts{}, false},
		{"bad quantity", `{"items":[{"metadata":{"name":"devk"},"usage":{"cpu":"lots","memory":"1Ki"}}]}`, nil, true},
		{"not JSON", `<html>`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseNodeMetrics([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: %+v, want %+v", k, got[k], v)
				}
			}
		})
	}
}

// TestUIUsesRelativeURLs: the page is served at the root of devk's local listener and
// under the API server's proxy path, so every URL it uses must be relative.
func TestUIUsesRelativeURLs(t *testing.T) {
	_, _, ts := newServer(t)
	code, index := get(t, ts.URL+"/")
	if code != 200 || !strings.Contains(string(index), `<script src="app.js">`) {
		t.Fatalf("GET /: status %d\n%s", code, index)
	}
	for _, asset := range []string{"/app.js", "/style.css"} {
		code, body := get(t, ts.URL+asset)
		if code != 200 || len(body) == 0 {
			t.Fatalf("GET %s: status %d", asset, code)
		}
		for _, abs := range []string{`'/api`, `"/api`, "`/api", `url(/`} {
			if strings.Contains(string(body), abs) {
				t.Errorf("%s uses an absolute URL (%s...)", asset, abs)
			}
		}
	}
	for _, abs := range []string{`src="/`, `href="/`, `src="http`, `href="http`} {
		if strings.Contains(string(index), abs) {
			t.Errorf("index.html uses an absolute URL (%s...)", abs)
		}
	}
	if code, _ := get(t, ts.URL+"/api/nope"); code != 404 {
		t.Errorf("unknown API call: status %d, want 404", code)
	}
	if code, body := get(t, ts.URL+"/healthz"); code != 200 || string(body) != "ok\n" {
		t.Errorf("healthz: %d %q", code, body)
	}
}

// TestContentSecurityPolicy: scripts come only from the dashboard (the terminal widget
// too, served from its own files); styles may be inline, which xterm.js needs.
func TestContentSecurityPolicy(t *testing.T) {
	_, _, ts := newServer(t)
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "style-src 'self' 'unsafe-inline'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "script-src") || strings.Contains(csp, "http") {
		t.Errorf("CSP %q loosens scripts or names another origin", csp)
	}
}
