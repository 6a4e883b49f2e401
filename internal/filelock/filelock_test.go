package filelock

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestAcquire(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.lock")
	first, err := Acquire(context.Background(), path, 0)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to an open file, so a second open in this process conflicts
	// as another process's would.
	if _, err := Acquire(context.Background(), path, 0); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Acquire without waiting: %v, want ErrBusy", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	if _, err := Acquire(ctx, path, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Acquire until the context ends: %v, want DeadlineExceeded", err)
	}
	go func() { time.Sleep(200 * time.Millisecond); first.Release() }()
	second, err := Acquire(context.Background(), path, 5*time.Second)
	if err != nil {
		t.Fatalf("Acquire once the holder released: %v", err)
	}
	second.Release()
}
