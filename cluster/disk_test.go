package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/devk-dev/devk/driver"
)

func TestParseDFAvailable(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    int64
		wantErr bool
	}{
		{"GNU df -P", "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda         264212084 46000000  50219608      48% /var", 50219608 * 1024, false},
		{"busybox df -P", "Filesystem           1024-blocks    Used Available Capacity Mounted on\noverlay                 1000     900       100  90% /", 100 * 1024, false},
		{"full", "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100 100 0 100% /var", 0, false},
		{"no data line", "Filesystem 1024-blocks Used Available Capacity Mounted on", 0, true},
		{"empty", "", 0, true},
		{"not a number", "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100 100 - 100% /var", 0, true},
		{"short line", "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDFAvailable(tt.out)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseDFAvailable = %d, %v; want %d (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCheckDiskFree(t *testing.T) {
	tests := []struct {
		free int64
		want []string // nil: no error
	}{
		{MinFreeDisk, nil},
		{50 << 30, nil},
		{MinFreeDisk - 1, []string{"1023 MiB free", "below the 1.0 GiB"}},
		{300 << 20, []string{"300 MiB free", "docker system prune", "devk image rm IMAGE -p dev", "devk start -p dev"}},
		{0, []string{"0 MiB free"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.free), func(t *testing.T) {
			err := checkDiskFree("dev", tt.free)
			if tt.want == nil {
				if err != nil {
					t.Errorf("checkDiskFree(%d) = %v", tt.free, err)
				}
				return
			}
			if !errors.Is(err, ErrDiskFull) {
				t.Fatalf("checkDiskFree(%d) = %v, want ErrDiskFull", tt.free, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

// dfAnswer makes a node answer df with avail KiB free on /var, and nothing else.
func dfAnswer(availKB int64) func(string) (string, error) {
	return func(cmdline string) (string, error) {
		switch cmdline {
		case "df -P -k /var":
			return fmt.Sprintf("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 1000000000 1 %d 99%% /var", availKB), nil
		case "systemctl is-system-running":
			return "running", nil
		case "systemctl is-active kubelet":
			return "active", nil
		}
		return "", nil
	}
}

// TestStartRefusesFullDisk: start stops at the disk check, before writing anything into
// the node or starting its units, and says so; status warns of the same.
func TestStartRefusesFullDisk(t *testing.T) {
	tests := []struct {
		name    string
		state   driver.State
		availKB int64
		wantErr error
	}{
		{"running node, 300 MiB free", driver.StateRunning, 300 << 10, ErrDiskFull},
		{"stopped node, 300 MiB free", driver.StateStopped, 300 << 10, ErrDiskFull},
		{"new node, 10 MiB free", driver.StateNonexistent, 10 << 10, ErrDiskFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.drv.state = tt.state
			if tt.state != driver.StateNonexistent {
				if err := e.m.Home.Save(testProfile("devk")); err != nil {
					t.Fatal(err)
				}
			}
			e.node.respond = dfAnswer(tt.availKB)
			_, err := e.m.Start(context.Background(), StartOptions{Profile: "devk"})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Start = %v, want %v", err, tt.wantErr)
			}
			for _, c := range e.node.commands {
				if strings.HasPrefix(c, "tar") || strings.HasPrefix(c, "systemctl") {
					t.Errorf("start on a full disk ran %q", c)
				}
			}
			if _, err := e.m.Home.Load("devk"); err != nil {
				t.Errorf("the profile is not kept for the next start: %v", err)
			}
		})
	}
}

func TestStatusWarnsOfFullDisk(t *testing.T) {
	tests := []struct {
		availKB int64
		warns   bool
	}{
		{300 << 10, true},
		{2 << 20, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.availKB), func(t *testing.T) {
			e := newTestEnv(t)
			e.drv.state = driver.StateRunning
			if err := e.m.Home.Save(testProfile("devk")); err != nil {
				t.Fatal(err)
			}
			e.node.respond = dfAnswer(tt.availKB)
			st, _ := e.m.Status(context.Background(), "devk")
			if got := strings.Contains(st.Warning, "MiB free"); got != tt.warns {
				t.Errorf("Status warning = %q, want a warning: %v", st.Warning, tt.warns)
			}
			if st.Host != Running || st.Kubelet != Running {
				t.Errorf("Status = %+v", st)
			}
		})
	}
}
