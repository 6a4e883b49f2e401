package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/devk-dev/devk/addons"
	"github.com/devk-dev/devk/internal/filelock"
)

const prebuildLine = "Building the optional addons' images in the background"

// TestAddonPrebuild: once a cluster is up, devk builds the optional addons' images in the
// background at the lowest priority, one prebuild at a time; a first `addons enable`
// then only loads its image, and the setting turns it off. A DEVK_HOME of its own gives
// it an empty image cache (the Go build cache is the machine's, so in CI this mostly
// links what TestAddons compiled).
func TestAddonPrebuild(t *testing.T) {
	requireE2E(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	env := NewEnv(t, devkBin, "e2e-prebuild")
	home := env.IsolatedHome(t)
	t.Cleanup(func() { env.Devk(context.Background(), "delete") })
	env.Extra = append(env.Extra, "DEVK_PREBUILD_ADDONS=true") // the harness turns it off for every other test

	r := env.MustDevk(ctx, "start")
	if !strings.Contains(r.Stderr, prebuildLine) {
		t.Fatalf("start did not say it builds the optional addons' images:\n%s", r.Stderr)
	}
	pid := prebuildProcess(t, home)
	if pid == 0 {
		t.Fatal("no background prebuild process for this home")
	}
	fields := procStat(t, pid)
	if nice := fields[16]; nice != "19" {
		t.Errorf("the background prebuild runs at nice %s, want 19", nice)
	}
	if session := fields[3]; session != strconv.Itoa(pid) {
		t.Errorf("the background prebuild is in session %s, want one of its own (%d)", session, pid)
	}
	if r := env.MustDevk(ctx, "start"); strings.Contains(r.Stderr, prebuildLine) {
		t.Errorf("a start while the prebuild runs started another:\n%s", r.Stderr)
	}
	if now := prebuildProcess(t, home); now != pid {
		t.Fatalf("the prebuild (pid %d) was no longer the one running after the second start (now %d): the check above proved nothing", pid, now)
	}

	// Wait for it: it holds the cache's prebuild lock until it ends.
	begin := time.Now()
	lock, err := filelock.Acquire(ctx, addons.PrebuildLockPath(filepath.Join(home, "cache")), 30*time.Minute)
	if err != nil {
		t.Fatalf("waiting for the background prebuild: %v", err)
	}
	lock.Release()
	log, _ := os.ReadFile(filepath.Join(home, "logs", "addons-prebuild.log"))
	if !strings.Contains(string(log), "The optional addons' images are built.") {
		t.Fatalf("the background prebuild did not finish well:\n%s", log)
	}
	t.Logf("the background prebuild ended %.0fs after start returned", time.Since(begin).Seconds())

	r = env.MustDevk(ctx, "addons", "enable", "ingress")
	if strings.Contains(r.Stderr, "from source") {
		t.Errorf("the first enable after the prebuild built its image:\n%s", r.Stderr)
	}
	t.Logf("first enable of ingress after the prebuild: %.1fs", r.Duration.Seconds())
	if r := env.MustDevk(ctx, "start"); strings.Contains(r.Stderr, prebuildLine) {
		t.Errorf("a start with every image built started a prebuild:\n%s", r.Stderr)
	}

	// Turned off (the flag wins over the environment's true), an image still to build
	// starts nothing.
	matches, _ := filepath.Glob(filepath.Join(home, "cache", "images", "registry-*.tar"))
	if len(matches) != 1 {
		t.Fatalf("want one registry image archive in the cache, found %v", matches)
	}
	if err := os.Remove(matches[0]); err != nil {
		t.Fatal(err)
	}
	if r := env.Devk(ctx, "start", "--prebuild-addons=false"); r.Code != 0 || strings.Contains(r.Stderr, prebuildLine) {
		t.Errorf("start with the prebuild turned off: exit %d\n%s", r.Code, r.Stderr)
	}
	if pid := prebuildProcess(t, home); pid != 0 {
		t.Errorf("a prebuild (pid %d) runs though it is turned off", pid)
	}
}

// prebuildProcess finds the background prebuild of the devk home, or returns 0.
func prebuildProcess(t *testing.T, home string) int {
	t.Helper()
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		cmdline, err := os.ReadFile(filepath.Join(dir, "cmdline"))
		if err != nil || !strings.Contains(string(cmdline), "addons\x00prebuild\x00--background") {
			continue
		}
		environ, err := os.ReadFile(filepath.Join(dir, "environ"))
		if err != nil || !strings.Contains("\x00"+string(environ), "\x00DEVK_HOME="+home+"\x00") {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(dir))
		return pid
	}
	return 0
}

// procStat returns the fields of /proc/PID/stat after the command name: the process
// state is [0], its session [3], its nice value [16].
func procStat(t *testing.T, pid int) []string {
	t.Helper()
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(stat)
	return strings.Fields(s[strings.LastIndex(s, ")")+1:])
}
