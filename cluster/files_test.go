package cluster

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWriteFileAtomic(t *testing.T) {
	tests := []struct {
		name     string
		existing string // content already at the path, "" for none
		data     string
		mode     os.FileMode
	}{
		{"new secret", "", "secret", 0o600},
		{"new public", "", "public", 0o644},
		{"replace, tighter mode", "old content that is longer", "new", 0o600},
		{"replace, looser mode", "old", "new", 0o644},
		{"empty", "", "", 0o600},
		{"nested dirs", "", "x", 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			if tt.name == "nested dirs" {
				path = filepath.Join(dir, "a", "b", "file")
			}
			if tt.existing != "" {
				if err := os.WriteFile(path, []byte(tt.existing), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFileAtomic(path, []byte(tt.data), tt.mode); err != nil {
				t.Fatalf("WriteFileAtomic: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != tt.data {
				t.Errorf("content = %q, %v; want %q", got, err, tt.data)
			}
			assertMode(t, path, tt.mode)
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("directory holds %v, want only the file (temporary files left?)", names)
			}
		})
	}
}

func TestWriteFileAtomicFailure(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	mustWrite(t, blocker, "x")
	if err := WriteFileAtomic(filepath.Join(blocker, "file"), []byte("x"), 0o600); err == nil {
		t.Fatal("writing beneath a regular file succeeded")
	}
	// A directory in the way of the rename: the error is reported and no temporary file stays.
	target := filepath.Join(dir, "target")
	if err := os.MkdirAll(filepath.Join(target, "child"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(target, []byte("x"), 0o600); err == nil {
		t.Fatal("replacing a non-empty directory succeeded")
	}
	assertNoTempFiles(t, dir)
}

func TestLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks", "devk.lock")
	unlock, err := Lock(path, 0)
	if err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	assertMode(t, path, 0o600)

	start := time.Now()
	_, err = Lock(path, 150*time.Millisecond)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock = %v, want ErrLocked", err)
	}
	if waited := time.Since(start); waited < 150*time.Millisecond || waited > 2*time.Second {
		t.Errorf("second Lock gave up after %s, want about 150ms", waited)
	}

	unlock()
	unlock2, err := Lock(path, 0)
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	unlock2()
}

func TestLockWaitsForRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devk.lock")
	unlock, err := Lock(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(200 * time.Millisecond)
		close(released)
		unlock()
	}()
	unlock2, err := Lock(path, 5*time.Second)
	if err != nil {
		t.Fatalf("waiting Lock: %v", err)
	}
	select {
	case <-released:
	default:
		t.Error("second Lock succeeded while the first was held")
	}
	unlock2()
}

func TestLockBadPath(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "file"), "x")
	_, err := Lock(filepath.Join(dir, "file", "x.lock"), 0)
	if err == nil || errors.Is(err, ErrLocked) {
		t.Errorf("Lock beneath a file = %v, want a plain error", err)
	}
}

// TestLockTransient: mutual exclusion holds although every unlock removes the file.
func TestLockTransient(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.devk-lock")
	var inside, most int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				unlock, err := LockTransient(path, 10*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				n := atomic.AddInt32(&inside, 1)
				for {
					m := atomic.LoadInt32(&most)
					if n <= m || atomic.CompareAndSwapInt32(&most, m, n) {
						break
					}
				}
				time.Sleep(time.Millisecond)
				atomic.AddInt32(&inside, -1)
				unlock()
			}
		}()
	}
	wg.Wait()
	if most != 1 {
		t.Errorf("%d holders at once", most)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("lock file left: %v", err)
	}
}
