package iso

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRoughly(t *testing.T) {
	for d, want := range map[time.Duration]string{
		12 * time.Second:  "about 10 s",
		34 * time.Second:  "about 35 s",
		66 * time.Second:  "about a minute",
		414 * time.Second: "about 7 min",
	} {
		if got := roughly(d); got != want {
			t.Errorf("roughly(%s) = %q, want %q", d, got, want)
		}
	}
}

type stepRecorder struct {
	steps    []string
	progress []string
}

func (r *stepRecorder) Step(name string)       { r.steps = append(r.steps, name) }
func (r *stepRecorder) Done(error)             {}
func (r *stepRecorder) Progress(detail string) { r.progress = append(r.progress, detail) }

// A step whose artifact is missing says how long it takes (the estimate first, then what
// was measured here); a cache hit says nothing; a failed step records nothing.
func TestRunStepsSaysHowLong(t *testing.T) {
	dir := t.TempDir()
	hit := filepath.Join(dir, "hit")
	if err := os.WriteFile(hit, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	miss := filepath.Join(dir, "miss")
	rep := &stepRecorder{}
	b := &Builder{CacheDir: dir, Report: rep}
	steps := []buildStep{
		{"Building kube", "kube", miss, 7 * time.Minute, func() error { return os.WriteFile(miss, nil, 0o644) }},
		{"Building pause", "pause", hit, 10 * time.Second, func() error { return nil }},
		{"Assembling", "assemble", "", 0, func() error { return nil }},
	}
	if err := b.runSteps(steps); err != nil {
		t.Fatal(err)
	}
	want := []string{"Building kube (usually about 7 min on 2 cores)", "Building pause", "Assembling"}
	if strings.Join(rep.steps, "|") != strings.Join(want, "|") {
		t.Errorf("steps %q, want %q", rep.steps, want)
	}
	if got := loadBuildTimes(dir); len(got) != 1 || got["kube"] != 0 {
		t.Errorf("recorded %v, want only kube (0 s)", got)
	}
	// Measured here: the next build says so.
	times := loadBuildTimes(dir)
	times.record(dir, "kube", 95*time.Second)
	_ = os.Remove(miss)
	rep.steps = nil
	steps[0].run = func() error { return errors.New("boom") }
	if err := b.runSteps(steps[:1]); err == nil {
		t.Fatal("a failed step did not fail the build")
	}
	if rep.steps[0] != "Building kube (took about a minute here last time)" {
		t.Errorf("step %q", rep.steps[0])
	}
	if got := loadBuildTimes(dir)["kube"]; got != 95 {
		t.Errorf("a failed build changed the record to %v", got)
	}
}

func TestPackageCounter(t *testing.T) {
	var got []string
	c := &packageCounter{total: 3, report: func(s string) { got = append(got, s) }}
	for _, chunk := range []string{"internal/abi\nk8s.io/api/co", "re/v1\n# k8s.io/x\n./a.go:1: undefined: y\n", "main\nextra\n"} {
		_, _ = c.Write([]byte(chunk))
		c.last = time.Time{} // report every write
	}
	// The error lines have spaces and are not packages; more than the total is capped.
	if c.done != 4 || got[len(got)-1] != "3/3 packages compiled" || got[0] != "1/3 packages compiled" {
		t.Errorf("done %d, reports %q", c.done, got)
	}
}
