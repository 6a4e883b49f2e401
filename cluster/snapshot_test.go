package cluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/devk-dev/devk/driver"
)

// snapshotDriver is the fake driver with a disk that SaveDisk and RestoreDisk copy.
type snapshotDriver struct {
	*fakeDriver
	disk       []byte
	archives   bool // disk is a tar archive
	restoreErr error
}

func (d *snapshotDriver) ArchivesDisk() bool { return d.archives }

func (d *snapshotDriver) SaveDisk(_ context.Context, _ string, w io.Writer) error {
	_ = d.record("SaveDisk " + string(d.state))
	_, err := w.Write(d.disk)
	return err
}

func (d *snapshotDriver) RestoreDisk(_ context.Context, _ string, r io.Reader) error {
	_ = d.record("RestoreDisk " + string(d.state))
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if d.restoreErr != nil {
		d.disk = data[:len(data)/2] // half written
		return d.restoreErr
	}
	d.disk = data
	return nil
}

func (d *snapshotDriver) CopiesPaused() bool { return true }

func (d *snapshotDriver) PowerOff(_ context.Context, name string) error {
	if err := d.record("PowerOff"); err != nil {
		return err
	}
	d.state = driver.StateStopped
	return nil
}

func newSnapshotEnv(t *testing.T, state driver.State) (*testEnv, *snapshotDriver) {
	t.Helper()
	e := newTestEnv(t)
	e.images.ref = "devk/node:v1.34.4-0123456789ab"
	drv := &snapshotDriver{fakeDriver: e.drv, disk: []byte("etcd objects v1")}
	e.m.Driver = drv
	drv.state = state
	if err := e.m.Home.Save(testProfile("devk")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(e.m.Home.CertsDir("devk"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.m.Home.CertsDir("devk"), "ca.crt"), []byte("CA 1"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e, drv
}

func TestSnapshotSave(t *testing.T) {
	tests := []struct {
		name      string
		state     driver.State
		wantFrom  string
		wantCalls []string
		wantErr   error
	}{
		{"running: paused for the copy, then thawed", driver.StateRunning, "paused", []string{"Node", "Pause", "SaveDisk Paused", "Unpause", "Node"}, nil},
		{"stopped: copied as it is", driver.StateStopped, "stopped", []string{"SaveDisk Stopped"}, nil},
		{"paused by the user: stays paused", driver.StatePaused, "paused", []string{"SaveDisk Paused"}, nil},
		{"node gone", driver.StateNonexistent, "", nil, driver.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, drv := newSnapshotEnv(t, tt.state)
			snap, err := e.m.SnapshotSave(context.Background(), "devk", "seeded")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("SnapshotSave = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(drv.calls, tt.wantCalls) {
				t.Errorf("driver calls %q, want %q", drv.calls, tt.wantCalls)
			}
			if err != nil {
				if entries, _ := os.ReadDir(e.m.Home.SnapshotsDir("devk")); len(entries) != 0 {
					t.Errorf("a failed save left %d entries", len(entries))
				}
				return
			}
			if snap.From != tt.wantFrom || snap.NodeImage != "devk/node:v1.34.4-0123456789ab" || snap.KubernetesVersion != "v1.34.4" || snap.Size == 0 {
				t.Errorf("snapshot %+v", snap)
			}
			if drv.state != tt.state {
				t.Errorf("the node was left %s, want %s", drv.state, tt.state)
			}
			list, err := e.m.SnapshotList("devk")
			if err != nil || len(list) != 1 || list[0].Name != "seeded" {
				t.Fatalf("SnapshotList = %v, %v", list, err)
			}
			if _, err := e.m.SnapshotSave(context.Background(), "devk", "seeded"); !errors.Is(err, ErrSnapshotExists) {
				t.Errorf("a second save under the same name: %v, want ErrSnapshotExists", err)
			}
		})
	}
}

func TestSnapshotNames(t *testing.T) {
	e, _ := newSnapshotEnv(t, driver.StateStopped)
	for _, name := range []string{"", "../x", "A", "-x", strings.Repeat("a", 64), "a/b"} {
		if _, err := e.m.SnapshotSave(context.Background(), "devk", name); !errors.Is(err, ErrInvalid) {
			t.Errorf("save %q: %v, want ErrInvalid", name, err)
		}
	}
	for _, name := range []string{"seeded", "v1.2_pre-upgrade", "0"} {
		if err := ValidateSnapshotName(name); err != nil {
			t.Errorf("%q refused: %v", name, err)
		}
	}
}

// Restore brings back the disk, the settings and the certificates as saved.
func TestSnapshotRestore(t *testing.T) {
	e, drv := newSnapshotEnv(t, driver.StateStopped)
	ctx := context.Background()
	if _, err := e.m.SnapshotSave(ctx, "devk", "seeded"); err != nil {
		t.Fatal(err)
	}
	// Things change after the save.
	drv.disk = []byte("etcd objects v2, more objects")
	prof, _ := e.m.Home.Load("devk")
	prof.Addons = nil
	if err := e.m.Home.Save(prof); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(e.m.Home.CertsDir("devk"), "ca.crt")
	if err := os.WriteFile(ca, []byte("CA 2"), 0o600); err != nil {
		t.Fatal(err)
	}
	// An interrupted restore leaves a mark that start refuses until a restore finishes.
	drv.restoreErr = errors.New("killed")
	if _, _, err := e.m.SnapshotRestore(ctx, "devk", "seeded"); err == nil {
		t.Fatal("the failed restore succeeded")
	}
	if _, err := e.m.Start(ctx, StartOptions{Profile: "devk"}); !errors.Is(err, ErrRestoreInterrupted) {
		t.Fatalf("start after an interrupted restore: %v, want ErrRestoreInterrupted", err)
	}
	if _, err := e.m.SnapshotSave(ctx, "devk", "other"); !errors.Is(err, ErrRestoreInterrupted) {
		t.Fatalf("save after an interrupted restore: %v, want ErrRestoreInterrupted", err)
	}
	drv.restoreErr = nil
	_, started, err := e.m.SnapshotRestore(ctx, "devk", "seeded")
	if err != nil || started {
		t.Fatalf("SnapshotRestore = started %v, %v; want a stopped cluster restored", started, err)
	}
	if !bytes.Equal(drv.disk, []byte("etcd objects v1")) {
		t.Errorf("disk %q, want the saved one", drv.disk)
	}
	if data, _ := os.ReadFile(ca); string(data) != "CA 1" {
		t.Errorf("certificate %q, want the saved one", data)
	}
	if prof, _ := e.m.Home.Load("devk"); len(prof.Addons) != 1 {
		t.Errorf("profile addons %v, want the saved ones", prof.Addons)
	}
	if _, err := os.Stat(e.m.Home.restoreMarker("devk")); !os.IsNotExist(err) {
		t.Errorf("the restore mark is left: %v", err)
	}
}

// A running or paused node is powered off, not shut down: its disk is replaced next.
func TestSnapshotRestorePowersOff(t *testing.T) {
	for _, state := range []driver.State{driver.StateRunning, driver.StatePaused} {
		t.Run(string(state), func(t *testing.T) {
			e, drv := newSnapshotEnv(t, driver.StateStopped)
			ctx := context.Background()
			if _, err := e.m.SnapshotSave(ctx, "devk", "seeded"); err != nil {
				t.Fatal(err)
			}
			drv.state, drv.calls = state, nil
			drv.err = map[string]error{"Start": errors.New("stop here")} // the restart is Start's own test
			_, _, _ = e.m.SnapshotRestore(ctx, "devk", "seeded")
			want := []string{"PowerOff", "RestoreDisk Stopped"}
			if state == driver.StatePaused {
				want = []string{"Unpause", "Node", "PowerOff", "RestoreDisk Stopped"}
			}
			if got := drv.calls; len(got) < len(want) || !slices.Equal(got[:len(want)], want) || slices.Contains(got, "Stop") {
				t.Errorf("calls %q, want %q first and no Stop", got, want)
			}
		})
	}
}

func TestSnapshotRestoreRefuses(t *testing.T) {
	ctx := context.Background()
	t.Run("another node image", func(t *testing.T) {
		e, drv := newSnapshotEnv(t, driver.StateStopped)
		if _, err := e.m.SnapshotSave(ctx, "devk", "seeded"); err != nil {
			t.Fatal(err)
		}
		e.images.ref = "devk/node:v1.34.4-fedcba987654" // a newer devk's image
		drv.calls = nil
		if _, _, err := e.m.SnapshotRestore(ctx, "devk", "seeded"); !errors.Is(err, ErrSnapshotIncompatible) {
			t.Fatalf("restore: %v, want ErrSnapshotIncompatible", err)
		}
		if len(drv.calls) != 0 {
			t.Errorf("a refused restore touched the node: %q", drv.calls)
		}
	})
	t.Run("no such snapshot", func(t *testing.T) {
		e, _ := newSnapshotEnv(t, driver.StateStopped)
		if _, _, err := e.m.SnapshotRestore(ctx, "devk", "nope"); !errors.Is(err, ErrSnapshotNotFound) {
			t.Fatalf("restore: %v, want ErrSnapshotNotFound", err)
		}
	})
	t.Run("disk file missing: the running node is left alone", func(t *testing.T) {
		e, drv := newSnapshotEnv(t, driver.StateStopped)
		if _, err := e.m.SnapshotSave(ctx, "devk", "seeded"); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(e.m.Home.SnapshotsDir("devk"), "seeded", snapshotDisk)); err != nil {
			t.Fatal(err)
		}
		drv.state, drv.calls = driver.StateRunning, nil
		if _, _, err := e.m.SnapshotRestore(ctx, "devk", "seeded"); !errors.Is(err, ErrSnapshotNotFound) {
			t.Fatalf("restore: %v, want ErrSnapshotNotFound", err)
		}
		if len(drv.calls) != 0 || drv.state != driver.StateRunning {
			t.Errorf("a refused restore touched the node: %q, %s", drv.calls, drv.state)
		}
	})
}

func TestSnapshotDeleteAndPartials(t *testing.T) {
	e, _ := newSnapshotEnv(t, driver.StateStopped)
	ctx := context.Background()
	if _, err := e.m.SnapshotSave(ctx, "devk", "one"); err != nil {
		t.Fatal(err)
	}
	// What an interrupted save leaves is invisible, and the next save removes it.
	partial := filepath.Join(e.m.Home.SnapshotsDir("devk"), ".two.partial")
	if err := os.MkdirAll(partial, 0o700); err != nil {
		t.Fatal(err)
	}
	if n := e.m.SnapshotCount("devk"); n != 1 {
		t.Errorf("SnapshotCount = %d, want 1", n)
	}
	if _, err := e.m.SnapshotSave(ctx, "devk", "two"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Error("the partial save was not cleaned up")
	}
	if err := e.m.SnapshotDelete("devk", "one"); err != nil {
		t.Fatal(err)
	}
	if err := e.m.SnapshotDelete("devk", "one"); !errors.Is(err, ErrSnapshotNotFound) {
		t.Errorf("deleting it again: %v, want ErrSnapshotNotFound", err)
	}
	if list, _ := e.m.SnapshotList("devk"); len(list) != 1 || list[0].Name != "two" {
		t.Errorf("left %v, want two", list)
	}
}
