package dashboard

import "testing"

// TestRulesCoverEveryView: the dashboard may read every kind it shows.
func TestRulesCoverEveryView(t *testing.T) {
	can := map[string]bool{}
	for _, r := range Rules() {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				for _, v := range r.Verbs {
					can[g+"/"+res+":"+v] = true
				}
			}
		}
	}
	for _, r := range Resources() {
		for _, v := range []string{"get", "list", "watch"} {
			if !can[r.Group+"/"+r.Name+":"+v] {
				t.Errorf("no %s on %s/%s", v, r.Group, r.Name)
			}
		}
		for _, a := range r.Actions {
			need := map[string][]string{
				ActionScale: {"apps/" + r.Name + "/scale:get", "apps/" + r.Name + "/scale:update"}, ActionRestart: {"apps/" + r.Name + ":patch"},
				ActionLogs: {"/pods:list", "/pods:watch", "/pods/log:get"}, ActionDelete: {"/pods:delete"}, ActionReveal: {"/secrets:get"},
				// A shell and a port forward run in `devk dashboard` with the user's
				// credentials: the dashboard itself needs nothing for them.
				ActionShell: {}, ActionForward: {},
			}[a]
			if need == nil {
				t.Errorf("%s offers unknown action %q", r.Name, a)
			}
			for _, n := range need {
				if !can[n] {
					t.Errorf("%s's action %s needs %s", r.Name, a, n)
				}
			}
		}
	}
}
