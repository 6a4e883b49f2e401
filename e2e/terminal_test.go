package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestTerminal runs `devk start` on a real terminal (a tmux pane) and reads back what the
// user is left with: every step once, finished, and the closing line. It then checks
// what a user sees next: the node's role and `devk logs` grouped by component.
func TestTerminal(t *testing.T) {
	requireE2E(t)
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := NewEnv(t, devkBin, "e2e-term")
	env.Devk(ctx, "delete")
	t.Cleanup(func() { env.Devk(context.Background(), "delete") })

	// The pane runs devk with the env's environment, then says how it exited.
	script := filepath.Join(t.TempDir(), "run.sh")
	var exports strings.Builder
	for _, kv := range append([]string{"KUBECONFIG=" + env.Kubeconfig, "PATH=" + os.Getenv("PATH")}, env.Extra...) {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&exports, "export %s=%q\n", k, v)
	}
	body := fmt.Sprintf("#!/bin/sh\n%s%s -p %s start\necho \"__EXIT $?__\"\nsleep 600\n", exports.String(), env.Bin, env.Profile)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	session := "devk-e2e-terminal"
	_ = exec.Command("tmux", "kill-session", "-t", session).Run()
	if out, err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", script).CombinedOutput(); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("tmux", "kill-session", "-t", session).Run() })

	var screen string
	if err := Eventually(ctx, 5*time.Minute, func() error {
		// -S - -E -: the whole scrollback and the screen, as the user can scroll it.
		out, err := exec.Command("tmux", "capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", session).Output()
		if err != nil {
			return err
		}
		screen = string(out)
		if !strings.Contains(screen, "__EXIT ") {
			return fmt.Errorf("devk start has not finished")
		}
		return nil
	}); err != nil {
		t.Fatalf("%v; the pane shows:\n%s", err, screen)
	}
	if !strings.Contains(screen, "__EXIT 0__") {
		t.Fatalf("devk start failed on the terminal:\n%s", screen)
	}
	want := fmt.Sprintf("Cluster %q is running Kubernetes", env.Profile)
	if !strings.Contains(screen, want) {
		t.Errorf("the closing line (%s ...) is not on the terminal:\n%s", want, screen)
	}
	spinner := regexp.MustCompile(`[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]`)
	finished := regexp.MustCompile(`^\s*✓ (.+) \(\d+\.\ds\)\s*$`)
	seen := map[string]int{}
	for _, line := range strings.Split(screen, "\n") {
		if spinner.MatchString(line) {
			t.Errorf("a spinner line was left behind: %q", line)
		}
		if m := finished.FindStringSubmatch(line); m != nil {
			seen[m[1]]++
		}
	}
	for _, step := range []string{"Waiting for the API server", "Waiting for cluster DNS"} {
		if seen[step] != 1 {
			t.Errorf("step %q appears %d times, want once", step, seen[step])
		}
	}
	for step, n := range seen {
		if n != 1 {
			t.Errorf("step %q appears %d times, want once", step, n)
		}
	}
	t.Logf("the pane shows:\n%s", strings.TrimRight(screen, "\n"))

	node, err := env.Client().CoreV1().Nodes().Get(ctx, env.Profile, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := node.Labels["node-role.kubernetes.io/control-plane"]; !ok {
		t.Errorf("the node is not labelled as the control plane (ROLES <none>): %v", node.Labels)
	}
	for _, taint := range node.Spec.Taints {
		t.Errorf("the node has a taint %v; it must run workloads", taint)
	}

	logs := env.MustDevk(ctx, "logs", "-n", "3")
	for _, header := range []string{"==> etcd <==", "==> apiserver <==", "==> kubelet <==", "==> containerd <=="} {
		if !strings.Contains(logs.Stdout, header) {
			t.Errorf("devk logs has no %q header:\n%s", header, logs.Stdout)
		}
	}
	one := env.MustDevk(ctx, "logs", "--component", "kubelet", "-n", "3")
	if strings.Count(one.Stdout, "==> ") != 1 || !strings.Contains(one.Stdout, "==> kubelet <==") {
		t.Errorf("devk logs --component kubelet:\n%s", one.Stdout)
	}
}
