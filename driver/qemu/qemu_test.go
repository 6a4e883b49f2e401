package qemu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/devk-dev/devk/driver"
)

func TestShellQuote(t *testing.T) {
	argv := []string{"sh", "-c", "echo 'it''s' $HOME; exit 3"}
	out, err := exec.Command("sh", "-c", shellQuote(argv)).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("exit = %v, want 3", err)
	}
	if home := os.Getenv("HOME"); string(out) != "its "+home+"\n" {
		t.Errorf("output %q: arguments were not passed through intact", out)
	}
}

// TestState tells a VM devk stopped from one whose process died (crashed).
func TestState(t *testing.T) {
	ctx := context.Background()
	d := &Driver{Dir: t.TempDir()}
	if st, err := d.State(ctx, "none"); err != nil || st != driver.StateNonexistent {
		t.Fatalf("missing VM: %s %v", st, err)
	}
	tests := []struct {
		name    string
		stopped bool
		want    driver.State
	}{
		{"stopped by devk", true, driver.StateStopped},
		{"process died", false, driver.StateError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &machine{Name: "vm", Stopped: tt.stopped}
			if err := os.MkdirAll(d.dir("vm"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := d.save(m); err != nil {
				t.Fatal(err)
			}
			// A pid that is surely not a QEMU of this VM: our own.
			if err := os.WriteFile(filepath.Join(d.dir("vm"), "qemu.pid"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
				t.Fatal(err)
			}
			if st, err := d.State(ctx, "vm"); err != nil || st != tt.want {
				t.Errorf("State = %s, %v; want %s", st, err, tt.want)
			}
		})
	}
	if err := d.Delete(ctx, "vm"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d.dir("vm")); !os.IsNotExist(err) {
		t.Errorf("Delete left %s", d.dir("vm"))
	}
}

func TestHostPortAndKey(t *testing.T) {
	d := &Driver{Dir: t.TempDir()}
	m := &machine{Name: "vm", Ports: []driver.PortMapping{{HostPort: 40022, NodePort: 22}, {HostPort: 40443, NodePort: 8443}}}
	if err := os.MkdirAll(d.dir("vm"), 0o700); err != nil {
		t.Fatal(err)
	}
	n := &Node{d: d, m: m}
	if p, err := n.HostPort(context.Background(), 8443); err != nil || p != 40443 {
		t.Errorf("HostPort(8443) = %d, %v", p, err)
	}
	if _, err := n.HostPort(context.Background(), 9999); err == nil {
		t.Error("an unforwarded port must be an error")
	}
	key := filepath.Join(d.dir("vm"), "id_ed25519")
	if err := newKey(key); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(key); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %o, want 600", st.Mode().Perm())
	}
	if _, err := d.signer("vm"); err != nil {
		t.Errorf("the generated key does not parse: %v", err)
	}
}
