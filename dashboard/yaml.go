package dashboard

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// lastApplied is kubectl's copy of what was applied: for a Secret, its values.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// ToYAML renders an object as `kubectl get -o yaml` does, less its managed fields. A
// Secret's values are replaced by their sizes: they are shown one at a time, on request.
func ToYAML(obj runtime.Object) ([]byte, error) {
	obj = obj.DeepCopyObject()
	if gvks, _, err := scheme.Scheme.ObjectKinds(obj); err == nil && len(gvks) > 0 {
		obj.GetObjectKind().SetGroupVersionKind(gvks[0])
	}
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	if sec, ok := obj.(*corev1.Secret); ok {
		return secretYAML(sec)
	}
	return yaml.Marshal(obj)
}

// secretYAML hides a Secret's values (and kubectl's copy of them).
func secretYAML(sec *corev1.Secret) ([]byte, error) {
	raw, err := json.Marshal(sec)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	if len(sec.Data) > 0 {
		hidden := map[string]string{}
		for k, v := range sec.Data {
			hidden[k] = fmt.Sprintf("(hidden: %d bytes)", len(v))
		}
		m["data"] = hidden
	}
	delete(m, "stringData")
	if md, ok := m["metadata"].(map[string]any); ok {
		if ann, ok := md["annotations"].(map[string]any); ok {
			if _, ok := ann[lastApplied]; ok {
				ann[lastApplied] = "(hidden)"
			}
		}
	}
	return yaml.Marshal(m)
}
