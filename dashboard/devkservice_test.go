package dashboard_test

// An external test package: cluster imports iso, which imports dashboard for the source
// of the dashboard's image.

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/devk-dev/devk/cluster"
	"github.com/devk-dev/devk/dashboard"
)

// TestNodePortURLsMatchDevkService: the Services view shows the URLs `devk service
// --url` prints (the dashboard cannot import cluster: its image is built alone).
func TestNodePortURLsMatchDevkService(t *testing.T) {
	ports := []corev1.ServicePort{{Name: "http", Port: 80, NodePort: 30080}, {Name: "https", Port: 443, NodePort: 30443}}
	tests := []struct {
		name string
		svc  corev1.Service
		want []string
	}{
		{"ClusterIP", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: ports}}, nil},
		{"NodePort", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: ports}},
			[]string{"http://172.30.0.2:30080", "http://172.30.0.2:30443"}},
		{"LoadBalancer without an address", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports[:1]}},
			[]string{"http://172.30.0.2:30080"}},
		{"LoadBalancer with an address", corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports[:1]},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "172.30.0.2"}}}}},
			[]string{"http://172.30.0.2:80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.svc.ObjectMeta = metav1.ObjectMeta{Name: "web", Namespace: "default"}
			got := dashboard.NodePortURLs(&tt.svc, "172.30.0.2")
			if !slices.Equal(got, tt.want) {
				t.Errorf("NodePortURLs = %v, want %v", got, tt.want)
			}
			var devk []string
			for _, p := range cluster.ServicePorts(&tt.svc, "172.30.0.2", "http") {
				devk = append(devk, p.URL)
			}
			if !slices.Equal(got, devk) {
				t.Errorf("NodePortURLs = %v, devk service prints %v", got, devk)
			}
		})
	}
}
