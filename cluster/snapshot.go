package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/devk-dev/devk/driver"
)

// snapshotFormat changes whenever what a snapshot holds, or how, changes: a snapshot of
// a format this devk does not read is refused. Format 2 keeps large files in the
// profile's object store; format 1 snapshots (one whole archive) are read too.
const snapshotFormat = 2

func readsSnapshotFormat(format int) bool { return format == 1 || format == 2 }

var (
	// ErrSnapshotNotFound means the profile has no snapshot of that name.
	ErrSnapshotNotFound = errors.New("no such snapshot")
	// ErrSnapshotExists means a snapshot of that name exists already.
	ErrSnapshotExists = errors.New("snapshot exists")
	// ErrSnapshotIncompatible means the snapshot was made by another devk or node image.
	ErrSnapshotIncompatible = errors.New("snapshot does not fit this devk")
	// ErrRestoreInterrupted means a restore did not finish: the node's disk is half written.
	ErrRestoreInterrupted = errors.New("a snapshot restore was interrupted")
)

// Snapshot describes one saved state of a cluster: the node's disk (every object in
// etcd, persistent volume data, the images in containerd), the profile's settings and
// its certificates.
type Snapshot struct {
	Name    string    `json:"name"`
	Profile string    `json:"profile"`
	Created time.Time `json:"created"`
	// Size is the bytes the snapshot added to the host's disk when it was saved: its
	// files shared with older snapshots are not counted.
	Size int64 `json:"size"`
	// DiskSize is the size of the node's disk it holds, in full.
	DiskSize          int64  `json:"diskSize,omitempty"`
	KubernetesVersion string `json:"kubernetesVersion"`
	NodeImage         string `json:"nodeImage"`
	Driver            string `json:"driver"`
	Format            int    `json:"format"`
	// From is the node's state when it was copied: "stopped", or "paused" (a running
	// cluster is paused for the copy, for FrozenSeconds).
	From          string  `json:"from"`
	FrozenSeconds float64 `json:"frozenSeconds,omitempty"`
	// Seconds is how long the save took.
	Seconds float64 `json:"seconds"`
}

var snapshotNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidateSnapshotName accepts names usable as folder names everywhere.
func ValidateSnapshotName(name string) error {
	if !snapshotNamePattern.MatchString(name) {
		return fmt.Errorf("%w: snapshot name %q: use up to 63 lowercase letters, digits, '.', '_' and '-', starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

// SnapshotsDir holds a profile's snapshots, one folder each; `devk delete` removes them
// with the profile.
func (h Home) SnapshotsDir(profile string) string {
	return filepath.Join(h.ProfileDir(profile), "snapshots")
}

// restoreMarker exists while a restore writes the node's disk.
func (h Home) restoreMarker(profile string) string {
	return filepath.Join(h.ProfileDir(profile), "restoring")
}

// Files of a snapshot folder.
const (
	snapshotMeta    = "snapshot.json"
	snapshotDisk    = "disk"
	snapshotProfile = "profile" // config.json and certs/
)

// SnapshotSave saves the profile's cluster as snapshot name. A running cluster is paused
// for the copy of its disk (on a driver whose paused disk is consistent) and resumed at
// once; a stopped one is copied as it is. Nothing is visible under the name until every
// file is written.
func (m *Manager) SnapshotSave(ctx context.Context, profile, name string) (Snapshot, error) {
	if err := ValidateSnapshotName(name); err != nil {
		return Snapshot{}, err
	}
	snapshotter, ok := m.Driver.(driver.Snapshotter)
	if !ok {
		return Snapshot{}, fmt.Errorf("%w: the %s driver cannot take snapshots", driver.ErrUnsupported, m.Driver.Name())
	}
	unlock, state, err := m.lockedState(ctx, profile)
	if err != nil {
		return Snapshot{}, err
	}
	defer unlock()
	prof, err := m.Home.Load(profile)
	if err != nil {
		return Snapshot{}, err
	}
	if err := m.checkNotRestoring(profile); err != nil {
		return Snapshot{}, err
	}
	dir := m.Home.SnapshotsDir(profile)
	removePartials(dir) // left by an interrupted save or delete; the lock says none runs
	if err := m.collectObjects(profile); err != nil {
		return Snapshot{}, err
	}
	final := filepath.Join(dir, name)
	if _, err := os.Stat(final); err == nil {
		return Snapshot{}, fmt.Errorf("%w: cluster %s has a snapshot named %s; pick another name or remove it with `devk snapshot delete %s -p %s`", ErrSnapshotExists, profile, name, name, profile)
	}
	began := time.Now()
	snap := Snapshot{Name: name, Profile: profile, Created: began.UTC(), KubernetesVersion: prof.KubernetesVersion,
		NodeImage: prof.NodeImage, Driver: prof.Driver, Format: snapshotFormat, From: "stopped"}
	switch state {
	case driver.StateNonexistent:
		return Snapshot{}, fmt.Errorf("%w: the node of profile %s is gone; run `devk start -p %s` to recreate it first", driver.ErrNotFound, profile, profile)
	case driver.StateRunning, driver.StatePaused:
		if !snapshotter.CopiesPaused() {
			return Snapshot{}, fmt.Errorf("%w: the %s driver copies a node's disk only when it is stopped; run `devk stop -p %s` first", driver.ErrUnsupported, m.Driver.Name(), profile)
		}
		snap.From = "paused"
	}
	tmp := filepath.Join(dir, "."+name+".partial")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return Snapshot{}, fmt.Errorf("create %s: %w", tmp, err)
	}
	defer os.RemoveAll(tmp) // gone once renamed; otherwise the partial save goes
	err = m.step("Saving the node's disk", func() error {
		if state == driver.StateRunning {
			frozen := time.Now()
			if err := m.pauseLocked(ctx, profile); err != nil {
				return err
			}
			defer func() { snap.FrozenSeconds = roundTo(time.Since(frozen), 10*time.Millisecond) }()
			// Thawed even if the copy fails or devk is interrupted.
			defer func() { _ = m.unpause(context.WithoutCancel(ctx), profile) }()
		}
		return writeFileFrom(filepath.Join(tmp, snapshotDisk), func(w io.Writer) error {
			if !snapshotter.ArchivesDisk() {
				counted := &countingWriter{w: w}
				err := snapshotter.SaveDisk(ctx, profile, counted)
				snap.DiskSize = counted.n
				return err
			}
			return m.saveArchive(ctx, snapshotter, profile, w, tmp, &snap)
		})
	})
	if err != nil {
		return Snapshot{}, err
	}
	if err := copyTree(m.Home.ProfileDir(profile), filepath.Join(tmp, snapshotProfile), func(rel string) bool {
		return rel == "config.json" || rel == "certs" || strings.HasPrefix(rel, "certs"+string(filepath.Separator))
	}); err != nil {
		return Snapshot{}, fmt.Errorf("copy the profile's settings and certificates: %w", err)
	}
	own, err := treeSize(tmp)
	if err != nil {
		return Snapshot{}, err
	}
	snap.Size += own
	snap.Seconds = roundTo(time.Since(began), 10*time.Millisecond)
	if err := writeJSON(filepath.Join(tmp, snapshotMeta), snap); err != nil {
		return Snapshot{}, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return Snapshot{}, fmt.Errorf("store snapshot %s: %w", name, err)
	}
	return snap, nil
}

// SnapshotRestore puts the cluster back as snapshot name saved it: objects, volume data,
// images, settings and certificates. Whatever was created since is gone. A cluster that
// was running is started again. Returns the snapshot and whether the cluster was started.
func (m *Manager) SnapshotRestore(ctx context.Context, profile, name string) (Snapshot, bool, error) {
	if err := ValidateSnapshotName(name); err != nil {
		return Snapshot{}, false, err
	}
	snapshotter, ok := m.Driver.(driver.Snapshotter)
	if !ok {
		return Snapshot{}, false, fmt.Errorf("%w: the %s driver cannot restore snapshots", driver.ErrUnsupported, m.Driver.Name())
	}
	snap, wasRunning, err := m.restoreLocked(ctx, snapshotter, profile, name)
	if err != nil || !wasRunning {
		return snap, false, err
	}
	if _, err := m.Start(ctx, StartOptions{Profile: profile}); err != nil {
		return snap, false, fmt.Errorf("snapshot %s restored, but the cluster did not start: %w", name, err)
	}
	return snap, true, nil
}

func (m *Manager) restoreLocked(ctx context.Context, snapshotter driver.Snapshotter, profile, name string) (Snapshot, bool, error) {
	unlock, state, err := m.lockedState(ctx, profile)
	if err != nil {
		return Snapshot{}, false, err
	}
	defer unlock()
	prof, err := m.Home.Load(profile)
	if err != nil {
		return Snapshot{}, false, err
	}
	dir := filepath.Join(m.Home.SnapshotsDir(profile), name)
	snap, err := readSnapshot(dir)
	if err != nil {
		return Snapshot{}, false, err
	}
	if err := m.checkCompatible(ctx, prof, snap); err != nil {
		return Snapshot{}, false, err
	}
	disk, err := os.Open(filepath.Join(dir, snapshotDisk))
	if err != nil {
		return Snapshot{}, false, fmt.Errorf("%w: %s: %v", ErrSnapshotNotFound, name, err)
	}
	defer disk.Close()
	wasRunning := state == driver.StateRunning || state == driver.StatePaused
	if wasRunning {
		// The disk is replaced next, so a clean shutdown would keep nothing: the node is
		// powered off at once (3-4 s faster than a stop).
		if err := m.step("Powering off node "+profile, func() error {
			// Frozen processes cannot be killed: a paused node is thawed first.
			if state == driver.StatePaused {
				if err := m.unpause(ctx, profile); err != nil {
					return err
				}
			}
			return snapshotter.PowerOff(ctx, profile)
		}); err != nil {
			return Snapshot{}, false, err
		}
	}
	// From here the node's disk is being replaced: an interruption leaves the marker,
	// and start refuses until a restore finishes.
	if err := os.WriteFile(m.Home.restoreMarker(profile), []byte(name+"\n"), 0o600); err != nil {
		return Snapshot{}, false, fmt.Errorf("mark the restore: %w", err)
	}
	err = m.step("Restoring the node's disk from snapshot "+name, func() error {
		if _, err := os.Stat(filepath.Join(dir, snapshotObjects)); err != nil {
			return snapshotter.RestoreDisk(ctx, profile, disk) // the archive whole
		}
		return m.restoreArchive(ctx, snapshotter, profile, disk)
	})
	if err != nil {
		return Snapshot{}, false, err
	}
	if err := restoreProfileFiles(filepath.Join(dir, snapshotProfile), m.Home.ProfileDir(profile)); err != nil {
		return Snapshot{}, false, err
	}
	if err := os.Remove(m.Home.restoreMarker(profile)); err != nil {
		return Snapshot{}, false, fmt.Errorf("clear the restore mark: %w", err)
	}
	return snap, wasRunning, nil
}

// checkCompatible refuses a snapshot this devk cannot bring back as it was: another
// format, driver, or node image than the one this devk runs for its Kubernetes version.
func (m *Manager) checkCompatible(ctx context.Context, prof *Profile, snap Snapshot) error {
	switch {
	case !readsSnapshotFormat(snap.Format):
		return fmt.Errorf("%w: snapshot %s has format %d and this devk reads formats 1 and %d; restore it with the devk that saved it", ErrSnapshotIncompatible, snap.Name, snap.Format, snapshotFormat)
	case snap.Driver != prof.Driver:
		return fmt.Errorf("%w: snapshot %s is of a %s node and cluster %s runs on %s", ErrSnapshotIncompatible, snap.Name, snap.Driver, prof.Name, prof.Driver)
	}
	if m.Images == nil {
		return nil
	}
	image, err := m.Images.Ensure(ctx, snap.KubernetesVersion)
	if err != nil {
		return err
	}
	if image != snap.NodeImage {
		return fmt.Errorf("%w: snapshot %s was saved with node image %s, and this devk runs %s for Kubernetes %s; restore it with the devk that saved it, or delete it (`devk snapshot delete %s -p %s`)",
			ErrSnapshotIncompatible, snap.Name, snap.NodeImage, image, snap.KubernetesVersion, snap.Name, prof.Name)
	}
	return nil
}

// checkNotRestoring refuses to work on a node whose disk a restore left half written.
func (m *Manager) checkNotRestoring(profile string) error {
	data, err := os.ReadFile(m.Home.restoreMarker(profile))
	if err != nil {
		return nil
	}
	name := strings.TrimSpace(string(data))
	return fmt.Errorf("%w: the node's disk of cluster %s is half restored from snapshot %s; finish with `devk snapshot restore %s -p %s`",
		ErrRestoreInterrupted, profile, name, name, profile)
}

// SnapshotList lists the profile's snapshots, oldest first.
func (m *Manager) SnapshotList(profile string) ([]Snapshot, error) {
	if _, err := m.Home.Load(profile); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(m.Home.SnapshotsDir(profile))
	if errors.Is(err, fs.ErrNotExist) {
		return []Snapshot{}, nil
	}
	if err != nil {
		return nil, err
	}
	snaps := []Snapshot{}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue // a partial save or delete
		}
		snap, err := readSnapshot(filepath.Join(m.Home.SnapshotsDir(profile), e.Name()))
		if err != nil {
			return nil, err
		}
		snaps = append(snaps, snap)
	}
	sort.Slice(snaps, func(i, j int) bool { return snaps[i].Created.Before(snaps[j].Created) })
	return snaps, nil
}

// SnapshotDelete removes a snapshot: renamed out of sight first, so an interrupted delete
// leaves either the whole snapshot or a partial folder the next command removes.
func (m *Manager) SnapshotDelete(profile, name string) error {
	if err := ValidateSnapshotName(name); err != nil {
		return err
	}
	unlock, err := m.Home.Lock(profile)
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := m.Home.Load(profile); err != nil {
		return err
	}
	dir := m.Home.SnapshotsDir(profile)
	if _, err := readSnapshot(filepath.Join(dir, name)); err != nil {
		return err
	}
	doomed := filepath.Join(dir, "."+name+".deleting")
	if err := os.Rename(filepath.Join(dir, name), doomed); err != nil {
		return fmt.Errorf("delete snapshot %s: %w", name, err)
	}
	if err := os.RemoveAll(doomed); err != nil {
		return err
	}
	return m.collectObjects(profile)
}

// saveArchive copies the node's disk archive to w with its large files in the profile's
// object store, and lists the objects in the snapshot folder dir.
func (m *Manager) saveArchive(ctx context.Context, snapshotter driver.Snapshotter, profile string, w io.Writer, dir string, snap *Snapshot) error {
	pr, pw := io.Pipe()
	saved := make(chan error, 1)
	counted := &countingWriter{w: pw}
	go func() {
		err := snapshotter.SaveDisk(ctx, profile, counted)
		pw.CloseWithError(err)
		saved <- err
	}()
	digests, added, err := m.Home.snapshotObjects(profile).thinArchive(pr, w)
	// The archive's end may come before the stream's (padding); SaveDisk finishes either
	// way.
	if err != nil {
		pr.CloseWithError(err)
	} else {
		_, _ = io.Copy(io.Discard, pr)
	}
	if serr := <-saved; serr != nil {
		return serr
	}
	if err != nil {
		return err
	}
	snap.Size, snap.DiskSize = added, counted.n
	return os.WriteFile(filepath.Join(dir, snapshotObjects), []byte(strings.Join(digests, "\n")+"\n"), 0o600)
}

// restoreArchive gives RestoreDisk the snapshot's archive with the content of its
// objects put back.
func (m *Manager) restoreArchive(ctx context.Context, snapshotter driver.Snapshotter, profile string, thin io.Reader) error {
	pr, pw := io.Pipe()
	thickened := make(chan error, 1)
	go func() {
		err := m.Home.snapshotObjects(profile).thickArchive(thin, pw)
		pw.CloseWithError(err)
		thickened <- err
	}()
	err := snapshotter.RestoreDisk(ctx, profile, pr)
	pr.CloseWithError(errors.New("the restore ended")) // the writer stops if RestoreDisk did first
	if terr := <-thickened; err == nil && terr != nil {
		err = terr // an archive cut short by a missing object
	}
	return err
}

// collectObjects removes the objects no snapshot of the profile names any more (after a
// delete, or an interrupted save). Under the profile's lock.
func (m *Manager) collectObjects(profile string) error {
	dir := m.Home.SnapshotsDir(profile)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	keep := map[string]bool{}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		digests, err := readObjectList(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("read snapshot %s's objects: %w", e.Name(), err)
		}
		for _, d := range digests {
			keep[d] = true
		}
	}
	return m.Home.snapshotObjects(profile).gc(keep)
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// SnapshotCount is how many snapshots a profile has (0 when it cannot tell).
func (m *Manager) SnapshotCount(profile string) int {
	snaps, err := m.SnapshotList(profile)
	if err != nil {
		return 0
	}
	return len(snaps)
}

// pauseLocked freezes the workloads and pauses the node, under the caller's lock.
func (m *Manager) pauseLocked(ctx context.Context, profile string) error {
	node, err := m.Driver.Node(ctx, profile)
	if err != nil {
		return err
	}
	// Workloads first: once the node is paused it runs no commands.
	if err := setWorkloadFreezer(ctx, node, profile, "FROZEN"); err != nil {
		return err
	}
	if err := m.Driver.Pause(ctx, profile); err != nil {
		_ = setWorkloadFreezer(ctx, node, profile, "THAWED")
		return err
	}
	return nil
}

func readSnapshot(dir string) (Snapshot, error) {
	data, err := os.ReadFile(filepath.Join(dir, snapshotMeta))
	if errors.Is(err, fs.ErrNotExist) {
		return Snapshot{}, fmt.Errorf("%w: %s (see `devk snapshot list`)", ErrSnapshotNotFound, filepath.Base(dir))
	}
	if err != nil {
		return Snapshot{}, err
	}
	var snap Snapshot
	if err := json.Unmarshal(data, &snap); err != nil {
		return Snapshot{}, fmt.Errorf("%w: %s is unreadable (%v)", ErrSnapshotIncompatible, filepath.Join(dir, snapshotMeta), err)
	}
	return snap, nil
}

// removePartials removes what interrupted saves and deletes left (dot folders other
// than the object store).
func removePartials(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && e.Name() != objectsDir {
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}

// restoreProfileFiles puts the saved config.json and certificates back: the certificates
// into a new folder swapped in by renames, config.json by an atomic write.
func restoreProfileFiles(saved, profileDir string) error {
	certs := filepath.Join(profileDir, "certs")
	fresh, old := certs+".restore", certs+".old"
	_ = os.RemoveAll(fresh)
	_ = os.RemoveAll(old)
	if err := copyTree(filepath.Join(saved, "certs"), fresh, func(string) bool { return true }); err != nil {
		return fmt.Errorf("restore the certificates: %w", err)
	}
	if err := os.Rename(certs, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("restore the certificates: %w", err)
	}
	if err := os.Rename(fresh, certs); err != nil {
		return fmt.Errorf("restore the certificates: %w", err)
	}
	_ = os.RemoveAll(old)
	data, err := os.ReadFile(filepath.Join(saved, "config.json"))
	if err != nil {
		return fmt.Errorf("restore the profile: %w", err)
	}
	return WriteFileAtomic(filepath.Join(profileDir, "config.json"), data, 0o600)
}

// copyTree copies the regular files and folders under src that keep selects (by path
// relative to src) to dst, keeping their modes.
func copyTree(src, dst string, keep func(rel string) bool) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel != "." && !keep(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		return writeFileFrom(target, func(w io.Writer) error {
			in, err := os.Open(path)
			if err != nil {
				return err
			}
			defer in.Close()
			_, err = io.Copy(w, in)
			return err
		}, info.Mode().Perm())
	})
}

// writeFileFrom creates path (mode 0600 unless given) and fills it with fill.
func writeFileFrom(path string, fill func(io.Writer) error, mode ...fs.FileMode) error {
	perm := fs.FileMode(0o600)
	if len(mode) > 0 {
		perm = mode[0]
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	err = fill(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func treeSize(dir string) (int64, error) {
	var size int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			size += info.Size()
		}
		return nil
	})
	return size, err
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o600)
}

func roundTo(d, unit time.Duration) float64 { return d.Round(unit).Seconds() }
