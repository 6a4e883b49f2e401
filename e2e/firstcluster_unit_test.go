package e2e

import "testing"

func TestStepSeconds(t *testing.T) {
	out := "• Preparing node image for Kubernetes v1.37.2 ...\n" +
		"  ✓ Building Kubernetes v1.37.2 from source (usually about 7 min on 2 cores) (370.2s)\n" +
		"✓ Preparing node image for Kubernetes v1.37.2 (584.0s)\n✓ Creating node (docker) (0.9s)\n"
	for _, tt := range []struct {
		step string
		want float64
		ok   bool
	}{
		{"Preparing node image", 584.0, true},
		{"Building Kubernetes", 370.2, true},
		{"Waiting for the API server", 0, false},
	} {
		if got, ok := stepSeconds(out, tt.step); got != tt.want || ok != tt.ok {
			t.Errorf("%s: %v %v, want %v %v", tt.step, got, ok, tt.want, tt.ok)
		}
	}
}
