package cluster

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The large files of a snapshot's disk archive (images' layers and blobs, etcd's files,
// volume data) are kept once per profile, by content, in the snapshots folder's
// .objects: a snapshot's own archive names them. A second snapshot of a node costs only
// the files that changed, and runs of zeros (etcd's preallocated WAL) take no disk.
// The host's file system cannot share blocks with the engine's volume (no reflinks on
// ext4, no hard links across mounts), so the first snapshot is a full copy.
const (
	objectsDir    = ".objects"
	objectMinSize = 256 << 10
	// paxObject and paxObjectSize replace a file's content in the archive.
	paxObject     = "DEVK.object"
	paxObjectSize = "DEVK.size"
	// snapshotObjects lists the objects a snapshot names, one digest a line.
	snapshotObjects = "objects"
)

// objectStore is a folder of files named by the sha256 of their content.
type objectStore struct{ dir string }

func (h Home) snapshotObjects(profile string) objectStore {
	return objectStore{dir: filepath.Join(h.SnapshotsDir(profile), objectsDir)}
}

func (s objectStore) path(digest string) string { return filepath.Join(s.dir, digest) }

// put stores what r holds, written sparse, and returns its digest and the bytes it added
// to the disk (0 when the store had it).
func (s objectStore) put(r io.Reader) (digest string, added int64, err error) {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return "", 0, err
	}
	f, err := os.CreateTemp(s.dir, ".put-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(f.Name()) // gone once renamed
	hash := sha256.New()
	sw := &sparseWriter{f: f}
	_, err = io.Copy(io.MultiWriter(hash, sw), r)
	if err == nil {
		err = f.Truncate(sw.off) // a file ending in zeros
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, err
	}
	digest = hex.EncodeToString(hash.Sum(nil))
	if _, err := os.Stat(s.path(digest)); err == nil {
		return digest, 0, nil
	}
	if err := os.Rename(f.Name(), s.path(digest)); err != nil {
		return "", 0, err
	}
	return digest, diskUsage(s.path(digest)), nil
}

// gc removes the objects that no name in keep has, and temporary files of interrupted
// puts.
func (s objectStore) gc(keep map[string]bool) error {
	entries, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !keep[e.Name()] {
			if err := os.Remove(filepath.Join(s.dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

// thinArchive copies the tar archive r to w with the content of every regular file of
// objectMinSize bytes or more put in the store and named instead. It returns the
// digests named and the bytes the store gained.
func (s objectStore) thinArchive(r io.Reader, w io.Writer) (digests []string, added int64, err error) {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("read the disk archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size < objectMinSize {
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, 0, err
			}
			if _, err := io.Copy(tw, tr); err != nil {
				return nil, 0, err
			}
			continue
		}
		digest, n, err := s.put(tr)
		if err != nil {
			return nil, 0, fmt.Errorf("store %s: %w", hdr.Name, err)
		}
		digests, added = append(digests, digest), added+n
		thin := *hdr
		thin.PAXRecords = map[string]string{paxObject: digest, paxObjectSize: strconv.FormatInt(hdr.Size, 10)}
		for k, v := range hdr.PAXRecords {
			thin.PAXRecords[k] = v
		}
		thin.Size, thin.Format = 0, tar.FormatPAX
		if err := tw.WriteHeader(&thin); err != nil {
			return nil, 0, err
		}
	}
	return digests, added, tw.Close()
}

// thickArchive writes the archive thinArchive made back as it was read, every named
// file with its content.
func (s objectStore) thickArchive(r io.Reader, w io.Writer) error {
	tr, tw := tar.NewReader(r), tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return tw.Close()
		}
		if err != nil {
			return fmt.Errorf("read the snapshot's disk archive: %w", err)
		}
		digest, ok := hdr.PAXRecords[paxObject]
		if !ok {
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := io.Copy(tw, tr); err != nil {
				return err
			}
			continue
		}
		size, err := strconv.ParseInt(hdr.PAXRecords[paxObjectSize], 10, 64)
		if err != nil {
			return fmt.Errorf("snapshot archive entry %s: bad size: %w", hdr.Name, err)
		}
		full := *hdr
		full.PAXRecords = map[string]string{}
		for k, v := range hdr.PAXRecords {
			if k != paxObject && k != paxObjectSize {
				full.PAXRecords[k] = v
			}
		}
		full.Size = size
		if err := tw.WriteHeader(&full); err != nil {
			return err
		}
		if err := s.copyObject(tw, digest, size); err != nil {
			return fmt.Errorf("snapshot archive entry %s: %w", hdr.Name, err)
		}
	}
}

func (s objectStore) copyObject(w io.Writer, digest string, size int64) error {
	f, err := os.Open(s.path(digest))
	if err != nil {
		return fmt.Errorf("%w: object %s is missing (%v)", ErrSnapshotIncompatible, digest, err)
	}
	defer f.Close()
	n, err := io.Copy(w, bufio.NewReaderSize(f, 1<<20))
	if err == nil && n != size {
		err = fmt.Errorf("%w: object %s holds %d bytes, want %d", ErrSnapshotIncompatible, digest, n, size)
	}
	return err
}

// sparseWriter writes to f from offset 0, skipping blocks of zeros (a hole reads as
// zeros); the caller truncates f to off at the end.
type sparseWriter struct {
	f   *os.File
	off int64
}

const sparseBlock = 4096

var zeroBlock [sparseBlock]byte

func (s *sparseWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		// A run of whole blocks that are all zeros or all not (the first one ends at the
		// next block boundary), written at once or skipped.
		n := sparseBlock - int(s.off%sparseBlock)
		if n > len(p) {
			n = len(p)
		}
		zero := bytes.Equal(p[:n], zeroBlock[:n])
		for n < len(p) {
			m := min(sparseBlock, len(p)-n)
			if bytes.Equal(p[n:n+m], zeroBlock[:m]) != zero {
				break
			}
			n += m
		}
		if !zero {
			if _, err := s.f.WriteAt(p[:n], s.off); err != nil {
				return written, err
			}
		}
		s.off += int64(n)
		written += n
		p = p[n:]
	}
	return written, nil
}

// diskUsage is the bytes a file takes on disk (holes excluded).
func diskUsage(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return info.Size()
}

// readObjectList reads a snapshot's list of objects.
func readObjectList(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, snapshotObjects))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // a snapshot of a driver whose disk is not an archive
	}
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(data)), nil
}
