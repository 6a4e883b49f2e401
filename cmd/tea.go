package cmd

import (
	"fmt"
	"io"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// teaReporter shows steps with spinners and live elapsed times on a terminal.
type teaReporter struct {
	program *tea.Program
	exited  chan struct{}
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
	tickMsg time.Time
	quitMsg struct{}
)

type stepView struct {
	name       string
	depth      int
	start, end time.Time
	err        error
	finished   bool
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
	case tickMsg:
		m.frame++
		m.now = time.Time(msg)
		return m, tick()
	case quitMsg:
		return m, tea.Quit
	}
	return m, nil
}

func (m stepsModel) View() string {
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
		fmt.Fprintf(&b, "%s%s %s (%.1fs)\n", strings.Repeat("  ", s.depth), mark, s.name, end.Sub(s.start).Seconds())
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

// Close draws the final state and gives the terminal back.
func (r *teaReporter) Close() {
	r.program.Send(quitMsg{})
	<-r.exited
}
