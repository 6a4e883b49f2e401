package dashboard

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// Actions a row can offer; the UI shows a button for each.
const (
	ActionScale   = "scale"   // set the replica count
	ActionRestart = "restart" // restart the rollout
	ActionLogs    = "logs"    // stream the pod's logs
	ActionDelete  = "delete"  // delete the pod
	ActionReveal  = "reveal"  // show the secret's keys, values on request
	// ActionShell and ActionForward run in `devk dashboard` on the host, with the user's
	// credentials (package dashboard/local): the dashboard's ServiceAccount cannot exec
	// or port-forward.
	ActionShell   = "shell"   // a shell in a container of the pod
	ActionForward = "forward" // forward a port to 127.0.0.1
)

// Resource is one kind of object the dashboard lists, watches and shows as YAML.
type Resource struct {
	Name       string   `json:"name"`  // as in URLs and RBAC: "deployments"
	Kind       string   `json:"kind"`  // as in manifests: "Deployment"
	Title      string   `json:"title"` // "Deployments"
	Group      string   `json:"group"` // API group, "" for the core group
	Namespaced bool     `json:"namespaced"`
	Columns    []string `json:"columns"` // headers of Row.Cells (name, namespace and age are implied)
	Actions    []string `json:"actions"`

	api func(c kubernetes.Interface, namespace string) objectAPI
	row func(obj runtime.Object, env rowEnv) Row
}

// Row is one object as the UI shows it.
type Row struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Time is when the object was created (for an event: last seen), RFC 3339; the UI
	// shows its age and sorts events by it.
	Time  string `json:"time"`
	Cells []Cell `json:"cells"`
	// Replicas is the desired replica count of what can be scaled.
	Replicas *int32 `json:"replicas,omitempty"`
	// Containers are a pod's containers for its logs, app containers first.
	Containers []string `json:"containers,omitempty"`
	// Labels are what the UI's filter matches key=value terms against.
	Labels map[string]string `json:"labels,omitempty"`
	// Ports are what a port-forward may target: a pod's container ports, a Service's
	// ports.
	Ports []int32 `json:"ports,omitempty"`
}

// Cell is one column of a row.
type Cell struct {
	Text   string `json:"text"`
	URL    string `json:"url,omitempty"`    // a link: a Service's node port URL
	Status string `json:"status,omitempty"` // ok, warn or bad: how the UI colours it
}

// Cell statuses.
const (
	StatusOK   = "ok"
	StatusWarn = "warn"
	StatusBad  = "bad"
)

// rowEnv is what rows need beyond their object.
type rowEnv struct {
	NodeIP string // where node ports answer
}

// objectAPI is the typed client of one resource in one namespace, without its types.
type objectAPI interface {
	get(ctx context.Context, name string) (runtime.Object, error)
	list(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error)
	watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// typedAPI is what every typed client-go client has.
type typedAPI[O, L runtime.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (O, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

type adapter[O, L runtime.Object] struct{ c typedAPI[O, L] }

func (a adapter[O, L]) get(ctx context.Context, name string) (runtime.Object, error) {
	o, err := a.c.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return o, nil
}

func (a adapter[O, L]) list(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	l, err := a.c.List(ctx, opts)
	if err != nil {
		return nil, err
	}
	return l, nil
}

func (a adapter[O, L]) watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return a.c.Watch(ctx, opts)
}

func adapt[O, L runtime.Object](c typedAPI[O, L]) objectAPI { return adapter[O, L]{c} }

// typedRow turns a row function of one type into one of runtime.Object.
func typedRow[O runtime.Object](f func(O, rowEnv) Row) func(runtime.Object, rowEnv) Row {
	return func(obj runtime.Object, env rowEnv) Row {
		o, ok := obj.(O)
		if !ok {
			return Row{}
		}
		return f(o, env)
	}
}

// Resources lists every resource the dashboard shows, in the order of its views.
func Resources() []Resource {
	return []Resource{
		{Name: "nodes", Kind: "Node", Title: "Nodes", Columns: []string{"Status", "Version", "Internal IP"},
			api: func(c kubernetes.Interface, _ string) objectAPI {
				return adapt[*corev1.Node, *corev1.NodeList](c.CoreV1().Nodes())
			},
			row: typedRow(nodeRow)},
		{Name: "namespaces", Kind: "Namespace", Title: "Namespaces", Columns: []string{"Status"},
			api: func(c kubernetes.Interface, _ string) objectAPI {
				return adapt[*corev1.Namespace, *corev1.NamespaceList](c.CoreV1().Namespaces())
			},
			row: typedRow(namespaceRow)},
		{Name: "deployments", Kind: "Deployment", Title: "Deployments", Group: "apps", Namespaced: true,
			Columns: []string{"Ready", "Up-to-date", "Available", "Images"}, Actions: []string{ActionScale, ActionRestart, ActionLogs},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*appsv1.Deployment, *appsv1.DeploymentList](c.AppsV1().Deployments(ns))
			},
			row: typedRow(deploymentRow)},
		{Name: "replicasets", Kind: "ReplicaSet", Title: "ReplicaSets", Group: "apps", Namespaced: true,
			Columns: []string{"Ready", "Owner", "Images"}, Actions: []string{ActionLogs},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*appsv1.ReplicaSet, *appsv1.ReplicaSetList](c.AppsV1().ReplicaSets(ns))
			},
			row: typedRow(replicaSetRow)},
		{Name: "statefulsets", Kind: "StatefulSet", Title: "StatefulSets", Group: "apps", Namespaced: true,
			Columns: []string{"Ready", "Images"}, Actions: []string{ActionScale, ActionRestart, ActionLogs},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*appsv1.StatefulSet, *appsv1.StatefulSetList](c.AppsV1().StatefulSets(ns))
			},
			row: typedRow(statefulSetRow)},
		{Name: "daemonsets", Kind: "DaemonSet", Title: "DaemonSets", Group: "apps", Namespaced: true,
			Columns: []string{"Desired", "Ready", "Up-to-date", "Images"}, Actions: []string{ActionLogs},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*appsv1.DaemonSet, *appsv1.DaemonSetList](c.AppsV1().DaemonSets(ns))
			},
			row: typedRow(daemonSetRow)},
		{Name: "jobs", Kind: "Job", Title: "Jobs", Group: "batch", Namespaced: true,
			Columns: []string{"Status", "Completions", "Duration"},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*batchv1.Job, *batchv1.JobList](c.BatchV1().Jobs(ns))
			},
			row: typedRow(jobRow)},
		{Name: "cronjobs", Kind: "CronJob", Title: "CronJobs", Group: "batch", Namespaced: true,
			Columns: []string{"Schedule", "Suspended", "Active", "Last schedule"},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*batchv1.CronJob, *batchv1.CronJobList](c.BatchV1().CronJobs(ns))
			},
			row: typedRow(cronJobRow)},
		{Name: "pods", Kind: "Pod", Title: "Pods", Namespaced: true,
			Columns: []string{"Ready", "Status", "Restarts", "Node", "IP"}, Actions: []string{ActionLogs, ActionShell, ActionForward, ActionDelete},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*corev1.Pod, *corev1.PodList](c.CoreV1().Pods(ns))
			},
			row: typedRow(podRow)},
		{Name: "services", Kind: "Service", Title: "Services", Namespaced: true,
			Columns: []string{"Type", "Cluster IP", "Ports", "URLs"}, Actions: []string{ActionForward},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*corev1.Service, *corev1.ServiceList](c.CoreV1().Services(ns))
			},
			row: typedRow(serviceRow)},
		{Name: "ingresses", Kind: "Ingress", Title: "Ingresses", Group: "networking.k8s.io", Namespaced: true,
			Columns: []string{"Class", "Rules", "Address"},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*networkingv1.Ingress, *networkingv1.IngressList](c.NetworkingV1().Ingresses(ns))
			},
			row: typedRow(ingressRow)},
		{Name: "configmaps", Kind: "ConfigMap", Title: "ConfigMaps", Namespaced: true, Columns: []string{"Keys"},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*corev1.ConfigMap, *corev1.ConfigMapList](c.CoreV1().ConfigMaps(ns))
			},
			row: typedRow(configMapRow)},
		{Name: "secrets", Kind: "Secret", Title: "Secrets", Namespaced: true, Columns: []string{"Type", "Keys"}, Actions: []string{ActionReveal},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*corev1.Secret, *corev1.SecretList](c.CoreV1().Secrets(ns))
			},
			row: typedRow(secretRow)},
		{Name: "persistentvolumeclaims", Kind: "PersistentVolumeClaim", Title: "PersistentVolumeClaims", Namespaced: true,
			Columns: []string{"Status", "Volume", "Capacity", "Access modes", "StorageClass"},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*corev1.PersistentVolumeClaim, *corev1.PersistentVolumeClaimList](c.CoreV1().PersistentVolumeClaims(ns))
			},
			row: typedRow(pvcRow)},
		{Name: "persistentvolumes", Kind: "PersistentVolume", Title: "PersistentVolumes",
			Columns: []string{"Status", "Claim", "Capacity", "Access modes", "Reclaim policy", "StorageClass"},
			api: func(c kubernetes.Interface, _ string) objectAPI {
				return adapt[*corev1.PersistentVolume, *corev1.PersistentVolumeList](c.CoreV1().PersistentVolumes())
			},
			row: typedRow(pvRow)},
		{Name: "events", Kind: "Event", Title: "Events", Namespaced: true, Columns: []string{"Type", "Reason", "Object", "Message", "Count"},
			api: func(c kubernetes.Interface, ns string) objectAPI {
				return adapt[*corev1.Event, *corev1.EventList](c.CoreV1().Events(ns))
			},
			row: typedRow(eventRow)},
	}
}

// rowOf fills the fields every row has from the object's metadata.
func rowOf(r Resource, obj runtime.Object, env rowEnv) (Row, error) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return Row{}, err
	}
	row := r.row(obj, env)
	row.Kind, row.Namespace, row.Name, row.UID = r.Name, m.GetNamespace(), m.GetName(), string(m.GetUID())
	row.Labels = m.GetLabels()
	if row.Time == "" {
		row.Time = timeString(m.GetCreationTimestamp().Time)
	}
	if row.Cells == nil {
		row.Cells = []Cell{}
	}
	return row, nil
}

// rowsOf turns a list into rows, sorted by namespace and name.
func rowsOf(r Resource, list runtime.Object, env rowEnv) ([]Row, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(items))
	for _, item := range items {
		row, err := rowOf(r, item, env)
		if err != nil {
			return nil, err
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Namespace != rows[j].Namespace {
			return rows[i].Namespace < rows[j].Namespace
		}
		return rows[i].Name < rows[j].Name
	})
	return rows, nil
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func text(s string) Cell { return Cell{Text: s} }

func status(s, st string) Cell { return Cell{Text: s, Status: st} }

func itoa[T ~int32 | ~int64 | ~int](n T) string { return fmt.Sprint(n) }

func derefInt32(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// readyCell shows ready/desired, coloured by whether they match.
func readyCell(ready, desired int32) Cell {
	st := StatusOK
	switch {
	case desired > 0 && ready == 0:
		st = StatusBad
	case ready < desired:
		st = StatusWarn
	}
	return status(fmt.Sprintf("%d/%d", ready, desired), st)
}

func images(spec corev1.PodSpec) Cell {
	var out []string
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	return text(strings.Join(out, ", "))
}

func nodeRow(n *corev1.Node, _ rowEnv) Row {
	st := status("NotReady", StatusBad)
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
			st = status("Ready", StatusOK)
		}
	}
	if n.Spec.Unschedulable {
		st.Text += ",SchedulingDisabled"
	}
	return Row{Cells: []Cell{st, text(n.Status.NodeInfo.KubeletVersion), text(nodeInternalIP(n))}}
}

func nodeInternalIP(n *corev1.Node) string {
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

func namespaceRow(ns *corev1.Namespace, _ rowEnv) Row {
	st := StatusOK
	if ns.Status.Phase != corev1.NamespaceActive {
		st = StatusWarn
	}
	return Row{Cells: []Cell{status(string(ns.Status.Phase), st)}}
}

func deploymentRow(d *appsv1.Deployment, _ rowEnv) Row {
	want := derefInt32(d.Spec.Replicas, 1)
	return Row{Replicas: &want, Cells: []Cell{
		readyCell(d.Status.ReadyReplicas, want), text(itoa(d.Status.UpdatedReplicas)), text(itoa(d.Status.AvailableReplicas)), images(d.Spec.Template.Spec),
	}}
}

func replicaSetRow(rs *appsv1.ReplicaSet, _ rowEnv) Row {
	want := derefInt32(rs.Spec.Replicas, 1)
	owner := ""
	if ref := metav1.GetControllerOf(rs); ref != nil {
		owner = strings.ToLower(ref.Kind) + "/" + ref.Name
	}
	return Row{Replicas: &want, Cells: []Cell{readyCell(rs.Status.ReadyReplicas, want), text(owner), images(rs.Spec.Template.Spec)}}
}

func statefulSetRow(s *appsv1.StatefulSet, _ rowEnv) Row {
	want := derefInt32(s.Spec.Replicas, 1)
	return Row{Replicas: &want, Cells: []Cell{readyCell(s.Status.ReadyReplicas, want), images(s.Spec.Template.Spec)}}
}

func daemonSetRow(d *appsv1.DaemonSet, _ rowEnv) Row {
	return Row{Cells: []Cell{
		text(itoa(d.Status.DesiredNumberScheduled)), readyCell(d.Status.NumberReady, d.Status.DesiredNumberScheduled),
		text(itoa(d.Status.UpdatedNumberScheduled)), images(d.Spec.Template.Spec),
	}}
}

func jobRow(j *batchv1.Job, _ rowEnv) Row {
	st := status("Running", StatusWarn)
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			st = status("Complete", StatusOK)
		case batchv1.JobFailed:
			st = status("Failed", StatusBad)
		case batchv1.JobSuspended:
			st = status("Suspended", "")
		}
	}
	duration := ""
	if s := j.Status.StartTime; s != nil {
		end := time.Now()
		if c := j.Status.CompletionTime; c != nil {
			end = c.Time
		}
		duration = end.Sub(s.Time).Round(time.Second).String()
	}
	return Row{Cells: []Cell{st, text(fmt.Sprintf("%d/%d", j.Status.Succeeded, derefInt32(j.Spec.Completions, 1))), text(duration)}}
}

func cronJobRow(c *batchv1.CronJob, _ rowEnv) Row {
	suspended := "no"
	if c.Spec.Suspend != nil && *c.Spec.Suspend {
		suspended = "yes"
	}
	last := ""
	if c.Status.LastScheduleTime != nil {
		last = timeString(c.Status.LastScheduleTime.Time)
	}
	return Row{Cells: []Cell{text(c.Spec.Schedule), text(suspended), text(itoa(len(c.Status.Active))), text(last)}}
}

// podStatus is what kubectl shows as a pod's STATUS, in short: the reason a container
// waits or ended, or the phase.
func podStatus(p *corev1.Pod) Cell {
	if p.DeletionTimestamp != nil {
		return status("Terminating", StatusWarn)
	}
	reason := string(p.Status.Phase)
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
			reason = cs.State.Waiting.Reason
		case cs.State.Terminated != nil && cs.State.Terminated.Reason != "" && p.Status.Phase != corev1.PodSucceeded:
			reason = cs.State.Terminated.Reason
		}
	}
	switch {
	case p.Status.Phase == corev1.PodSucceeded:
		return status("Completed", StatusOK)
	case p.Status.Phase == corev1.PodFailed, strings.Contains(reason, "BackOff"), strings.Contains(reason, "Err"), reason == "Error", reason == "OOMKilled":
		return status(reason, StatusBad)
	case p.Status.Phase == corev1.PodRunning && reason == string(corev1.PodRunning):
		return status(reason, StatusOK)
	}
	return status(reason, StatusWarn)
}

func podRow(p *corev1.Pod, _ rowEnv) Row {
	var ready, restarts int32
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
		restarts += cs.RestartCount
	}
	readyC := readyCell(ready, int32(len(p.Spec.Containers)))
	if p.Status.Phase == corev1.PodSucceeded {
		readyC.Status = StatusOK
	}
	var ports []int32
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP {
				ports = append(ports, cp.ContainerPort)
			}
		}
	}
	return Row{Containers: podContainers(p), Ports: ports, Cells: []Cell{
		readyC, podStatus(p), text(itoa(restarts)), text(p.Spec.NodeName), text(p.Status.PodIP),
	}}
}

// NodePortURLs lists the host URLs of a NodePort or LoadBalancer Service, as `devk
// service --url` prints them (the LoadBalancer's address and port when it has one, else
// the node IP and node port).
func NodePortURLs(svc *corev1.Service, nodeIP string) []string {
	if svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return nil
	}
	var lbIP string
	if ing := svc.Status.LoadBalancer.Ingress; svc.Spec.Type == corev1.ServiceTypeLoadBalancer && len(ing) > 0 {
		lbIP = ing[0].IP
	}
	var out []string
	for _, p := range svc.Spec.Ports {
		switch {
		case lbIP != "":
			out = append(out, fmt.Sprintf("http://%s:%d", lbIP, p.Port))
		case p.NodePort != 0 && nodeIP != "":
			out = append(out, fmt.Sprintf("http://%s:%d", nodeIP, p.NodePort))
		}
	}
	return out
}

func serviceRow(s *corev1.Service, env rowEnv) Row {
	var ports []string
	var forward []int32
	for _, p := range s.Spec.Ports {
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			forward = append(forward, p.Port)
		}
		port := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		if p.NodePort != 0 {
			port = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		}
		ports = append(ports, port)
	}
	row := Row{Ports: forward, Cells: []Cell{text(string(s.Spec.Type)), text(s.Spec.ClusterIP), text(strings.Join(ports, ", "))}}
	urls := NodePortURLs(s, env.NodeIP)
	switch len(urls) {
	case 0:
		row.Cells = append(row.Cells, text(""))
	default:
		// The first URL is the link; the others are shown after it.
		row.Cells = append(row.Cells, Cell{Text: strings.Join(urls, " "), URL: urls[0]})
	}
	return row
}

func ingressRow(i *networkingv1.Ingress, _ rowEnv) Row {
	class := ""
	if i.Spec.IngressClassName != nil {
		class = *i.Spec.IngressClassName
	}
	var rules []string
	for _, r := range i.Spec.Rules {
		host := r.Host
		if host == "" {
			host = "*"
		}
		if r.HTTP == nil {
			rules = append(rules, host)
			continue
		}
		for _, p := range r.HTTP.Paths {
			backend := ""
			if s := p.Backend.Service; s != nil {
				backend = s.Name
				if s.Port.Name != "" {
					backend += ":" + s.Port.Name
				} else {
					backend += ":" + itoa(s.Port.Number)
				}
			}
			rules = append(rules, host+p.Path+" → "+backend)
		}
	}
	var addrs []string
	for _, lb := range i.Status.LoadBalancer.Ingress {
		if lb.IP != "" {
			addrs = append(addrs, lb.IP)
		} else if lb.Hostname != "" {
			addrs = append(addrs, lb.Hostname)
		}
	}
	return Row{Cells: []Cell{text(class), text(strings.Join(rules, ", ")), text(strings.Join(addrs, ", "))}}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func configMapRow(c *corev1.ConfigMap, _ rowEnv) Row {
	keys := append(sortedKeys(c.Data), sortedKeys(c.BinaryData)...)
	return Row{Cells: []Cell{text(strings.Join(keys, ", "))}}
}

// secretRow shows a Secret's type and key names; values never leave the server in rows.
func secretRow(s *corev1.Secret, _ rowEnv) Row {
	return Row{Cells: []Cell{text(string(s.Type)), text(strings.Join(sortedKeys(s.Data), ", "))}}
}

func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	var out []string
	for _, m := range modes {
		out = append(out, string(m))
	}
	return strings.Join(out, ",")
}

func phaseCell(phase string, good ...string) Cell {
	for _, g := range good {
		if phase == g {
			return status(phase, StatusOK)
		}
	}
	if phase == "Failed" || phase == "Lost" {
		return status(phase, StatusBad)
	}
	return status(phase, StatusWarn)
}

func pvcRow(c *corev1.PersistentVolumeClaim, _ rowEnv) Row {
	capacity := ""
	if q, ok := c.Status.Capacity[corev1.ResourceStorage]; ok {
		capacity = q.String()
	} else if q, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
		capacity = q.String()
	}
	class := ""
	if c.Spec.StorageClassName != nil {
		class = *c.Spec.StorageClassName
	}
	return Row{Cells: []Cell{phaseCell(string(c.Status.Phase), "Bound"), text(c.Spec.VolumeName), text(capacity), text(accessModes(c.Spec.AccessModes)), text(class)}}
}

func pvRow(v *corev1.PersistentVolume, _ rowEnv) Row {
	claim := ""
	if r := v.Spec.ClaimRef; r != nil {
		claim = r.Namespace + "/" + r.Name
	}
	capacity := ""
	if q, ok := v.Spec.Capacity[corev1.ResourceStorage]; ok {
		capacity = q.String()
	}
	return Row{Cells: []Cell{
		phaseCell(string(v.Status.Phase), "Bound", "Available"), text(claim), text(capacity), text(accessModes(v.Spec.AccessModes)),
		text(string(v.Spec.PersistentVolumeReclaimPolicy)), text(v.Spec.StorageClassName),
	}}
}

// eventTime is when an event last happened, whichever of its times is set.
func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp.Time
	}
	return e.CreationTimestamp.Time
}

func eventRow(e *corev1.Event, _ rowEnv) Row {
	typ := status(e.Type, "")
	if e.Type == corev1.EventTypeWarning {
		typ.Status = StatusWarn
	}
	count := e.Count
	if count == 0 {
		count = 1
	}
	object := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
	return Row{Time: timeString(eventTime(e)), Cells: []Cell{typ, text(e.Reason), text(object), text(e.Message), text(itoa(count))}}
}
