package cluster

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
)

// newFakeApplier is an Applier talking to a fake API server that records what it gets.
func newFakeApplier(t *testing.T) (*Applier, *fakeApplies) {
	t.Helper()
	mux := http.NewServeMux()
	fake := &fakeApplies{}
	fake.register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	api, err := NewApplier(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return api, fake
}

func TestApplierApply(t *testing.T) {
	api, applies := newFakeApplier(t)
	api.newKindWait = 600 * time.Millisecond

	tests := []struct {
		name     string
		manifest string
		want     []string // PATCH paths, in order
		wantErr  string
	}{
		{"documents in order, empty ones skipped, default namespace", `
---
apiVersion: v1
kind: Namespace
metadata: {name: web}
---
# only a comment
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: web}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
`, []string{"/api/v1/namespaces/web", "/apis/apps/v1/namespaces/web/deployments/app", "/api/v1/namespaces/default/configmaps/settings"}, ""},
		{"cluster-scoped in a group", `{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{"name":"standard"}}`,
			[]string{"/apis/storage.k8s.io/v1/storageclasses/standard"}, ""},
		{"a kind the cluster never serves", "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n", nil, "Widget w"},
		{"an object without a name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", nil, "lacks apiVersion, kind or metadata.name"},
		{"not YAML", "kind: [", nil, "read manifest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(applies.list())
			err := api.Apply(context.Background(), []byte(tt.manifest), "devk-test")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply = %v, want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range applies.list()[before:] {
				path, query, _ := strings.Cut(strings.TrimPrefix(a, "PATCH "), "?")
				if !strings.Contains(query, "fieldManager=devk-test") || !strings.Contains(query, "force=true") {
					t.Errorf("%s: applied without the field manager or force: %s", path, query)
				}
				got = append(got, path)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("applied %q, want %q", got, tt.want)
			}
		})
	}
}

// TestApplierGetDelete: objects read back after an apply; delete goes last object first,
// ignores what is already gone, and waits until everything is.
func TestApplierGetDelete(t *testing.T) {
	api, fake := newFakeApplier(t)
	ctx := context.Background()
	manifest := []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app, namespace: web}\n")
	if err := api.Apply(ctx, manifest, "devk-test"); err != nil {
		t.Fatal(err)
	}
	obj, err := api.Get(ctx, "apps/v1", "Deployment", "web", "app")
	if err != nil || obj.GetName() != "app" {
		t.Fatalf("Get = %v, %v", obj, err)
	}
	if _, err := api.Get(ctx, "apps/v1", "Deployment", "web", "nope"); !apierrors.IsNotFound(err) {
		t.Errorf("Get of a missing object: %v, want NotFound", err)
	}
	if err := api.Delete(ctx, manifest); err != nil {
		t.Fatal(err)
	}
	if want := []string{"/apis/apps/v1/namespaces/web/deployments/app", "/api/v1/namespaces/web"}; !slices.Equal(fake.deletes, want) {
		t.Errorf("deleted %q, want %q", fake.deletes, want)
	}
	if err := api.Delete(ctx, manifest); err != nil {
		t.Errorf("deleting what is gone: %v", err)
	}
	if _, err := api.Get(ctx, "v1", "Namespace", "", "web"); !apierrors.IsNotFound(err) {
		t.Errorf("the namespace is still there: %v", err)
	}
}
