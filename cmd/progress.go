package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// lineReporter prints one line when a step ends (or a line when it starts, for long
// steps, so a user is never left without output): for logs, CI and pipes.
type lineReporter struct {
	mu    sync.Mutex
	out   io.Writer
	stack []stepStart
	now   func() time.Time
}

type stepStart struct {
	name  string
	start time.Time
}

func newLineReporter(out io.Writer) *lineReporter {
	return &lineReporter{out: out, now: time.Now}
}

func (r *lineReporter) Step(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	indent := strings.Repeat("  ", len(r.stack))
	r.stack = append(r.stack, stepStart{name, r.now()})
	fmt.Fprintf(r.out, "%s• %s ...\n", indent, name)
}

func (r *lineReporter) Done(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.stack) == 0 {
		return
	}
	s := r.stack[len(r.stack)-1]
	r.stack = r.stack[:len(r.stack)-1]
	indent := strings.Repeat("  ", len(r.stack))
	mark := "✓"
	if err != nil {
		mark = "✗"
	}
	fmt.Fprintf(r.out, "%s%s %s (%.1fs)\n", indent, mark, s.name, r.now().Sub(s.start).Seconds())
}

// jsonReporter writes one JSON object per event, for `-o json`. Field names are stable.
type jsonReporter struct {
	mu    sync.Mutex
	enc   *json.Encoder
	stack []stepStart
	now   func() time.Time
}

type stepEvent struct {
	Type    string  `json:"type"` // "step" or "done"
	Step    string  `json:"step"`
	Seconds float64 `json:"seconds,omitempty"`
	Error   string  `json:"error,omitempty"`
}

func newJSONReporter(out io.Writer) *jsonReporter {
	return &jsonReporter{enc: json.NewEncoder(out), now: time.Now}
}

func (r *jsonReporter) Step(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stack = append(r.stack, stepStart{name, r.now()})
	_ = r.enc.Encode(stepEvent{Type: "step", Step: name})
}

func (r *jsonReporter) Done(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.stack) == 0 {
		return
	}
	s := r.stack[len(r.stack)-1]
	r.stack = r.stack[:len(r.stack)-1]
	ev := stepEvent{Type: "done", Step: s.name, Seconds: roundSeconds(r.now().Sub(s.start))}
	if err != nil {
		ev.Error = err.Error()
	}
	_ = r.enc.Encode(ev)
}

func roundSeconds(d time.Duration) float64 { return float64(d.Milliseconds()) / 1000 }
