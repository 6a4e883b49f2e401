package cmd

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
)

// The live view holds only the running top-level step; when it ends, its whole tree is
// printed above the view once, finished, and the view is empty again.
func TestStepsModelPrintsFinishedStepsOnce(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var m tea.Model = stepsModel{now: at}
	send := func(msg tea.Msg) tea.Cmd {
		var cmd tea.Cmd
		m, cmd = m.Update(msg)
		return cmd
	}
	send(stepMsg{"Creating node", at})
	send(stepMsg{"Pulling", at.Add(time.Second)})
	if cmd := send(doneMsg{nil, at.Add(2 * time.Second)}); cmd != nil {
		t.Fatal("a finished sub-step was printed before its parent ended")
	}
	if got, want := m.View(), "⠋ Creating node (2.0s)\n  ✓ Pulling (1.0s)\n"; got != want {
		t.Errorf("view while running:\n%q\nwant\n%q", got, want)
	}
	cmd := send(doneMsg{nil, at.Add(3 * time.Second)})
	if cmd == nil {
		t.Fatal("a finished top-level step was not printed")
	}
	if got, want := fmt.Sprint(cmd()), "✓ Creating node (3.0s)\n  ✓ Pulling (1.0s)"; !strings.Contains(got, want) {
		t.Errorf("printed %q, want it to hold %q", got, want)
	}
	if v := m.View(); v != "" {
		t.Errorf("view after the step ended = %q, want empty", v)
	}
	send(stepMsg{"Waiting for DNS", at.Add(3 * time.Second)})
	cmd = send(doneMsg{errors.New("timeout"), at.Add(5 * time.Second)})
	if got := fmt.Sprint(cmd()); !strings.Contains(got, "✗ Waiting for DNS (2.0s)") || strings.Contains(got, "Creating node") {
		t.Errorf("second step printed %q, want only its own failed line", got)
	}
}

// A child process gets the stream itself: a terminal stays a terminal for kubectl.
func TestUnwrap(t *testing.T) {
	a := &app{}
	raw := &strings.Builder{}
	if got := unwrap(endingWriter{a: a, w: raw}); got != raw {
		t.Errorf("unwrap = %v, want the stream beneath", got)
	}
	if got := unwrap(raw); got != raw {
		t.Errorf("unwrap of a plain writer = %v", got)
	}
}
