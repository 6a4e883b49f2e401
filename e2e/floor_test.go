package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/devk-dev/devk/cluster"
)

// floorComponents are the bare Kubernetes components a node needs for DNS to answer,
// by the path their process runs from. devk's units, its LoadBalancer controller and
// its checks are what the floor leaves out.
var floorComponents = []struct{ name, exe string }{
	{"etcd", "/usr/bin/etcd"},
	{"kube-apiserver", "/usr/local/bin/kube-apiserver"},
	{"kubelet", "/usr/local/bin/kubelet"},
	{"kube-controller-manager", "/usr/local/bin/kube-controller-manager"},
	{"kube-scheduler", "/usr/local/bin/kube-scheduler"},
	{"kube-proxy", "/usr/local/bin/kube-proxy"},
}

// floor is what the bare components cost on this machine, with no devk in the way.
type floor struct {
	Boot     time.Duration // docker start to containerd running, with the components' units off
	API      time.Duration // components started (all at once, on the node's data) to /readyz
	DNS      time.Duration // components started to cluster DNS answering from the node
	FreshAPI time.Duration // etcd and the API server started on an empty data dir to /readyz
}

// measureFloor runs the floor in the profile's running node: the components' exact
// command lines are read from /proc, the node reboots with their units off, and they
// are started by hand, as devk's own waits check them. Then etcd and the API server
// alone on an empty data dir: the API server's share of a first start. The node is left
// with its units back in place and the hand-started components stopped.
func measureFloor(ctx context.Context, node string) (f floor, err error) {
	commands := map[string][]string{}
	for _, c := range floorComponents {
		out, err := Docker(ctx, "exec", node, "sh", "-c",
			fmt.Sprintf(`pid=$(pgrep -o -f '^%s( |$)') && echo "env:$(tr '\0' '\n' </proc/$pid/environ | grep '^GOGC=')" && tr '\0' '\n' </proc/$pid/cmdline`, c.exe))
		if err != nil {
			return f, fmt.Errorf("command line of %s: %v: %s", c.name, err, out)
		}
		// "env:" and GOGC as the unit sets it, then the command line.
		lines := strings.Split(out, "\n")
		env, ok := strings.CutPrefix(lines[0], "env:")
		if !ok || len(lines) < 2 || (env != "" && !strings.HasPrefix(env, "GOGC=")) {
			return f, fmt.Errorf("environment and command line of %s: %q", c.name, out)
		}
		commands[c.name] = append([]string{env}, lines[1:]...)
	}
	port := flagValue(commands["kube-apiserver"], "--secure-port")
	if port == "" {
		return f, fmt.Errorf("no --secure-port in the API server's command line")
	}
	var units []string
	for _, c := range floorComponents {
		units = append(units, c.name+".service")
	}
	units = append(units, "devk-lb.service")
	wants := "/etc/systemd/system/multi-user.target.wants"
	off := "/etc/systemd/devk-floor-off"
	if out, err := Docker(ctx, "exec", node, "sh", "-c", fmt.Sprintf("mkdir -p %s && cd %s && mv %s %s/", off, wants, strings.Join(units, " "), off)); err != nil {
		return f, fmt.Errorf("turning the units off: %v: %s", err, out)
	}
	defer func() {
		out, cerr := Docker(context.Background(), "exec", node, "sh", "-c",
			fmt.Sprintf("%s; rm -rf /var/lib/etcd-floor; mv %s/* %s/ && rmdir %s", stopComponents(port), off, wants, off))
		if cerr != nil && err == nil {
			err = fmt.Errorf("putting the units back: %v: %s", cerr, out)
		}
	}()
	if out, err := Docker(ctx, "stop", node); err != nil {
		return f, fmt.Errorf("docker stop: %v: %s", err, out)
	}
	begin := time.Now()
	if out, err := Docker(ctx, "start", node); err != nil {
		return f, fmt.Errorf("docker start: %v: %s", err, out)
	}
	if err := Eventually(ctx, time.Minute, func() error {
		_, err := Docker(ctx, "exec", node, "systemctl", "is-active", "-q", "containerd")
		return err
	}); err != nil {
		return f, fmt.Errorf("containerd after the reboot: %w", err)
	}
	f.Boot = time.Since(begin)

	// Node preparation from the kubelet's unit on a cgroup v1 host, before the clock
	// starts: its cgroup root, emptied of the pods' cgroups the last boot left (the host
	// keeps them, and the kubelet would wait on each).
	prepare := ""
	if root := flagValue(commands["kubelet"], "--cgroup-root"); root != "" {
		prepare = fmt.Sprintf(`for d in /sys/fs/cgroup/*/; do mkdir -p "$d%[1]s" 2>/dev/null
  find "$d%[1]s" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null; done`, root)
	}
	var all []string
	for _, c := range floorComponents {
		all = append(all, launchLine(c.name, commands[c.name]))
	}
	times, err := timeInNode(ctx, node, prepare, all, port, true)
	if err != nil {
		return f, fmt.Errorf("components started by hand: %w", err)
	}
	f.API, f.DNS = times[0], times[1]

	etcd := replaceFlag(commands["etcd"], "--data-dir=", "--data-dir=/var/lib/etcd-floor")
	fresh := []string{launchLine("etcd", etcd), launchLine("kube-apiserver", commands["kube-apiserver"])}
	if times, err = timeInNode(ctx, node, stopComponents(port)+"; rm -rf /var/lib/etcd-floor", fresh, port, false); err != nil {
		return f, fmt.Errorf("etcd and the API server on an empty data dir: %w", err)
	}
	f.FreshAPI = times[0]
	return f, nil
}

// stopComponents kills the hand-started components (etcd is crash-safe; the API server's
// graceful drain would take up to a minute) and waits until they are gone and their
// ports (the API server's, etcd's client, peer and metrics ports) are free: a killed
// process leaves the process list before its sockets close.
func stopComponents(apiPort string) string {
	pattern := `'^(/usr/bin/etcd|/usr/local/bin/kube[a-z-]*)( |$)'`
	ports := `'( sport = :` + apiPort + ` or sport = :2379 or sport = :2380 or sport = :2381 )'`
	return `pkill -9 -f ` + pattern + `; for i in $(seq 100); do ` +
		`pgrep -f ` + pattern + ` >/dev/null || [ -n "$(ss -Hltn ` + ports + `)" ] || break; ` +
		`sleep 0.1; done`
}

// launchLine starts one component in the background as its unit would, from its
// environment assignment and command line (no systemd notify socket, so nothing waits
// on another).
func launchLine(name string, args []string) string {
	var quoted []string
	for _, arg := range args[1:] {
		quoted = append(quoted, "'"+strings.ReplaceAll(arg, "'", `'\''`)+"'")
	}
	return fmt.Sprintf("%s setsid %s >/var/log/devk-floor-%s.log 2>&1 </dev/null &", args[0], strings.Join(quoted, " "), name)
}

// timeInNode runs prepare, starts the clock, runs the launch lines, and polls /readyz
// (then, with dns, the cluster DNS Service from the node) as devk's waits do. It
// returns the times to each.
func timeInNode(ctx context.Context, node, prepare string, launch []string, port string, dns bool) ([]time.Duration, error) {
	dnsCheck := `echo "$api"; exit 0`
	if dns {
		dnsCheck = `busybox nslookup -timeout=1 kubernetes.default.svc.cluster.local ` + cluster.DNSIP + ` >/dev/null 2>&1 && { echo "$api $(( ($(now) - t0) / 1000000 ))"; exit 0; }`
	}
	script := prepare + `
now() { date +%s%N; }
t0=$(now)
` + strings.Join(launch, "\n") + `
api=""
while :; do
  if [ $(( ($(now) - t0) / 1000000000 )) -gt 120 ]; then
    echo "timed out; api=$api"; tail -n 5 /var/log/devk-floor-*.log; exit 1
  fi
  if [ -z "$api" ]; then
    curl -sfk --max-time 1 https://127.0.0.1:` + port + `/readyz >/dev/null && api=$(( ($(now) - t0) / 1000000 ))
  fi
  if [ -n "$api" ]; then ` + dnsCheck + `; fi
  sleep 0.1
done`
	out, err := Docker(ctx, "exec", node, "sh", "-c", script)
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	var times []time.Duration
	for _, field := range strings.Fields(out) {
		ms, err := strconv.ParseInt(field, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%q: %v", out, err)
		}
		times = append(times, time.Duration(ms)*time.Millisecond)
	}
	want := 1 // /readyz
	if dns {
		want = 2
	}
	if len(times) != want {
		return nil, fmt.Errorf("%q: want %d times", out, want)
	}
	return times, nil
}

// flagValue is the value of --name=value in args.
func flagValue(args []string, name string) string {
	for _, arg := range args {
		if v, ok := strings.CutPrefix(arg, name+"="); ok {
			return v
		}
	}
	return ""
}

// replaceFlag returns args with the argument starting with prefix replaced.
func replaceFlag(args []string, prefix, with string) []string {
	out := make([]string, len(args))
	for i, arg := range args {
		if strings.HasPrefix(arg, prefix) {
			arg = with
		}
		out[i] = arg
	}
	return out
}
