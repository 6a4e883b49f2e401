package local

import (
	"context"
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestParseObjects(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // kind/namespace/name
		wantErr    string
	}{
		{"one object", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n", []string{"ConfigMap//a"}, ""},
		{"documents, empty ones skipped", "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: x\n---\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: b\n",
			[]string{"ConfigMap/x/a", "Deployment//b"}, ""},
		{"JSON", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"n"}}`, []string{"Namespace//n"}, ""},
		{"nothing", "\n---\n", nil, "no objects"},
		{"no kind", "apiVersion: v1\nmetadata:\n  name: a\n", nil, "apiVersion and kind are required"},
		{"no name", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: a-\n", nil, "metadata.name is required"},
		{"a list", "apiVersion: v1\nkind: List\nitems: []\n", nil, "paste its items"},
		{"not YAML", "apiVersion: v1\nkind: [\n", nil, "document 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := ParseObjects(tt.yaml)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range objs {
				got = append(got, o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName())
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("objects %v, want %v", got, tt.want)
			}
		})
	}
}

// TestParseObjectsDropsServerFields: YAML copied from the object's page applies even
// after a controller changed the object (no resourceVersion), and says nothing of status.
func TestParseObjectsDropsServerFields(t *testing.T) {
	objs, err := ParseObjects(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  uid: 1234
  resourceVersion: "99"
  generation: 3
  creationTimestamp: "2026-01-01T00:00:00Z"
  labels: {app: web}
spec:
  replicas: 2
status:
  readyReplicas: 1
`)
	if err != nil {
		t.Fatal(err)
	}
	o := objs[0].Object
	for _, f := range serverFields {
		if _, found, _ := unstructured.NestedFieldNoCopy(o, f...); found {
			t.Errorf("%s kept", strings.Join(f, "."))
		}
	}
	if n, _, _ := unstructured.NestedInt64(o, "spec", "replicas"); n != 2 {
		t.Errorf("spec.replicas %d, want 2", n)
	}
	if l, _, _ := unstructured.NestedString(o, "metadata", "labels", "app"); l != "web" {
		t.Errorf("labels lost: %v", o["metadata"])
	}
}

var (
	cmGVR  = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	nsGVR  = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	depGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
)

// fakeApplier is an Applier on a fake cluster that knows ConfigMaps, Namespaces and
// Deployments, records every apply and refuses to apply objects named "invalid" (as
// the API server refuses an invalid object: 422).
func fakeApplier(t *testing.T, objects ...runtime.Object) (*Applier, *[]k8stesting.PatchActionImpl) {
	t.Helper()
	scheme := runtime.NewScheme()
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{
		cmGVR: "ConfigMapList", nsGVR: "NamespaceList", depGVR: "DeploymentList",
	}, objects...)
	var applied []k8stesting.PatchActionImpl
	client.PrependReactor("patch", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchActionImpl)
		if p.Name == "invalid" {
			return true, nil, apierrors.NewInvalid(schema.GroupKind{Kind: "ConfigMap"}, p.Name, field.ErrorList{field.Invalid(field.NewPath("data"), "x", "must be a map")})
		}
		applied = append(applied, p)
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(p.Patch); err != nil {
			return true, nil, err
		}
		return true, u, nil
	})
	mapper := meta.NewDefaultRESTMapper(nil)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, meta.RESTScopeNamespace)
	mapper.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	return &Applier{Client: client, Mapper: mapper}, &applied
}

func TestApply(t *testing.T) {
	existing := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "old", "namespace": "shop"}}}
	cm := func(name, ns string) string {
		s := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name + "\n"
		if ns != "" {
			s += "  namespace: " + ns + "\n"
		}
		return s + "data:\n  k: v\n"
	}
	tests := []struct {
		name    string
		req     ApplyRequest
		want    []string // object namespace action
		applies []string // dry|real namespace/name, in order
		wantErr string
	}{
		{"created in the form's namespace after a dry run", ApplyRequest{YAML: cm("new", ""), Namespace: "shop"},
			[]string{"configmap/new shop created"}, []string{"dry shop/new", "real shop/new"}, ""},
		{"an existing object is configured; its own namespace wins", ApplyRequest{YAML: cm("old", "shop"), Namespace: "other"},
			[]string{"configmap/old shop configured"}, []string{"dry shop/old", "real shop/old"}, ""},
		{"no namespace anywhere means default", ApplyRequest{YAML: cm("new", "")},
			[]string{"configmap/new default created"}, []string{"dry default/new", "real default/new"}, ""},
		{"a cluster-scoped object has no namespace", ApplyRequest{YAML: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n  namespace: x\n", Namespace: "shop"},
			[]string{"namespace/team  created"}, []string{"dry /team", "real /team"}, ""},
		{"dry run only", ApplyRequest{YAML: cm("new", ""), Namespace: "shop", DryRun: true},
			[]string{"configmap/new shop created (dry run)"}, []string{"dry shop/new"}, ""},
		{"every object is dry-run before any is applied", ApplyRequest{YAML: cm("a", "") + "---\n" + cm("invalid", ""), Namespace: "shop"},
			nil, []string{"dry shop/a"}, `configmap/invalid: ConfigMap "invalid" is invalid: data: Invalid value: "x": must be a map`},
		{"a kind the cluster does not know", ApplyRequest{YAML: "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n"},
			nil, nil, "Widget/w: no matches for kind"},
		{"the group's name in the object's name", ApplyRequest{YAML: "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n", Namespace: "shop"},
			[]string{"deployment.apps/web shop created"}, []string{"dry shop/web", "real shop/web"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, applied := fakeApplier(t, existing)
			out, err := a.Apply(context.Background(), tt.req)
			if tt.wantErr != "" {
				var ae *ApplyError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ae) {
					t.Fatalf("err = %v, want an ApplyError with %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range out {
				got = append(got, o.Object+" "+o.Namespace+" "+o.Action)
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("outcome %q, want %q", got, tt.want)
			}
			var calls []string
			for _, p := range *applied {
				mode := "real"
				if len(p.PatchOptions.DryRun) == 1 && p.PatchOptions.DryRun[0] == metav1.DryRunAll {
					mode = "dry"
				}
				if p.PatchOptions.FieldManager != FieldManager || p.PatchOptions.Force == nil || !*p.PatchOptions.Force {
					t.Errorf("apply options %+v, want field manager %s, forced", p.PatchOptions, FieldManager)
				}
				calls = append(calls, mode+" "+p.Namespace+"/"+p.Name)
			}
			if strings.Join(calls, "|") != strings.Join(tt.applies, "|") {
				t.Errorf("applies %q, want %q", calls, tt.applies)
			}
		})
	}
}
