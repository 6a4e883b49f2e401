package addons

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// CheckKind is what a health check looks at.
type CheckKind string

// Health checks an addon can declare.
const (
	// DeploymentAvailable passes when the Deployment has an available, up-to-date replica.
	DeploymentAvailable CheckKind = "deployment-available"
	// DaemonSetReady passes when every scheduled pod of the DaemonSet is ready.
	DaemonSetReady CheckKind = "daemonset-ready"
	// StorageClassExists passes when the StorageClass exists.
	StorageClassExists CheckKind = "storageclass-exists"
	// APIServiceAvailable passes when the aggregated API is Available.
	APIServiceAvailable CheckKind = "apiservice-available"
)

// Check is one health check: a kind and the object it looks at.
type Check struct {
	Kind      CheckKind
	Namespace string // empty for cluster-scoped objects
	Name      string
}

func (c Check) String() string {
	where := ""
	if c.Namespace != "" {
		where = " in namespace " + c.Namespace
	}
	switch c.Kind {
	case DeploymentAvailable:
		return "deployment " + c.Name + where + " available"
	case DaemonSetReady:
		return "daemonset " + c.Name + where + " ready"
	case StorageClassExists:
		return "storageclass " + c.Name + " exists"
	case APIServiceAvailable:
		return "apiservice " + c.Name + " available"
	}
	return string(c.Kind) + " " + c.Name + where
}

// object names the API object the check reads.
func (c Check) object() (apiVersion, kind string) {
	switch c.Kind {
	case DeploymentAvailable:
		return "apps/v1", "Deployment"
	case DaemonSetReady:
		return "apps/v1", "DaemonSet"
	case StorageClassExists:
		return "storage.k8s.io/v1", "StorageClass"
	case APIServiceAvailable:
		return "apiregistration.k8s.io/v1", "APIService"
	}
	return "", ""
}

// observe reduces the object to the one line evaluate reads.
func (c Check) observe(obj *unstructured.Unstructured) string {
	num := func(path ...string) string {
		n, _, _ := unstructured.NestedInt64(obj.Object, path...)
		return strconv.FormatInt(n, 10)
	}
	switch c.Kind {
	case DeploymentAvailable:
		return strings.Join([]string{num("metadata", "generation"), num("status", "observedGeneration"),
			num("status", "updatedReplicas"), num("status", "availableReplicas")}, " ")
	case DaemonSetReady:
		return strings.Join([]string{num("metadata", "generation"), num("status", "observedGeneration"),
			num("status", "desiredNumberScheduled"), num("status", "numberReady")}, " ")
	case StorageClassExists:
		return obj.GetName()
	case APIServiceAvailable:
		conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
		for _, c := range conditions {
			if m, ok := c.(map[string]any); ok && m["type"] == "Available" {
				s, _ := m["status"].(string)
				return s
			}
		}
	}
	return ""
}

// evaluate reads the observed line: nil when the check passes, else why not.
func (c Check) evaluate(out string) error {
	f := strings.Fields(out)
	switch c.Kind {
	case DeploymentAvailable:
		if len(f) == 4 && f[0] == f[1] && f[2] != "0" && f[3] != "0" {
			return nil
		}
		return fmt.Errorf("%s: no available replica yet", c)
	case DaemonSetReady:
		if len(f) == 4 && f[0] == f[1] && f[2] != "0" && f[2] == f[3] {
			return nil
		}
		return fmt.Errorf("%s: pods not ready yet", c)
	case StorageClassExists:
		if len(f) == 1 && f[0] == c.Name {
			return nil
		}
		return fmt.Errorf("%s: not found", c)
	case APIServiceAvailable:
		if out == "True" {
			return nil
		}
		return fmt.Errorf("%s: not available yet", c)
	}
	return fmt.Errorf("unknown health check kind %q", c.Kind)
}
