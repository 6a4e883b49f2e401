package dashboard

import rbacv1 "k8s.io/api/rbac/v1"

// Rules are the permissions the dashboard's views and actions need, and no more: the
// dashboard addon's ClusterRole grants exactly these (a test checks).
func Rules() []rbacv1.PolicyRule {
	read := []string{"get", "list", "watch"}
	byGroup := map[string][]string{}
	var groups []string
	for _, r := range Resources() {
		if _, ok := byGroup[r.Group]; !ok {
			groups = append(groups, r.Group)
		}
		byGroup[r.Group] = append(byGroup[r.Group], r.Name)
	}
	var rules []rbacv1.PolicyRule
	for _, g := range groups {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{g}, Resources: byGroup[g], Verbs: read})
	}
	return append(rules,
		// Logs.
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
		// Usage on the overview (MetricsAPI).
		rbacv1.PolicyRule{APIGroups: []string{"metrics.k8s.io"}, Resources: []string{"nodes"}, Verbs: []string{"get", "list"}},
		// Scale: GetScale and UpdateScale.
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale", "statefulsets/scale"}, Verbs: []string{"get", "update"}},
		// Restart: a pod template annotation, patched.
		rbacv1.PolicyRule{APIGroups: []string{"apps"}, Resources: []string{"deployments", "statefulsets"}, Verbs: []string{"patch"}},
		// Delete a pod.
		rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"delete"}},
	)
}
