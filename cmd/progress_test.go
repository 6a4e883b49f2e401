package cmd

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/devk-dev/devk/internal/golden"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/devk-dev/devk/cluster"
)

// scriptedClock returns the given offsets from a fixed instant, one per call.
func scriptedClock(t *testing.T, offsets ...time.Duration) func() time.Time {
	t.Helper()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	return func() time.Time {
		if i >= len(offsets) {
			t.Fatalf("clock read %d times, script has %d readings", i+1, len(offsets))
		}
		i++
		return base.Add(offsets[i-1])
	}
}

// runScript drives a reporter through nested, failed, instant and unmatched steps.
// Each Step and each matched Done reads the clock once.
func runScript(r cluster.Reporter) {
	r.Step("Preparing node image for Kubernetes v1.34.4") // t=0
	r.Step("Building Kubernetes v1.34.4 from source")     // t=0.5s
	r.Done(nil)                                           // t=95.25s
	r.Step("Building CoreDNS v1.12.1")                    // t=96s
	r.Done(errors.New("go build: exit status 1"))         // t=97.2345s
	r.Done(errors.New("node image build failed"))         // t=98s
	r.Step("Creating node container")                     // t=98s
	r.Done(nil)                                           // t=98s: took no time
	r.Done(nil)                                           // nothing open: ignored, no clock read
}

var scriptOffsets = []time.Duration{
	0, 500 * time.Millisecond, 95250 * time.Millisecond,
	96 * time.Second, 97234500 * time.Microsecond, 98 * time.Second,
	98 * time.Second, 98 * time.Second,
}

// TestProgressGolden compares both reporters with golden output; regenerate with
// `go test ./cmd -run TestProgressGolden -update`.
func TestProgressGolden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		make   func(*bytes.Buffer, func() time.Time) cluster.Reporter
	}{
		{"lines", "progress-lines.txt", func(b *bytes.Buffer, now func() time.Time) cluster.Reporter {
			r := newLineReporter(b)
			r.now = now
			return r
		}},
		{"json", "progress-events.jsonl", func(b *bytes.Buffer, now func() time.Time) cluster.Reporter {
			r := newJSONReporter(b)
			r.now = now
			return r
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			runScript(tt.make(&buf, scriptedClock(t, scriptOffsets...)))
			golden.Assert(t, filepath.Join("testdata", "golden", tt.golden), buf.Bytes())
		})
	}
}

func TestJSONReporterEvents(t *testing.T) {
	var buf bytes.Buffer
	r := newJSONReporter(&buf)
	r.now = scriptedClock(t, scriptOffsets...)
	runScript(r)
	var events []stepEvent
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var raw map[string]any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		for k := range raw {
			if k != "type" && k != "step" && k != "seconds" && k != "error" {
				t.Errorf("unexpected field %q: the event fields are stable", k)
			}
		}
		var ev stepEvent
		json.Unmarshal([]byte(line), &ev)
		events = append(events, ev)
	}
	want := []stepEvent{
		{Type: "step", Step: "Preparing node image for Kubernetes v1.34.4"},
		{Type: "step", Step: "Building Kubernetes v1.34.4 from source"},
		{Type: "done", Step: "Building Kubernetes v1.34.4 from source", Seconds: 94.75},
		{Type: "step", Step: "Building CoreDNS v1.12.1"},
		{Type: "done", Step: "Building CoreDNS v1.12.1", Seconds: 1.234, Error: "go build: exit status 1"},
		{Type: "done", Step: "Preparing node image for Kubernetes v1.34.4", Seconds: 98, Error: "node image build failed"},
		{Type: "step", Step: "Creating node container"},
		{Type: "done", Step: "Creating node container"},
	}
	if len(events) != len(want) {
		t.Fatalf("got %d events, want %d:\n%s", len(events), len(want), buf.String())
	}
	for i := range want {
		if events[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, events[i], want[i])
		}
	}
}

func TestRoundSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want float64
	}{
		{0, 0},
		{999 * time.Microsecond, 0},
		{1500 * time.Millisecond, 1.5},
		{1234567 * time.Microsecond, 1.234},
		{2 * time.Minute, 120},
	}
	for _, tt := range tests {
		if got := roundSeconds(tt.d); got != tt.want {
			t.Errorf("roundSeconds(%s) = %v, want %v", tt.d, got, tt.want)
		}
	}
}

func TestReporterSelection(t *testing.T) {
	var out, errOut bytes.Buffer
	a := &app{stdout: &out, stderr: &errOut}
	if _, ok := a.reporter("json").(*jsonReporter); !ok {
		t.Errorf("-o json does not give JSON events")
	}
	// A buffer is not a terminal: plain lines, on stderr so stdout stays parseable.
	r := a.reporter("text")
	if _, ok := r.(*lineReporter); !ok {
		t.Fatalf("text on a pipe gives %T, want *lineReporter", r)
	}
	r.Step("x")
	if out.Len() != 0 || errOut.Len() == 0 {
		t.Errorf("line progress went to stdout (%q) rather than stderr (%q)", out.String(), errOut.String())
	}
}
