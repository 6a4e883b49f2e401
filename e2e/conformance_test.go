package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/devk-dev/devk/iso"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// serialTests matches the labels of the tests that must run alone.
const serialTests = `\[Serial\]|\[Disruptive\]`

// singleNodeExceptions match the conformance tests one node cannot pass: they need a
// second schedulable node. They are skipped, and the README lists them. They are
// patterns, not names: v1.37 moved the [Serial] label of one to the end of its name.
var singleNodeExceptions = []string{
	`\[sig-apps\] Daemon set .*should rollback without unnecessary restarts \[`,
	`\[sig-architecture\] Conformance Tests should have at least two untainted nodes \[`,
}

// conformanceSample is the fixed subset `make test` runs: DNS, Services (and a ClusterIP
// port the Service does not have), webhooks, the aggregator, StatefulSet, kubectl (exec
// over websockets, logs, proxy, replace with kitten/nautilus), hostPort, and ConfigMap
// and Secret values in the environment (the stand-in busybox's shell), and an image
// volume pulled with a policy of Always (containerd 2, the image cache; from v1.36).
var conformanceSample = []string{
	`DNS should provide DNS for services `,
	`Services should serve a basic endpoint from pods `,
	`Services should serve endpoints on same port and different protocols `,
	`AdmissionWebhook \[Privileged:ClusterAdmin\] should be able to deny pod and configmap creation `,
	`Aggregator Should be able to support the 1.17 Sample API Server using the current Aggregator `,
	`StatefulSet Basic StatefulSet functionality \[StatefulSetBasic\] should perform rolling updates and roll backs of template modifications `,
	`Kubectl logs logs should be able to retrieve and filter logs `,
	`Kubectl client Proxy server should support proxy with --port 0 `,
	`Kubectl client Kubectl replace should update a single-container pod's image `,
	`Pods should support remote command execution over websockets `,
	`HostPort validates that there is no conflict between pods with same hostPort but different hostIP and protocol `,
	`ConfigMap should be consumable via the environment `,
	`Secrets should be consumable via the environment `,
	`ImageVolume should succeed with pod and pull policy of Always `,
}

// TestConformance runs Kubernetes' own conformance suite against a fresh devk cluster:
// a fixed sample by default (make test), every [Conformance] test with
// DEVK_CONFORMANCE=full (make conformance), or those matching DEVK_CONFORMANCE_FOCUS.
// JUnit XML and a summary line go to DEVK_CONFORMANCE_OUT (default _output/conformance).
func TestConformance(t *testing.T) {
	requireE2E(t)
	mode, focus := os.Getenv("DEVK_CONFORMANCE"), os.Getenv("DEVK_CONFORMANCE_FOCUS")
	if os.Getenv("DEVK_CONFORMANCE_SKIP") == "1" {
		t.Skip("DEVK_CONFORMANCE_SKIP=1")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Hour)
	defer cancel()
	version := os.Getenv("DEVK_E2E_VERSION")
	if version == "" {
		version = iso.DefaultKubernetesVersion
	}
	out := os.Getenv("DEVK_CONFORMANCE_OUT")
	if out == "" {
		out = filepath.Join("..", "_output", "conformance")
	}
	out, _ = filepath.Abs(out)
	if err := os.RemoveAll(out); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	builder := &iso.Builder{CacheDir: filepath.Join(e2eHome(), "cache"), Report: testReporter{t}}
	suite, err := builder.Conformance(ctx, version)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("suite and %d test images ready in %s", len(suite.ImageRefs), time.Since(start).Round(time.Second))

	profile := os.Getenv("DEVK_CONFORMANCE_PROFILE") // a second run beside a first needs its own
	if profile == "" {
		profile = "e2e-conformance"
	}
	// registry.k8s.io, as the suite expects it on the internet: a registry on this
	// machine holding every stand-in, reached the way a node reaches the real one,
	// through the image cache. The image cache of a home of the test's own, so the
	// stand-ins never land in the cache other clusters use. Tests that pull with a policy
	// of Always (ImageVolume, from v1.36) pull from it; the others find the images
	// `devk image load` put in the node.
	k8sRegistry := startRegistry(t, false)
	pushed := pushArchive(t, k8sRegistry, suite.Images, "registry.k8s.io/")
	t.Logf("registry.k8s.io stand-in on port %d holds %d images", k8sRegistry.port, pushed)
	keep := os.Getenv("DEVK_CONFORMANCE_KEEP") == "1"
	env := NewEnv(t, devkBin, profile)
	// The node image, built (if the engine lacks it) with the shared home's build cache:
	// the home below would start from an empty one.
	env.MustDevk(ctx, "node-image", "--kubernetes-version", version)
	if keep {
		env.Extra = append(env.Extra, "DEVK_HOME="+e2eHome()+"-conformance")
	} else {
		env.IsolatedHome(t)
	}
	env.Extra = append(env.Extra, fmt.Sprintf("DEVK_IMAGE_CACHE_UPSTREAMS=registry.k8s.io=http://host.docker.internal:%d", k8sRegistry.port))
	env.Devk(ctx, "delete")
	env.MustDevk(ctx, "start", "--kubernetes-version", version)
	if !keep {
		t.Cleanup(func() { env.Devk(context.Background(), "delete") })
	}
	env.MustDevk(ctx, "image", "load", suite.Images)

	skip := strings.Join(singleNodeExceptions, "|")
	skipSerial := skip + "|" + serialTests // for runs in parallel
	excepted := regexp.MustCompile(skip)
	type run struct {
		name         string
		focus, skip  string
		procs        int
		serialFollow bool
	}
	var runs []run
	switch {
	case focus != "":
		runs = []run{{name: "focus", focus: focus, skip: skipSerial, procs: 4},
			{name: "focus-serial", focus: focus, skip: skip, procs: 1, serialFollow: true}}
	case mode == "full":
		runs = []run{{name: "parallel", focus: `.`, skip: skipSerial, procs: 4},
			{name: "serial", focus: `.`, skip: skip, procs: 1, serialFollow: true}}
	default:
		runs = []run{{name: "sample", focus: strings.Join(conformanceSample, "|"), skip: skipSerial, procs: 4}}
	}
	var total junitCounts
	var names []string
	for _, r := range runs {
		names = append(names, r.name)
		f := allOf(`\[Conformance\]`, r.focus)
		if r.serialFollow {
			// The serial part of a run: only the serial tests it matches.
			f = allOf(`\[Conformance\]`, serialTests, r.focus)
		}
		// e2e.test writes the JUnit report of all processes to --report-dir.
		report := filepath.Join(out, r.name, "junit_01.xml")
		args := []string{"--procs=" + fmt.Sprint(r.procs), "--timeout=3h", "--no-color", "--silence-skips",
			"--focus=" + f, "--skip=" + r.skip,
			suite.E2ETest, "--",
			"--kubeconfig=" + env.Kubeconfig, "--context=" + env.Profile, "--provider=skeleton",
			"--kubectl-path=" + suite.Kubectl, "--report-dir=" + filepath.Join(out, r.name),
			"--disable-log-dump", "--dump-logs-on-failure=false"}
		cmd := exec.CommandContext(ctx, suite.Ginkgo, args...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+env.Kubeconfig)
		logFile, err := os.Create(filepath.Join(out, r.name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = logFile, logFile
		began := time.Now()
		runErr := cmd.Run()
		logFile.Close()
		// A serial exception is the serial run's to count, not the parallel run's too.
		var otherRun *regexp.Regexp
		if !r.serialFollow {
			otherRun = regexp.MustCompile(serialTests)
		}
		c, err := readJUnit(report, regexp.MustCompile(f), excepted, otherRun)
		if err != nil {
			t.Fatalf("%s run (%v): no report: %v; see %s", r.name, runErr, err, logFile.Name())
		}
		t.Logf("%s run: %s in %s (log %s)", r.name, c, time.Since(began).Round(time.Second), logFile.Name())
		for _, name := range c.failedNames {
			t.Errorf("FAILED: %s", name)
		}
		total.add(c)
	}
	summary := fmt.Sprintf("%s (Kubernetes %s, %s, %s)", total, version, strings.Join(names, "+"), time.Since(start).Round(time.Second))
	if err := os.WriteFile(filepath.Join(out, "summary.txt"), []byte(summary+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log(summary)
	if total.passed == 0 {
		t.Fatal("no conformance test ran")
	}
}

type junitCounts struct {
	passed, failed, skipped int
	failedNames             []string
}

func (c junitCounts) String() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", c.passed, c.failed, c.skipped)
}

func (c *junitCounts) add(o junitCounts) {
	c.passed += o.passed
	c.failed += o.failed
	c.skipped += o.skipped
	c.failedNames = append(c.failedNames, o.failedNames...)
}

// allOf is a regular expression matching a text that has a match of every pattern, in
// any order: a test's labels ([Conformance], [Serial]) stand before or after its words,
// depending on the Kubernetes version, and RE2 has no lookahead.
func allOf(patterns ...string) string {
	var alternatives []string
	var permute func(rest []string, prefix string)
	permute = func(rest []string, prefix string) {
		if len(rest) == 0 {
			alternatives = append(alternatives, prefix)
			return
		}
		for i, p := range rest {
			next := append(slices.Clone(rest[:i]), rest[i+1:]...)
			sep := ""
			if prefix != "" {
				sep = ".*"
			}
			permute(next, prefix+sep+"(?:"+p+")")
		}
	}
	permute(patterns, "")
	return strings.Join(alternatives, "|")
}

// readJUnit counts the [Conformance] tests of a ginkgo JUnit report by outcome; skipped
// counts only the single-node exceptions the run's focus matched and that are not left
// to the other run (otherRun; nil: none) (the report lists every test it left out as
// skipped too, the other run's among them).
func readJUnit(path string, focus, excepted, otherRun *regexp.Regexp) (junitCounts, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return junitCounts{}, err
	}
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Status  string    `xml:"status,attr"`
				Failure *struct{} `xml:"failure"`
				Error   *struct{} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		return junitCounts{}, fmt.Errorf("parse %s: %w", path, err)
	}
	var c junitCounts
	for _, s := range doc.Suites {
		for _, tc := range s.Cases {
			if !strings.Contains(tc.Name, "[Conformance]") {
				continue
			}
			switch {
			case tc.Failure != nil || tc.Error != nil || tc.Status == "failed" || tc.Status == "panicked" || tc.Status == "timedout":
				c.failed++
				c.failedNames = append(c.failedNames, tc.Name)
			case tc.Status == "passed":
				c.passed++
			case tc.Status == "skipped" && focus.MatchString(tc.Name) && excepted.MatchString(tc.Name) && (otherRun == nil || !otherRun.MatchString(tc.Name)):
				c.skipped++
			}
		}
	}
	return c, nil
}

// testReporter logs a build's phases and their durations to the test.
type testReporter struct{ t *testing.T }

func (r testReporter) Step(name string) {
	r.t.Logf("%s ...", name)
}

func (r testReporter) Done(err error) {
	if err != nil {
		r.t.Logf("... failed: %v", err)
		return
	}
	r.t.Logf("... done")
}

// readJUnit counts only [Conformance] tests, and as skipped only the exceptions.
func TestReadJUnit(t *testing.T) {
	report := filepath.Join(t.TempDir(), "junit_01.xml")
	xml := `<?xml version="1.0" encoding="UTF-8"?>
<testsuites><testsuite name="Kubernetes e2e suite">
<testcase name="[It] [sig-node] A passes [Conformance]" status="passed"></testcase>
<testcase name="[It] [sig-node] B fails [Conformance]" status="failed"><failure message="x"></failure></testcase>
<testcase name="[It] [sig-apps] C [Serial] left to the other run [Conformance]" status="skipped"></testcase>
<testcase name="[It] [sig-architecture] Conformance Tests should have at least two untainted nodes [Conformance]" status="skipped"></testcase>
<testcase name="[It] [sig-apps] Daemon set [Serial] should rollback without unnecessary restarts [Conformance]" status="skipped"></testcase>
<testcase name="[It] [sig-node] D not conformance" status="passed"></testcase>
</testsuite></testsuites>`
	if err := os.WriteFile(report, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	excepted := regexp.MustCompile(strings.Join(singleNodeExceptions, "|"))
	c, err := readJUnit(report, regexp.MustCompile(`\[Conformance\]`), excepted, regexp.MustCompile(`\[Serial\]`))
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != "1 passed, 1 failed, 1 skipped" || len(c.failedNames) != 1 || !strings.Contains(c.failedNames[0], "B fails") {
		t.Errorf("counts %s, failed %q", c, c.failedNames)
	}
}

func TestAllOf(t *testing.T) {
	serialConformance := regexp.MustCompile(allOf(`\[Conformance\]`, serialTests, `Daemon set`))
	tests := []struct {
		name string
		want bool
	}{
		{"[sig-apps] Daemon set [Serial] should run [Conformance]", true},     // v1.35
		{"[sig-apps] Daemon set should run [Conformance] [Serial]", true},     // v1.37
		{"[sig-apps] Daemon set should run [Serial] [Conformance]", true},     //
		{"[sig-apps] Daemon set should run [Disruptive] [Conformance]", true}, //
		{"[sig-apps] Daemon set should run [Conformance]", false},             // not serial
		{"[sig-apps] Daemon set [Serial] should run", false},                  // not conformance
		{"[sig-apps] StatefulSet [Serial] should run [Conformance]", false},   // another focus
	}
	for _, tt := range tests {
		if got := serialConformance.MatchString(tt.name); got != tt.want {
			t.Errorf("%q matched = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// The exceptions match the two tests as each version names them, and nothing else.
func TestSingleNodeExceptions(t *testing.T) {
	excepted := regexp.MustCompile(strings.Join(singleNodeExceptions, "|"))
	tests := []struct {
		name string
		want bool
	}{
		{"[It] [sig-apps] Daemon set [Serial] should rollback without unnecessary restarts [Conformance]", true},          // v1.35
		{"[It] [sig-apps] Daemon set should rollback without unnecessary restarts [Conformance] [Serial]", true},          // v1.37
		{"[sig-apps] Daemon set [It] should rollback without unnecessary restarts [Conformance] [Serial]", true},          // v1.37 report
		{"[It] [sig-architecture] Conformance Tests should have at least two untainted nodes [Conformance]", true},        //
		{"[It] [sig-apps] Daemon set [Serial] should rollback without unnecessary restarts of pods [Conformance]", false}, // another test
		{"[It] [sig-apps] Daemon set [Serial] should update pod when spec was updated and update strategy is RollingUpdate [Conformance]", false},
	}
	for _, tt := range tests {
		if got := excepted.MatchString(tt.name); got != tt.want {
			t.Errorf("%q excepted = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// pushArchive pushes every image of a docker archive whose reference starts with prefix
// to the registry, under the rest of the reference; it returns how many it pushed.
func pushArchive(t testing.TB, r *testRegistry, archive, prefix string) int {
	t.Helper()
	opener := func() (io.ReadCloser, error) { return os.Open(archive) }
	manifest, err := tarball.LoadManifest(opener)
	if err != nil {
		t.Fatal(err)
	}
	pushed := 0
	for _, m := range manifest {
		for _, ref := range m.RepoTags {
			if !strings.HasPrefix(ref, prefix) {
				continue
			}
			tag, err := name.NewTag(ref)
			if err != nil {
				t.Fatal(err)
			}
			img, err := tarball.Image(opener, &tag)
			if err != nil {
				t.Fatal(err)
			}
			r.push(t, strings.TrimPrefix(tag.Repository.Name(), prefix), tag.TagStr(), img)
			pushed++
		}
	}
	return pushed
}
