package cmd

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// teaReporter shows steps with spinners and live elapsed times on a terminal. Only the
// running top-level step (with its sub-steps) is live; once it ends it is printed above
// the view for good, so the scrollback holds every step once, finished, and the view
// never grows taller than the screen (bubbletea cannot redraw lines scrolled away).
type teaReporter struct {
	program *tea.Program
	exited  chan struct{}
	once    sync.Once
}

type (
	stepMsg struct {
		name string
		at   time.Time
	}
	doneMsg struct {
		err error
		at  time.Time
	}
	progressMsg string
	tickMsg     time.Time
	quitMsg     struct{}
)

type stepView struct {
	name       string
	depth      int
	start, end time.Time
	err        error
	finished   bool
	detail     string // how far a running step has come, such as "120/1900 packages compiled"
}

type stepsModel struct {
	steps []stepView
	open  []int // indexes of running steps, innermost last
	frame int
	now   time.Time
}

var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func tick() tea.Cmd {
	return tea.Tick(100*time.Millisecond, func(t time.Time) tea.Msg { return tickMsg(t) })
}

func (m stepsModel) Init() tea.Cmd { return tick() }

func (m stepsModel) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case stepMsg:
		m.steps = append(m.steps, stepView{name: msg.name, depth: len(m.open), start: msg.at})
		m.open = append(m.open, len(m.steps)-1)
		m.now = msg.at
	case doneMsg:
		if n := len(m.open); n > 0 {
			i := m.open[n-1]
			m.open = m.open[:n-1]
			m.steps[i].finished, m.steps[i].end, m.steps[i].err = true, msg.at, msg.err
		}
		m.now = msg.at
		if len(m.open) == 0 && len(m.steps) > 0 {
			done := strings.TrimSuffix(m.render(), "\n")
			m.steps = nil
			return m, tea.Println(done)
		}
	case progressMsg:
		if n := len(m.open); n > 0 {
			m.steps[m.open[n-1]].detail = string(msg)
		}
	case tickMsg:
		m.frame++
		m.now = time.Time(msg)
		return m, tick()
	case quitMsg:
		return m, tea.Quit
	}
	return m, nil
}

func (m stepsModel) View() string { return m.render() }

// render draws the steps: a spinner and the time so far on running ones, ✓ or ✗ and the
// time taken on finished ones.
func (m stepsModel) render() string {
	var b strings.Builder
	for _, s := range m.steps {
		mark := spinnerFrames[m.frame%len(spinnerFrames)]
		end := m.now
		switch {
		case s.finished && s.err != nil:
			mark, end = "✗", s.end
		case s.finished:
			mark, end = "✓", s.end
		}
		detail := ""
		if !s.finished && s.detail != "" {
			detail = " " + s.detail
		}
		fmt.Fprintf(&b, "%s%s %s (%.1fs)%s\n", strings.Repeat("  ", s.depth), mark, s.name, end.Sub(s.start).Seconds(), detail)
	}
	return b.String()
}

func newTeaReporter(out io.Writer) *teaReporter {
	r := &teaReporter{
		program: tea.NewProgram(stepsModel{now: time.Now()}, tea.WithOutput(out), tea.WithInput(nil), tea.WithoutSignalHandler()),
		exited:  make(chan struct{}),
	}
	go func() {
		_, _ = r.program.Run()
		close(r.exited)
	}()
	return r
}

func (r *teaReporter) Step(name string) { r.program.Send(stepMsg{name, time.Now()}) }
func (r *teaReporter) Done(err error)   { r.program.Send(doneMsg{err, time.Now()}) }

// Progress shows how far the running step has come (iso.Progresser).
func (r *teaReporter) Progress(detail string) { r.program.Send(progressMsg(detail)) }

// Println prints a line above the live view (a warning), which a direct write to the
// terminal would leave the view unable to redraw over.
func (r *teaReporter) Println(line string) { r.program.Println(line) }

// Close draws the final state and gives the terminal back; it may be called again.
func (r *teaReporter) Close() {
	r.once.Do(func() {
		r.program.Send(quitMsg{})
		<-r.exited
	})
}
