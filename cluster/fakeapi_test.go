package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// fakeDiscovery is the part of the Kubernetes API discovery the manifests devk applies
// need: group/version -> resource -> namespaced.
var fakeDiscovery = map[string]map[string]struct {
	kind       string
	namespaced bool
}{
	"v1": {
		"namespaces": {"Namespace", false}, "serviceaccounts": {"ServiceAccount", true},
		"configmaps": {"ConfigMap", true}, "services": {"Service", true},
	},
	"apps/v1":                      {"deployments": {"Deployment", true}},
	"rbac.authorization.k8s.io/v1": {"clusterroles": {"ClusterRole", false}, "clusterrolebindings": {"ClusterRoleBinding", false}},
	"storage.k8s.io/v1":            {"storageclasses": {"StorageClass", false}},
}

// fakeApplies serves legacy discovery from fakeDiscovery and records server-side
// applies (PATCH with the apply content type) as "METHOD PATH?QUERY".
type fakeApplies struct {
	mu      sync.Mutex
	applies []string
	bodies  []string
	// store holds applied objects by path, for GET and DELETE; deletes records DELETEs.
	store   map[string]string
	deletes []string
}

func (f *fakeApplies) register(mux *http.ServeMux) {
	writeJSON := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	resources := func(gv string) map[string]any {
		var list []map[string]any
		for name, r := range fakeDiscovery[gv] {
			list = append(list, map[string]any{"name": name, "kind": r.kind, "namespaced": r.namespaced, "verbs": []string{"get", "list", "patch", "create"}})
		}
		return map[string]any{"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list}
	}
	mux.HandleFunc("/api", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{"kind": "APIVersions", "versions": []string{"v1"}, "serverAddressByClientCIDRs": []any{}})
	})
	mux.HandleFunc("/api/v1", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, resources("v1")) })
	mux.HandleFunc("/apis", func(w http.ResponseWriter, r *http.Request) {
		var groups []map[string]any
		for gv := range fakeDiscovery {
			group, version, ok := strings.Cut(gv, "/")
			if !ok {
				continue
			}
			v := map[string]any{"groupVersion": gv, "version": version}
			groups = append(groups, map[string]any{"name": group, "versions": []any{v}, "preferredVersion": v})
		}
		writeJSON(w, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
	})
	mux.HandleFunc("/apis/", func(w http.ResponseWriter, r *http.Request) {
		if gv := strings.TrimPrefix(r.URL.Path, "/apis/"); fakeDiscovery[gv] != nil && r.Method == http.MethodGet {
			writeJSON(w, resources(gv))
			return
		}
		f.object(w, r)
	})
	mux.HandleFunc("/api/v1/", f.object)
}

func (f *fakeApplies) object(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	body, found := f.store[r.URL.Path]
	switch {
	case r.Method == http.MethodGet && found:
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
		return
	case r.Method == http.MethodDelete:
		f.deletes = append(f.deletes, r.URL.Path)
		delete(f.store, r.URL.Path)
		f.mu.Unlock()
		if !found {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
		return
	case r.Method == http.MethodGet:
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
		return
	}
	f.mu.Unlock()
	if r.Method != http.MethodPatch || r.Header.Get("Content-Type") != "application/apply-patch+yaml" {
		http.Error(w, fmt.Sprintf("fake API: unexpected %s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type")), http.StatusNotFound)
		return
	}
	applied, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.applies = append(f.applies, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	f.bodies = append(f.bodies, string(applied))
	if f.store == nil {
		f.store = map[string]string{}
	}
	f.store[r.URL.Path] = string(applied)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(applied) // the applied object is JSON already
}

func (f *fakeApplies) list() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.applies...)
}
