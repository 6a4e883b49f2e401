package iso

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Progresser is a Reporter that can show how far the running step has come.
type Progresser interface {
	Progress(detail string)
}

func (b *Builder) progress(detail string) {
	if p, ok := b.Report.(Progresser); ok {
		p.Progress(detail)
	}
}

// buildTimes are the measured durations of the build steps on this machine, by step key,
// kept in the cache folder so a later build can say how long it will take.
type buildTimes map[string]float64

const buildTimesFile = "build-times.json"

func loadBuildTimes(cacheDir string) buildTimes {
	t := buildTimes{}
	if data, err := os.ReadFile(filepath.Join(cacheDir, buildTimesFile)); err == nil {
		_ = json.Unmarshal(data, &t) // an unreadable record is only a missing estimate
	}
	return t
}

// expect says how long the step should take: as measured here last time, else the
// estimate from our machines.
func (t buildTimes) expect(key string, estimate time.Duration) string {
	if s, ok := t[key]; ok && s > 0 {
		return "took " + roughly(time.Duration(s*float64(time.Second))) + " here last time"
	}
	return "usually " + roughly(estimate) + " on 2 cores"
}

// record keeps a measured duration; failing to write it costs only the next estimate.
func (t buildTimes) record(cacheDir, key string, d time.Duration) {
	t[key] = d.Round(time.Second).Seconds()
	if data, err := json.MarshalIndent(t, "", "  "); err == nil {
		tmp := filepath.Join(cacheDir, buildTimesFile+".tmp")
		if os.WriteFile(tmp, data, 0o644) == nil {
			_ = os.Rename(tmp, filepath.Join(cacheDir, buildTimesFile))
		}
	}
}

// roughly renders a duration as a person would say it.
func roughly(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("about %d s", int(d.Round(5*time.Second).Seconds()))
	case d < 2*time.Minute:
		return "about a minute"
	default:
		return fmt.Sprintf("about %d min", int(d.Round(time.Minute).Minutes()))
	}
}

// packageCounter counts the packages `go build -v` reports as it compiles them (one
// import path per line) and reports "N/M packages compiled".
type packageCounter struct {
	mu      sync.Mutex
	total   int
	done    int
	partial string
	report  func(string)
	last    time.Time
}

func (c *packageCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := strings.Split(c.partial+string(p), "\n")
	c.partial = lines[len(lines)-1]
	for _, line := range lines[:len(lines)-1] {
		// Package paths have no spaces; errors and warnings do.
		if line != "" && !strings.ContainsAny(line, " \t") {
			c.done++
		}
	}
	if c.total > 0 && time.Since(c.last) > 200*time.Millisecond {
		c.last = time.Now()
		c.report(fmt.Sprintf("%d/%d packages compiled", min(c.done, c.total), c.total))
	}
	return len(p), nil
}

// countPackages is how many packages building dir's main package may compile (its
// dependencies, the standard library's included); 0 if go cannot say.
func countPackages(ctx context.Context, dir string, env []string, pkg string) int {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		return 0
	}
	return strings.Count(string(out), "\n")
}
