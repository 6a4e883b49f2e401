package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestSnapshot saves a running cluster with objects and volume data, changes and deletes
// things, restores it and checks that every object and byte is back, that what was
// created after the save is gone, and that pods run. An interrupted save leaves nothing.
func TestSnapshot(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	env := NewEnv(t, devkBin, "e2e-snap")
	env.Devk(ctx, "delete")
	t.Cleanup(func() { env.Devk(context.Background(), "delete") })
	env.MustDevk(ctx, "start")
	cs := env.Client()

	const objects = 20
	for i := 0; i < objects; i++ {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("saved-%02d", i)}, Data: map[string]string{"i": fmt.Sprint(i)}}
		if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	CreateClaim(ctx, t, cs, "snap-blob", "64Mi")
	saved, err := runClaimPod(ctx, cs, "snap-write", "snap-blob", "head -c 20971520 /dev/urandom > /data/blob && sync && sha256sum /data/blob")
	if err != nil {
		t.Fatalf("%v\n%s", err, saved)
	}

	r := env.MustDevk(ctx, "snapshot", "save", "seeded")
	t.Logf("save: %s (%s)", strings.TrimSpace(r.Stdout), r.Duration.Round(10*time.Millisecond))
	if !strings.Contains(r.Stdout, "frozen for") {
		t.Errorf("save of a running cluster does not say how long it was frozen: %q", r.Stdout)
	}
	if out, _ := Docker(ctx, "inspect", "-f", "{{.State.Status}}", env.Profile); out != "running" {
		t.Fatalf("after the save the node is %q, want running", out)
	}

	// An interrupted save leaves nothing visible, and the name stays free.
	interrupt(ctx, t, env, sigAfter(syscall.SIGKILL, 300*time.Millisecond), "snapshot", "save", "killed")
	// A save killed (SIGKILL) while the node was paused leaves it paused: the next start
	// thaws it.
	env.MustDevk(ctx, "start")
	var list []struct {
		Name          string  `json:"name"`
		Size          int64   `json:"size"`
		DiskSize      int64   `json:"diskSize"`
		From          string  `json:"from"`
		FrozenSeconds float64 `json:"frozenSeconds"`
	}
	if err := json.Unmarshal([]byte(env.MustDevk(ctx, "snapshot", "list", "-o", "json").Stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "seeded" || list[0].From != "paused" || list[0].Size < 20<<20 {
		t.Fatalf("snapshot list = %+v, want only seeded, taken paused, holding the 20 MB blob", list)
	}

	// Change things: delete half the objects, add one, overwrite the blob.
	for i := 0; i < objects/2; i++ {
		if err := cs.CoreV1().ConfigMaps("default").Delete(ctx, fmt.Sprintf("saved-%02d", i), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-save"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if changed, err := runClaimPod(ctx, cs, "snap-change", "snap-blob", "head -c 1048576 /dev/urandom > /data/blob && sync && sha256sum /data/blob"); err != nil || changed == saved {
		t.Fatalf("overwrite the blob: %v %q", err, changed)
	}

	r = env.MustDevk(ctx, "snapshot", "restore", "seeded")
	t.Logf("restore: %s (%s)", strings.TrimSpace(r.Stdout), r.Duration.Round(10*time.Millisecond))
	if !strings.Contains(r.Stdout, "it is running") {
		t.Errorf("a running cluster is not running after the restore: %q", r.Stdout)
	}
	cs = env.Client()
	names, err := configMapNames(ctx, cs)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < objects; i++ {
		if !slices.Contains(names, fmt.Sprintf("saved-%02d", i)) {
			t.Errorf("ConfigMap saved-%02d is not back", i)
		}
	}
	if slices.Contains(names, "after-save") {
		t.Error("a ConfigMap created after the save survived the restore")
	}
	if read, err := runClaimPod(ctx, cs, "snap-read", "snap-blob", "sha256sum /data/blob"); err != nil || read != saved {
		t.Errorf("blob after restore %q, want %q (%v)", read, saved, err)
	}

	// A snapshot that does not exist, a name taken: one line each, nothing changed.
	expectLine(t, env.Devk(ctx, "snapshot", "restore", "nope"), 50, "SNAPSHOT_NOT_FOUND")
	expectLine(t, env.Devk(ctx, "snapshot", "save", "seeded"), 50, "SNAPSHOT_EXISTS")

	// Stopped clusters are saved as they are and stay stopped when restored.
	env.MustDevk(ctx, "stop")
	r = env.MustDevk(ctx, "snapshot", "save", "stopped")
	if !strings.Contains(r.Stdout, "from the stopped node") {
		t.Errorf("save of a stopped cluster: %q", r.Stdout)
	}
	r = env.MustDevk(ctx, "snapshot", "restore", "seeded")
	if !strings.Contains(r.Stdout, "it is stopped") {
		t.Errorf("restore of a stopped cluster: %q", r.Stdout)
	}
	env.MustDevk(ctx, "start")
	if names, err := configMapNames(ctx, env.Client()); err != nil || !slices.Contains(names, "saved-00") {
		t.Errorf("after restoring into the stopped cluster and starting: %v %v", names, err)
	}

	// The two snapshots keep the files they share once: the second added far less than
	// the first, though it holds a node disk as large.
	if err := json.Unmarshal([]byte(env.MustDevk(ctx, "snapshot", "list", "-o", "json").Stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].Name != "stopped" || list[1].DiskSize < 20<<20 || list[1].Size > list[0].Size/2 {
		t.Errorf("snapshot list = %+v, want stopped's added bytes under half of seeded's", list)
	}
	// Deleting seeded keeps what stopped needs: it restores whole.
	env.MustDevk(ctx, "snapshot", "delete", "seeded")
	r = env.MustDevk(ctx, "snapshot", "restore", "stopped")
	t.Logf("restore of a running cluster: %s (%s)", strings.TrimSpace(r.Stdout), r.Duration.Round(10*time.Millisecond))
	if read, err := runClaimPod(ctx, env.Client(), "snap-read-2", "snap-blob", "sha256sum /data/blob"); err != nil || read != saved {
		t.Errorf("blob after restoring stopped %q, want %q (%v)", read, saved, err)
	}

	dir := filepath.Join(e2eHome(), "profiles", env.Profile, "snapshots")
	r = env.MustDevk(ctx, "delete")
	if !strings.Contains(r.Stderr, "and its snapshot.") {
		t.Errorf("delete does not say how many snapshots went: %q", r.Stderr)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the snapshots folder outlived the cluster: %v", err)
	}
}

func configMapNames(ctx context.Context, cs kubernetes.Interface) ([]string, error) {
	list, err := cs.CoreV1().ConfigMaps("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var names []string
	for _, cm := range list.Items {
		names = append(names, cm.Name)
	}
	return names, nil
}
