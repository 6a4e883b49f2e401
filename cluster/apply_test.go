package cluster

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

func TestApplierApply(t *testing.T) {
	mux := http.NewServeMux()
	applies := &fakeApplies{}
	applies.register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	api, err := NewApplier(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
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
