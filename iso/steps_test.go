package iso

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// laneRecorder records what a build shows, as one line per call.
type laneRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *laneRecorder) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, line)
}
func (r *laneRecorder) Step(name string)       { r.add("step " + name) }
func (r *laneRecorder) Progress(detail string) { r.add("progress " + detail) }
func (r *laneRecorder) Done(err error) {
	if err != nil {
		r.add("failed " + err.Error())
		return
	}
	r.add("done")
}

// Steps in different lanes run at the same time; each lane runs in order; a laneAlone
// step waits for all before it; the steps are shown in the order given, and a step's
// progress made before its turn is shown when its turn comes.
func TestRunStepsLanes(t *testing.T) {
	rep := &laneRecorder{}
	b := &Builder{CacheDir: t.TempDir(), Report: rep}
	bigStarted := make(chan struct{})
	var mu sync.Mutex
	var order []string
	ran := func(name string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, name)
	}
	steps := []buildStep{
		{"small one", "one", "", 0, laneOthers, func(context.Context) error {
			// Run in the order shown, this step would wait in vain: "big" comes later.
			select {
			case <-bigStarted:
			case <-time.After(10 * time.Second):
				return errors.New("the Kubernetes lane did not start beside this one")
			}
			ran("one")
			return nil
		}},
		{"small two", "two", "", 0, laneOthers, func(context.Context) error { ran("two"); return nil }},
		{"big", "big", "", 0, laneKubernetes, func(ctx context.Context) error {
			close(bigStarted)
			progress := b.progressFor(ctx)
			progress("1/2 packages compiled")
			progress("2/2 packages compiled")
			ran("big")
			return nil
		}},
		{"assemble", "assemble", "", 0, laneAlone, func(context.Context) error { ran("assemble"); return nil }},
	}
	if err := b.runSteps(context.Background(), steps); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); !strings.HasSuffix(got, ",assemble") || strings.Index(got, "one") > strings.Index(got, "two") {
		t.Errorf("ran %s: want one before two, assemble last", got)
	}
	shown := strings.Join(rep.lines, "\n")
	// "big" finished its progress before (or while) it was on screen; at least its last
	// progress is shown under it, and none under another step.
	want := "step small one\ndone\nstep small two\ndone\nstep big\n"
	if !strings.HasPrefix(shown, want) || !strings.Contains(shown, "progress 2/2 packages compiled\ndone\nstep assemble\ndone") {
		t.Errorf("shown:\n%s\nwant it to start with:\n%s", shown, want)
	}
}

// The first failure stops the steps running beside it and is the error returned; the
// step on screen says it was stopped, then the failed step is shown with its error; no
// later step starts.
func TestRunStepsFailureStopsTheOthers(t *testing.T) {
	rep := &laneRecorder{}
	b := &Builder{CacheDir: t.TempDir(), Report: rep}
	boom := errors.New("proxy unreachable")
	var laterRan bool
	steps := []buildStep{
		{"long one", "long", "", 0, laneOthers, func(ctx context.Context) error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(10 * time.Second):
				return errors.New("not stopped")
			}
		}},
		{"after long", "after", "", 0, laneOthers, func(context.Context) error { laterRan = true; return nil }},
		{"failing", "fail", "", 0, laneKubernetes, func(context.Context) error { return boom }},
		{"assemble", "assemble", "", 0, laneAlone, func(context.Context) error { laterRan = true; return nil }},
	}
	began := time.Now()
	err := b.runSteps(context.Background(), steps)
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	if time.Since(began) > 5*time.Second {
		t.Errorf("the running step was not stopped (took %s)", time.Since(began))
	}
	if laterRan {
		t.Error("a step after the failure ran")
	}
	want := fmt.Sprintf("step long one\nfailed stopped: stopped because %q failed\nstep failing\nfailed %v", "failing", boom)
	if got := strings.Join(rep.lines, "\n"); got != want {
		t.Errorf("shown:\n%s\nwant:\n%s", got, want)
	}
}

// An interrupted build says so for the step on screen, and blames no other step.
func TestRunStepsInterrupted(t *testing.T) {
	rep := &laneRecorder{}
	b := &Builder{CacheDir: t.TempDir(), Report: rep}
	ctx, cancel := context.WithCancel(context.Background())
	wait := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	steps := []buildStep{
		{"one", "one", "", 0, laneOthers, wait},
		{"two", "two", "", 0, laneKubernetes, wait},
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := b.runSteps(ctx, steps); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if got := strings.Join(rep.lines, "\n"); got != "step one\nfailed context canceled" {
		t.Errorf("shown:\n%s", got)
	}
}

// Lines of steps running side by side reach the log whole, each with its step's key.
func TestLinePrefixer(t *testing.T) {
	var log strings.Builder
	var mu sync.Mutex
	a := &linePrefixer{mu: &mu, w: &log, prefix: "[a] "}
	c := &linePrefixer{mu: &mu, w: &log, prefix: "[c] "}
	_, _ = a.Write([]byte("go: downloading x\ngo: down"))
	_, _ = c.Write([]byte("I: unpacking\n"))
	_, _ = a.Write([]byte("loading y\npartial"))
	a.flush()
	c.flush()
	want := "[a] go: downloading x\n[c] I: unpacking\n[a] go: downloading y\n[a] partial\n"
	if log.String() != want {
		t.Errorf("log:\n%q\nwant:\n%q", log.String(), want)
	}
}
