package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/devk-dev/devk/driver"
)

// ErrService marks services that cannot be reached from the host.
var ErrService = errors.New("service not reachable from the host")

// ServicePort is one port of a Service and the address the host reaches it at.
type ServicePort struct {
	Namespace string `json:"namespace"`
	Service   string `json:"service"`
	Name      string `json:"port"`
	Port      int32  `json:"targetPort"`
	NodePort  int32  `json:"nodePort"`
	IP        string `json:"ip"`
	URL       string `json:"url"`
}

// Client returns an admin clientset for a running profile.
func (m *Manager) Client(ctx context.Context, profile string) (*kubernetes.Clientset, *Profile, error) {
	prof, err := m.Home.Load(profile)
	if err != nil {
		return nil, nil, err
	}
	cfg, _, err := m.connect(prof)
	if err != nil {
		return nil, nil, err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := APIServerReady(ctx, client); err != nil {
		return nil, nil, fmt.Errorf("%w: the API server of %s does not answer (%v); run `devk start -p %s`", ErrNotRunning, profile, err, profile)
	}
	return client, prof, nil
}

// Applier returns a ManifestApplier for the profile's cluster.
func (m *Manager) Applier(prof *Profile) (*Applier, error) {
	cfg, _, err := m.connect(prof)
	if err != nil {
		return nil, err
	}
	return NewApplier(cfg)
}

// connect is the admin client configuration of an existing profile's cluster, from its
// certificates (never issuing any: see LoadPKI).
func (m *Manager) connect(prof *Profile) (*rest.Config, *PKI, error) {
	pki, err := LoadPKI(m.Home.CertsDir(prof.Name))
	if err != nil {
		return nil, nil, err
	}
	cfg, err := AdminConfig(prof.Server(), pki)
	return cfg, pki, err
}

// ServiceURLs returns the host-reachable address of each port of a NodePort or
// LoadBalancer Service, waiting up to wait for a ready endpoint (say reports waiting).
func (m *Manager) ServiceURLs(ctx context.Context, profile, namespace, name, scheme string, wait time.Duration, say func(string)) ([]ServicePort, error) {
	client, prof, err := m.Client(ctx, profile)
	if err != nil {
		return nil, err
	}
	if _, err := client.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: namespace %q does not exist; list them with `kubectl get namespaces`", ErrService, namespace)
	}
	svc, err := client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("%w: service %q not found in namespace %q; list them with `devk service list`", ErrService, name, namespace)
	}
	if err != nil {
		return nil, err
	}
	ports, err := m.hostReachable(ctx, profile, ServicePorts(svc, prof.NodeIP, scheme), scheme)
	if err != nil {
		return nil, err
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("%w: service %s/%s is of type %s and has no node port; expose it with `kubectl expose deployment %s --type=NodePort --port=PORT` or set type: NodePort", ErrService, namespace, name, svc.Spec.Type, name)
	}
	said := false
	err = poll(ctx, wait, "a ready endpoint of service "+namespace+"/"+name, func() error {
		ready, err := hasReadyEndpoint(ctx, client, namespace, name)
		if err == nil && !ready {
			err = errors.New("no ready pod behind it")
			if !said && say != nil {
				say(fmt.Sprintf("Waiting up to %s for service %s/%s to have a ready pod ...", wait, namespace, name))
				said = true
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v; check its pods with `kubectl get pods -n %s` and `kubectl describe service %s -n %s`", ErrService, err, namespace, name, namespace)
	}
	return ports, nil
}

// hostReachable rewrites URLs for drivers whose node IP the host cannot reach: each
// node port is forwarded to 127.0.0.1.
func (m *Manager) hostReachable(ctx context.Context, profile string, ports []ServicePort, scheme string) ([]ServicePort, error) {
	fwd, ok := m.Driver.(driver.PortForwarder)
	if !ok {
		return ports, nil
	}
	for i := range ports {
		if ports[i].NodePort == 0 {
			continue
		}
		hostPort, err := fwd.ForwardPort(ctx, profile, int(ports[i].NodePort))
		if err != nil {
			return nil, fmt.Errorf("%w: forward node port %d: %v", ErrService, ports[i].NodePort, err)
		}
		ports[i].IP = "127.0.0.1"
		ports[i].URL = fmt.Sprintf("%s://127.0.0.1:%d", scheme, hostPort)
	}
	return ports, nil
}

// ServicePorts lists the node ports of a Service as host URLs.
func ServicePorts(svc *corev1.Service, nodeIP, scheme string) []ServicePort {
	if svc.Spec.Type != corev1.ServiceTypeNodePort && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return nil
	}
	// A LoadBalancer with an address answers on its own port there; otherwise the node port does.
	var lbIP string
	if ing := svc.Status.LoadBalancer.Ingress; svc.Spec.Type == corev1.ServiceTypeLoadBalancer && len(ing) > 0 {
		lbIP = ing[0].IP
	}
	var out []ServicePort
	for _, p := range svc.Spec.Ports {
		sp := ServicePort{Namespace: svc.Namespace, Service: svc.Name, Name: p.Name, Port: p.Port, NodePort: p.NodePort, IP: nodeIP}
		switch {
		case lbIP != "":
			sp.IP = lbIP
			sp.URL = fmt.Sprintf("%s://%s:%d", scheme, lbIP, p.Port)
		case p.NodePort != 0:
			sp.URL = fmt.Sprintf("%s://%s:%d", scheme, nodeIP, p.NodePort)
		default:
			continue
		}
		out = append(out, sp)
	}
	return out
}

func hasReadyEndpoint(ctx context.Context, client kubernetes.Interface, namespace, name string) (bool, error) {
	slices, err := client.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + name})
	if err != nil {
		return false, err
	}
	for _, s := range slices.Items {
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && *ep.Conditions.Ready {
				return true, nil
			}
		}
	}
	return false, nil
}

// ListServices returns every Service port reachable from the host, in all namespaces.
func (m *Manager) ListServices(ctx context.Context, profile, namespace string) ([]ServicePort, error) {
	client, prof, err := m.Client(ctx, profile)
	if err != nil {
		return nil, err
	}
	list, err := client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []ServicePort
	for i := range list.Items {
		svc := &list.Items[i]
		ports, err := m.hostReachable(ctx, profile, ServicePorts(svc, prof.NodeIP, "http"), "http")
		if err != nil {
			return nil, err
		}
		if len(ports) == 0 {
			ports = []ServicePort{{Namespace: svc.Namespace, Service: svc.Name}}
		}
		out = append(out, ports...)
	}
	return out, nil
}
