package cluster

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/devk-dev/devk/driver"
)

type tarEntry struct {
	hdr  tar.Header
	data []byte
}

func buildTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		hdr.Size = int64(len(e.data))
		if hdr.Typeflag != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readTar lists an archive as "name mode size [link]" lines and each file's content.
func readTar(t *testing.T, archive []byte) (string, map[string][]byte) {
	t.Helper()
	var list strings.Builder
	data := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return list.String(), data
		}
		if err != nil {
			t.Fatal(err)
		}
		content, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		list.WriteString(hdr.Name + " " + hdr.FileInfo().Mode().String() + " " + hdr.Linkname + " " + hdr.PAXRecords["SCHILY.xattr.user.k"] + "\n")
		data[hdr.Name] = content
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// nodeDisk is a node's disk archive: small files, a large one, a large one of zeros
// but its last byte (as etcd's WAL), a link and a folder.
func nodeDisk(t *testing.T, blob []byte) []byte {
	zeros := make([]byte, 3<<20)
	zeros[len(zeros)-1] = 'x'
	return buildTar(t, []tarEntry{
		{tar.Header{Name: "var/", Typeflag: tar.TypeDir, Mode: 0o755}, nil},
		{tar.Header{Name: "var/small", Typeflag: tar.TypeReg, Mode: 0o644}, []byte("small")},
		{tar.Header{Name: "var/blob", Typeflag: tar.TypeReg, Mode: 0o600, PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}}, blob},
		{tar.Header{Name: "var/wal", Typeflag: tar.TypeReg, Mode: 0o600}, zeros},
		{tar.Header{Name: "var/link", Typeflag: tar.TypeSymlink, Linkname: "blob"}, nil},
	})
}

func TestObjectStoreRoundTrip(t *testing.T) {
	store := objectStore{dir: filepath.Join(t.TempDir(), objectsDir)}
	original := nodeDisk(t, randomBytes(t, 1<<20))
	var thin bytes.Buffer
	digests, added, err := store.thinArchive(bytes.NewReader(original), &thin)
	if err != nil {
		t.Fatal(err)
	}
	if len(digests) != 2 || thin.Len() > 64<<10 {
		t.Errorf("thin archive %d bytes naming %d objects, want 2 objects and a few KiB", thin.Len(), len(digests))
	}
	// The blob takes its size; the zeros take a block, not 3 MiB.
	if added < 1<<20 || added > 1<<20+64<<10 {
		t.Errorf("the store gained %d bytes, want about 1 MiB (the zeros sparse)", added)
	}
	var thick bytes.Buffer
	if err := store.thickArchive(bytes.NewReader(thin.Bytes()), &thick); err != nil {
		t.Fatal(err)
	}
	wantList, wantData := readTar(t, original)
	gotList, gotData := readTar(t, thick.Bytes())
	if gotList != wantList {
		t.Errorf("entries:\n%s\nwant:\n%s", gotList, wantList)
	}
	for name, want := range wantData {
		if !bytes.Equal(gotData[name], want) {
			t.Errorf("%s: %d bytes differ from the %d saved", name, len(gotData[name]), len(want))
		}
	}
	// The same files again cost nothing.
	_, again, err := store.thinArchive(bytes.NewReader(original), io.Discard)
	if err != nil || again != 0 {
		t.Errorf("second thin: added %d, %v; want 0", again, err)
	}
	// A missing object is a clear error, not a short file.
	if err := store.gc(map[string]bool{}); err != nil {
		t.Fatal(err)
	}
	if err := store.thickArchive(bytes.NewReader(thin.Bytes()), io.Discard); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("thick without objects: %v, want a missing object", err)
	}
}

// Two snapshots share the files they have in common; deleting one keeps what the other
// names and removes the rest.
func TestSnapshotObjectsShared(t *testing.T) {
	e, drv := newSnapshotEnv(t, driver.StateStopped)
	ctx := context.Background()
	drv.archives = true
	images := randomBytes(t, 2<<20)
	drv.disk = nodeDisk(t, images)
	first, err := e.m.SnapshotSave(ctx, "devk", "first")
	if err != nil {
		t.Fatal(err)
	}
	if first.DiskSize != int64(len(drv.disk)) || first.Size < 2<<20 {
		t.Errorf("first snapshot: size %d, disk %d; want the 2 MiB blob and disk %d", first.Size, first.DiskSize, len(drv.disk))
	}
	second, err := e.m.SnapshotSave(ctx, "devk", "second")
	if err != nil {
		t.Fatal(err)
	}
	if second.Size > 256<<10 {
		t.Errorf("an unchanged node's second snapshot took %d bytes, want a few KiB", second.Size)
	}
	drv.disk = nodeDisk(t, randomBytes(t, 1<<20)) // the blob changed
	if _, err := e.m.SnapshotSave(ctx, "devk", "third"); err != nil {
		t.Fatal(err)
	}
	objects := func() int {
		entries, _ := os.ReadDir(e.m.Home.snapshotObjects("devk").dir)
		return len(entries)
	}
	if n := objects(); n != 3 {
		t.Fatalf("%d objects, want 3 (wal, two blobs)", n)
	}
	for _, name := range []string{"first", "second"} {
		if err := e.m.SnapshotDelete("devk", name); err != nil {
			t.Fatal(err)
		}
	}
	if n := objects(); n != 2 {
		t.Errorf("%d objects after deleting the first two snapshots, want 2", n)
	}
	// third comes back whole.
	want := drv.disk
	drv.disk = []byte("changed since")
	if _, _, err := e.m.SnapshotRestore(ctx, "devk", "third"); err != nil {
		t.Fatal(err)
	}
	wantList, wantData := readTar(t, want)
	gotList, gotData := readTar(t, drv.disk)
	if gotList != wantList || !bytes.Equal(gotData["var/blob"], wantData["var/blob"]) || !bytes.Equal(gotData["var/wal"], wantData["var/wal"]) {
		t.Errorf("restored disk differs:\n%s\nwant:\n%s", gotList, wantList)
	}
}
