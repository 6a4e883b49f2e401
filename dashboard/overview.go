package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
)

// Amounts are amounts of CPU (millicores), memory (bytes) and pods.
type Amounts struct {
	CPUMilli    int64 `json:"cpuMilli"`
	MemoryBytes int64 `json:"memoryBytes"`
	Pods        int64 `json:"pods,omitempty"`
}

// NodeInfo is a node as the overview shows it.
type NodeInfo struct {
	Name       string  `json:"name"`
	Ready      bool    `json:"ready"`
	Version    string  `json:"version"`
	OS         string  `json:"os"`
	Kernel     string  `json:"kernel"`
	Runtime    string  `json:"runtime"`
	InternalIP string  `json:"internalIP"`
	Created    string  `json:"created"`
	Capacity   Amounts `json:"capacity"`
	// Allocatable is what pods may use; Requested what the node's pods ask for.
	Allocatable Amounts `json:"allocatable"`
	Requested   Amounts `json:"requested"`
	// Usage is what the node uses now, from the metrics API; nil without it.
	Usage *Amounts `json:"usage,omitempty"`
}

// Overview is the answer of /api/overview.
type Overview struct {
	Nodes []NodeInfo `json:"nodes"`
	// Counts of objects, by kind (pods also by phase: "pods:Running").
	Counts map[string]int `json:"counts"`
	// Metrics says whether the metrics API answered; MetricsError why not.
	Metrics      bool   `json:"metrics"`
	MetricsError string `json:"metricsError,omitempty"`
	// Warnings are the latest warning events, newest first.
	Warnings []Row `json:"warnings"`
}

// MetricsFunc reads each node's current usage, by node name.
type MetricsFunc func(ctx context.Context) (map[string]Amounts, error)

// MetricsAPI reads node usage from metrics.k8s.io (served by metrics-server) with c,
// a client of the API server's root (a clientset's Discovery().RESTClient()).
func MetricsAPI(c rest.Interface) MetricsFunc {
	return func(ctx context.Context) (map[string]Amounts, error) {
		raw, err := c.Get().AbsPath("/apis/metrics.k8s.io/v1beta1/nodes").DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("metrics API (enable metrics-server with `devk addons enable metrics-server`): %w", err)
		}
		return parseNodeMetrics(raw)
	}
}

// parseNodeMetrics reads a metrics.k8s.io NodeMetricsList.
func parseNodeMetrics(raw []byte) (map[string]Amounts, error) {
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Usage map[string]string `json:"usage"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("metrics API: %w", err)
	}
	out := map[string]Amounts{}
	for _, it := range list.Items {
		cpu, err := resource.ParseQuantity(it.Usage["cpu"])
		if err != nil {
			return nil, fmt.Errorf("metrics API: node %s cpu %q: %w", it.Metadata.Name, it.Usage["cpu"], err)
		}
		mem, err := resource.ParseQuantity(it.Usage["memory"])
		if err != nil {
			return nil, fmt.Errorf("metrics API: node %s memory %q: %w", it.Metadata.Name, it.Usage["memory"], err)
		}
		out[it.Metadata.Name] = Amounts{CPUMilli: cpu.MilliValue(), MemoryBytes: mem.Value()}
	}
	return out, nil
}

func amountsOf(l corev1.ResourceList) Amounts {
	return Amounts{CPUMilli: l.Cpu().MilliValue(), MemoryBytes: l.Memory().Value(), Pods: l.Pods().Value()}
}

// maxWarnings is how many warning events the overview shows.
const maxWarnings = 8

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	ov, err := s.overview(r.Context())
	if err != nil {
		writeKubeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ov)
}

func (s *Server) overview(ctx context.Context) (Overview, error) {
	c := s.Client
	ov := Overview{Nodes: []NodeInfo{}, Counts: map[string]int{}, Warnings: []Row{}}
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return ov, err
	}
	pods, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return ov, err
	}
	requested := map[string]Amounts{}
	for i := range pods.Items {
		p := &pods.Items[i]
		ov.Counts["pods"]++
		ov.Counts["pods:"+string(p.Status.Phase)]++
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.Spec.NodeName == "" {
			continue
		}
		a := requested[p.Spec.NodeName]
		for _, ctr := range p.Spec.Containers {
			a.CPUMilli += ctr.Resources.Requests.Cpu().MilliValue()
			a.MemoryBytes += ctr.Resources.Requests.Memory().Value()
		}
		a.Pods++
		requested[p.Spec.NodeName] = a
	}
	var usage map[string]Amounts
	if s.Metrics != nil {
		if usage, err = s.Metrics(ctx); err != nil {
			ov.MetricsError = err.Error()
		} else {
			ov.Metrics = true
		}
	} else {
		ov.MetricsError = "metrics are not configured"
	}
	for i := range nodes.Items {
		n := &nodes.Items[i]
		info := NodeInfo{
			Name: n.Name, Version: n.Status.NodeInfo.KubeletVersion, OS: n.Status.NodeInfo.OSImage, Kernel: n.Status.NodeInfo.KernelVersion,
			Runtime: n.Status.NodeInfo.ContainerRuntimeVersion, InternalIP: nodeInternalIP(n), Created: timeString(n.CreationTimestamp.Time),
			Capacity: amountsOf(n.Status.Capacity), Allocatable: amountsOf(n.Status.Allocatable), Requested: requested[n.Name],
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				info.Ready = true
			}
		}
		if u, ok := usage[n.Name]; ok {
			info.Usage = &u
		}
		ov.Nodes = append(ov.Nodes, info)
	}
	counts := []struct {
		kind string
		list func() (int, error)
	}{
		{"namespaces", func() (int, error) {
			l, err := c.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			return lenOf(l, err)
		}},
		{"deployments", func() (int, error) {
			l, err := c.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
			return lenOf(l, err)
		}},
		{"statefulsets", func() (int, error) {
			l, err := c.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
			return lenOf(l, err)
		}},
		{"daemonsets", func() (int, error) {
			l, err := c.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
			return lenOf(l, err)
		}},
		{"services", func() (int, error) {
			l, err := c.CoreV1().Services("").List(ctx, metav1.ListOptions{})
			return lenOf(l, err)
		}},
		{"persistentvolumeclaims", func() (int, error) {
			l, err := c.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
			return lenOf(l, err)
		}},
	}
	for _, k := range counts {
		n, err := k.list()
		if err != nil {
			return ov, err
		}
		ov.Counts[k.kind] = n
	}
	events, err := c.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "type=" + corev1.EventTypeWarning})
	if err != nil {
		return ov, err
	}
	var evRes Resource
	for _, r := range Resources() {
		if r.Name == "events" {
			evRes = r
		}
	}
	for i := range events.Items {
		if events.Items[i].Type != corev1.EventTypeWarning { // fake clients ignore field selectors
			continue
		}
		row, err := rowOf(evRes, &events.Items[i], rowEnv{})
		if err != nil {
			return ov, err
		}
		ov.Warnings = append(ov.Warnings, row)
	}
	sort.SliceStable(ov.Warnings, func(i, j int) bool { return ov.Warnings[i].Time > ov.Warnings[j].Time })
	if len(ov.Warnings) > maxWarnings {
		ov.Warnings = ov.Warnings[:maxWarnings]
	}
	return ov, nil
}

// lenOf counts a list's items.
func lenOf(l runtime.Object, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	return meta.LenList(l), nil
}
