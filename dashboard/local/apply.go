package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
)

// FieldManager is who server-side apply records as the owner of what the dashboard
// applies.
const FieldManager = "devk-dashboard"

// ApplyRequest is the body of /api/apply: one or more YAML documents, the namespace of
// the objects that name none, and whether to stop after the dry run.
type ApplyRequest struct {
	YAML      string `json:"yaml"`
	Namespace string `json:"namespace"`
	DryRun    bool   `json:"dryRun"`
}

// Applied is one object's outcome.
type Applied struct {
	Object string `json:"object"` // "deployment.apps/web" as kubectl names it
	// Namespace is empty for cluster-scoped objects.
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind"` // the resource: "deployments"
	Name      string `json:"name"`
	Action    string `json:"action"` // created, configured; "(dry run)" added on a dry run
}

// ApplyError is why an apply failed: the object it failed on and the API server's
// answer, as the form shows it.
type ApplyError struct {
	Object string
	Err    error
}

func (e *ApplyError) Error() string {
	if e.Object == "" {
		return e.Err.Error()
	}
	return e.Object + ": " + e.Err.Error()
}

func (e *ApplyError) Unwrap() error { return e.Err }

// Applier applies YAML with server-side apply.
type Applier struct {
	Client dynamic.Interface
	Mapper meta.RESTMapper
}

// NewApplier applies with cfg's credentials; kinds are looked up through discovery,
// once, and again for a kind it did not know (a CRD installed since).
func NewApplier(cfg *rest.Config) (*Applier, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return &Applier{Client: client, Mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))}, nil
}

// serverFields are what the API server sets and a YAML copied from `get` carries: left
// in, the resourceVersion would refuse any edit made while a controller updated the
// object's status, and the rest means nothing to apply.
var serverFields = [][]string{
	{"status"},
	{"metadata", "uid"}, {"metadata", "resourceVersion"}, {"metadata", "generation"},
	{"metadata", "creationTimestamp"}, {"metadata", "managedFields"}, {"metadata", "selfLink"},
	{"metadata", "deletionTimestamp"}, {"metadata", "deletionGracePeriodSeconds"},
}

// ParseObjects reads the objects of a YAML (or JSON) stream, in order.
func ParseObjects(text string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(text), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || string(t) == "null" || string(t) == "{}" {
			continue // an empty document: "---" twice
		}
		var head struct{ APIVersion, Kind string }
		if err := json.Unmarshal(raw, &head); err != nil || head.APIVersion == "" || head.Kind == "" {
			return nil, fmt.Errorf("document %d: apiVersion and kind are required", i)
		}
		// Through JSON, so integers stay integers (unstructured wants int64).
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		gvk := u.GroupVersionKind()
		switch {
		case strings.HasSuffix(gvk.Kind, "List"):
			return nil, fmt.Errorf("document %d: a %s: paste its items as documents of their own", i, gvk.Kind)
		case u.GetName() == "":
			return nil, fmt.Errorf("document %d (%s): metadata.name is required (apply does not generate names)", i, gvk.Kind)
		}
		for _, f := range serverFields {
			unstructured.RemoveNestedField(u.Object, f...)
		}
		out = append(out, u)
	}
	if len(out) == 0 {
		return nil, errors.New("no objects in the YAML")
	}
	return out, nil
}

// planned is one object with where it goes.
type planned struct {
	obj     *unstructured.Unstructured
	mapping *meta.RESTMapping
	name    string // kubectl's name for messages
}

func (a *Applier) resource(p planned) dynamic.ResourceInterface {
	r := a.Client.Resource(p.mapping.Resource)
	if p.mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		return r.Namespace(p.obj.GetNamespace())
	}
	return r
}

// mapping finds a kind's resource, asking discovery again for a kind it did not know.
func (a *Applier) mapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		if r, ok := a.Mapper.(meta.ResettableRESTMapper); ok {
			r.Reset()
			m, err = a.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		}
	}
	return m, err
}

// Apply dry-runs every object on the API server first and applies them only if all of
// them pass, so a mistake in the third object does not leave the first two applied.
// Apply forces ownership of the fields it sets: it is an edit by the user, who wants
// what the form says, whoever set those fields before.
func (a *Applier) Apply(ctx context.Context, req ApplyRequest) ([]Applied, error) {
	objs, err := ParseObjects(req.YAML)
	if err != nil {
		return nil, &ApplyError{Err: err}
	}
	ns := req.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	var plan []planned
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := a.mapping(gvk)
		if err != nil {
			return nil, &ApplyError{Object: gvk.Kind + "/" + o.GetName(), Err: err}
		}
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			if o.GetNamespace() == "" {
				o.SetNamespace(ns)
			}
		} else {
			o.SetNamespace("")
		}
		name := strings.ToLower(gvk.Kind)
		if gvk.Group != "" {
			name += "." + gvk.Group
		}
		plan = append(plan, planned{obj: o, mapping: m, name: name + "/" + o.GetName()})
	}
	apply := func(p planned, dry bool) error {
		opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
		if dry {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err := a.resource(p).Apply(ctx, p.obj.GetName(), p.obj, opts)
		return err
	}
	var out []Applied
	for _, p := range plan {
		// Whether it exists, for the outcome's word.
		_, gerr := a.resource(p).Get(ctx, p.obj.GetName(), metav1.GetOptions{})
		if gerr != nil && !apierrors.IsNotFound(gerr) {
			return nil, &ApplyError{Object: p.name, Err: gerr}
		}
		if err := apply(p, true); err != nil {
			return nil, &ApplyError{Object: p.name, Err: err}
		}
		action := "configured"
		if apierrors.IsNotFound(gerr) {
			action = "created"
		}
		out = append(out, Applied{Object: p.name, Namespace: p.obj.GetNamespace(), Kind: p.mapping.Resource.Resource, Name: p.obj.GetName(), Action: action})
	}
	if req.DryRun {
		for i := range out {
			out[i].Action += " (dry run)"
		}
		return out, nil
	}
	for _, p := range plan {
		if err := apply(p, false); err != nil {
			return nil, &ApplyError{Object: p.name, Err: err}
		}
	}
	return out, nil
}

// applyBody is the answer of /api/apply.
type applyBody struct {
	Applied []Applied `json:"applied"`
}

func (s *Server) handleApply(w http.ResponseWriter, r *http.Request) {
	var req ApplyRequest
	if !readJSON(w, r, &req) {
		return
	}
	if len(bytes.TrimSpace([]byte(req.YAML))) == 0 {
		writeError(w, http.StatusBadRequest, errors.New("no YAML to apply"))
		return
	}
	out, err := s.Apply.Apply(r.Context(), req)
	if err != nil {
		writeKubeError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, applyBody{Applied: out})
}
