package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// Related is the answer of /api/related: what an object's page shows besides its YAML.
type Related struct {
	// Self is the object's own row: the page offers its actions.
	Self Row `json:"self"`
	// Events are the events about the object, newest first.
	Events []Row `json:"events"`
	// Sections are the objects that belong with it: a Deployment's ReplicaSets, pods and
	// the Services that select them; a workload's pods and Services; a Service's pods.
	Sections []Section `json:"sections"`
}

// Section is one list of related objects, of one kind.
type Section struct {
	Kind  string `json:"kind"` // a Resource name: "pods"
	Title string `json:"title"`
	Rows  []Row  `json:"rows"`
}

// workload is what a workload's page and logs need of it: its pods' selector, its pod
// template's labels (what Services select) and its UID (what its ReplicaSets name as
// owner).
type workload struct {
	selector       labels.Selector
	templateLabels map[string]string
	uid            types.UID
}

// errNotWorkload is a kind that selects no pods.
var errNotWorkload = fmt.Errorf("not a workload")

// workloadOf reads a workload's selector.
func (s *Server) workloadOf(ctx context.Context, kind, ns, name string) (workload, error) {
	apps := s.Client.AppsV1()
	var (
		sel  *metav1.LabelSelector
		tmpl corev1.PodTemplateSpec
		uid  types.UID
	)
	switch kind {
	case "deployments":
		d, err := apps.Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return workload{}, err
		}
		sel, tmpl, uid = d.Spec.Selector, d.Spec.Template, d.UID
	case "statefulsets":
		d, err := apps.StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return workload{}, err
		}
		sel, tmpl, uid = d.Spec.Selector, d.Spec.Template, d.UID
	case "daemonsets":
		d, err := apps.DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return workload{}, err
		}
		sel, tmpl, uid = d.Spec.Selector, d.Spec.Template, d.UID
	case "replicasets":
		d, err := apps.ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return workload{}, err
		}
		sel, tmpl, uid = d.Spec.Selector, d.Spec.Template, d.UID
	default:
		return workload{}, fmt.Errorf("%w: %s", errNotWorkload, kind)
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return workload{}, fmt.Errorf("%s %s/%s: selector: %w", kind, ns, name, err)
	}
	if selector.Empty() {
		// An empty selector selects everything; no valid workload has one.
		return workload{}, fmt.Errorf("%s %s/%s has an empty selector", kind, ns, name)
	}
	return workload{selector: selector, templateLabels: tmpl.Labels, uid: uid}, nil
}

// selects reports whether a Service's selector picks pods with these labels.
func selects(svc *corev1.Service, podLabels map[string]string) bool {
	return len(svc.Spec.Selector) > 0 && labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(podLabels))
}

// handleRelated answers an object's events and the objects that belong with it.
func (s *Server) handleRelated(w http.ResponseWriter, r *http.Request, byName map[string]Resource) {
	res, ns, err := resourceParam(r, byName)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	name := r.URL.Query().Get("name")
	if name == "" {
		writeError(w, http.StatusBadRequest, fmt.Errorf("name is required"))
		return
	}
	ctx := r.Context()
	obj, err := res.api(s.Client, ns).get(ctx, name)
	if err != nil {
		writeKubeError(w, err)
		return
	}
	out := Related{Events: []Row{}, Sections: []Section{}}
	if out.Self, err = rowOf(res, obj, s.envFor(ctx, res)); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if out.Events, err = s.eventsAbout(ctx, res, ns, name); err != nil {
		writeKubeError(w, err)
		return
	}
	switch res.Name {
	case "deployments", "statefulsets", "daemonsets", "replicasets":
		wl, err := s.workloadOf(ctx, res.Name, ns, name)
		if err != nil {
			writeKubeError(w, err)
			return
		}
		if out.Sections, err = s.workloadSections(ctx, res.Name, ns, wl, byName); err != nil {
			writeKubeError(w, err)
			return
		}
	case "services":
		svc := obj.(*corev1.Service)
		if len(svc.Spec.Selector) > 0 {
			pods, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
			if err != nil {
				writeKubeError(w, err)
				return
			}
			if err := appendSection(&out.Sections, byName["pods"], pods, rowEnv{}); err != nil {
				writeError(w, http.StatusInternalServerError, err)
				return
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// eventsAbout lists the events whose object is this one. The field selector keeps the
// answer small; the check after it is what counts (a fake client ignores selectors).
func (s *Server) eventsAbout(ctx context.Context, res Resource, ns, name string) ([]Row, error) {
	sel := fields.Set{"involvedObject.kind": res.Kind, "involvedObject.name": name}
	if res.Namespaced {
		sel["involvedObject.namespace"] = ns
	}
	// A cluster-scoped object's events live in any namespace (a node's in default).
	list, err := s.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: sel.AsSelector().String()})
	if err != nil {
		return nil, err
	}
	rows := []Row{}
	evRes := Resource{}
	for _, r := range Resources() {
		if r.Name == "events" {
			evRes = r
		}
	}
	for i := range list.Items {
		e := &list.Items[i]
		if e.InvolvedObject.Kind != res.Kind || e.InvolvedObject.Name != name || (res.Namespaced && e.InvolvedObject.Namespace != ns) {
			continue
		}
		row, err := rowOf(evRes, e, rowEnv{})
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	sortNewestFirst(rows)
	return rows, nil
}

// workloadSections are a workload's ReplicaSets (of a Deployment), pods and the
// Services that select them.
func (s *Server) workloadSections(ctx context.Context, kind, ns string, wl workload, byName map[string]Resource) ([]Section, error) {
	var out []Section
	opts := metav1.ListOptions{LabelSelector: wl.selector.String()}
	if kind == "deployments" {
		list, err := s.Client.AppsV1().ReplicaSets(ns).List(ctx, opts)
		if err != nil {
			return nil, err
		}
		owned := list.DeepCopy()
		owned.Items = owned.Items[:0]
		for _, rs := range list.Items {
			if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == wl.uid {
				owned.Items = append(owned.Items, rs)
			}
		}
		if err := appendSection(&out, byName["replicasets"], owned, rowEnv{}); err != nil {
			return nil, err
		}
	}
	pods, err := s.Client.CoreV1().Pods(ns).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	if err := appendSection(&out, byName["pods"], pods, rowEnv{}); err != nil {
		return nil, err
	}
	svcs, err := s.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	selecting := svcs.DeepCopy()
	selecting.Items = selecting.Items[:0]
	for _, svc := range svcs.Items {
		if selects(&svc, wl.templateLabels) {
			selecting.Items = append(selecting.Items, svc)
		}
	}
	return out, appendSection(&out, byName["services"], selecting, s.env(ctx))
}

func appendSection(out *[]Section, res Resource, list runtime.Object, env rowEnv) error {
	rows, err := rowsOf(res, list, env)
	if err != nil {
		return err
	}
	*out = append(*out, Section{Kind: res.Name, Title: res.Title, Rows: rows})
	return nil
}

// sortNewestFirst orders event rows by when they last happened.
func sortNewestFirst(rows []Row) {
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time > rows[j].Time })
}
