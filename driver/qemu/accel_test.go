package qemu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestChooseAccel(t *testing.T) {
	noDevice := func() error { return errors.New("no /dev/kvm") }
	device := func() error { return nil }
	broken := func(context.Context) error {
		return errors.New("a test boot under KVM failed: failed to set MSR 0x10a")
	}
	works := func(context.Context) error { return nil }
	unprobed := func(context.Context) error { t.Error("probed although the mode or device settled it"); return nil }
	tests := []struct {
		name      string
		mode      string
		device    func() error
		probe     func(context.Context) error
		wantArgs  []string
		wantWarn  string // substring; "" means no warning
		wantErrIs error
	}{
		{"auto, device missing", AccelAuto, noDevice, unprobed, tcgArgs, "no /dev/kvm", nil},
		{"auto, device present but failing", AccelAuto, device, broken, tcgArgs, "failed to set MSR", nil},
		{"auto, working", AccelAuto, device, works, kvmArgs, "", nil},
		{"default is auto", "", device, broken, tcgArgs, "software emulation", nil},
		{"kvm, device missing", AccelKVM, noDevice, unprobed, nil, "", ErrKVMUnusable},
		{"kvm, device present but failing", AccelKVM, device, broken, nil, "", ErrKVMUnusable},
		{"kvm, working", AccelKVM, device, works, kvmArgs, "", nil},
		{"tcg never touches KVM", AccelTCG, func() error { t.Error("opened /dev/kvm for tcg"); return nil }, unprobed, tcgArgs, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, warn, err := chooseAccel(context.Background(), tt.mode, tt.device, tt.probe)
			if !errors.Is(err, tt.wantErrIs) || (tt.wantErrIs == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErrIs)
			}
			if !slices.Equal(args, tt.wantArgs) {
				t.Errorf("args = %v, want %v", args, tt.wantArgs)
			}
			if (tt.wantWarn == "") != (warn == "") || !strings.Contains(warn, tt.wantWarn) {
				t.Errorf("warning = %q, want one containing %q", warn, tt.wantWarn)
			}
		})
	}
	if _, _, err := chooseAccel(context.Background(), "hvf", device, works); err == nil {
		t.Error("an unknown --accel must be refused")
	}
}

// TestRememberedProbe: the verdict is kept per host, so only the first start pays for
// the test boot, and a failing verdict keeps its reason.
func TestRememberedProbe(t *testing.T) {
	for _, verdict := range []error{nil, errors.New("a test boot under KVM failed: abort")} {
		dir := t.TempDir()
		calls := 0
		probe := rememberedProbe(dir, "qemu-system-x86_64", func(context.Context) error { calls++; return verdict })
		for i := 0; i < 3; i++ {
			err := probe(context.Background())
			if (err == nil) != (verdict == nil) || (err != nil && err.Error() != verdict.Error()) {
				t.Fatalf("run %d: %v, want %v", i, err, verdict)
			}
		}
		if calls != 1 {
			t.Errorf("probed %d times, want once", calls)
		}
	}
	// An interrupted probe leaves no verdict.
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = rememberedProbe(dir, "qemu-system-x86_64", func(ctx context.Context) error { return ctx.Err() })(ctx)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("an interrupted probe left a verdict: %v", entries)
	}
}

// TestPreflightKVMRefusal: --accel kvm where KVM fails is refused before anything exists.
func TestPreflightKVMRefusal(t *testing.T) {
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	d := &Driver{Dir: dir, Accel: AccelKVM, probe: func(context.Context) error { return errors.New("broken") }}
	if err := d.Preflight(context.Background()); !errors.Is(err, ErrKVMUnusable) {
		t.Fatalf("Preflight = %v, want ErrKVMUnusable", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused start left %v", entries)
	}
}
