package addons

import (
	"fmt"
	"strings"
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

// kubectlArgs asks kubectl for what the check needs, as one line of output.
func (c Check) kubectlArgs() []string {
	var args []string
	if c.Namespace != "" {
		args = append(args, "-n", c.Namespace)
	}
	switch c.Kind {
	case DeploymentAvailable:
		return append(args, "get", "deployment", c.Name, "-o",
			`jsonpath={.metadata.generation} {.status.observedGeneration} {.status.updatedReplicas} {.status.availableReplicas}`)
	case DaemonSetReady:
		return append(args, "get", "daemonset", c.Name, "-o",
			`jsonpath={.metadata.generation} {.status.observedGeneration} {.status.desiredNumberScheduled} {.status.numberReady}`)
	case StorageClassExists:
		return append(args, "get", "storageclass", c.Name, "-o", "jsonpath={.metadata.name}")
	case APIServiceAvailable:
		return append(args, "get", "apiservice", c.Name, "-o", `jsonpath={.status.conditions[?(@.type=="Available")].status}`)
	}
	return nil
}

// evaluate reads kubectl's answer: nil when the check passes, else why not.
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
