package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// TestDashboard drives `devk dashboard --url` with a real headless browser (Debian's
// chromium, through the Chrome DevTools protocol): the page lists the pods of a running
// Deployment, the scale action changes its replica count (checked with client-go) and
// the list follows without a reload, logs stream, secret values stay hidden until
// revealed, the overview shows usage once metrics-server runs, a pod can be deleted,
// and the dashboard's ServiceAccount may do nothing more. The Headlamp essentials too:
// logs of all of a Deployment's pods at once, a filter box narrowing a list, a shell
// running `echo hi` in a container (xterm.js), a port forward answering on 127.0.0.1,
// a Deployment's page (ReplicaSets, pods, Services, events) and an edit of its replicas
// in YAML (server-side apply; an invalid edit shows the API server's error). The local server answers only
// with the token of the printed URL: the browser opens that URL once (the token becomes
// a cookie), HTTP calls send it as a bearer token, and calls without it get 401. The
// first run builds the dashboard's image (a minute or more); later runs use the image
// cache.
//
// Screenshots of the main views go to $DEVK_E2E_SCREENSHOTS when it is set (the README's
// come from DEVK_E2E_SCREENSHOTS=$PWD/docs/screenshots), else to a temporary folder.
func TestDashboard(t *testing.T) {
	requireE2E(t)
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("the dashboard test needs Debian's chromium: apt-get install -y chromium (.ci/run installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	env := NewEnv(t, devkBin, "e2e-dash")
	env.Devk(ctx, "delete") // leftovers of an interrupted earlier run
	t.Cleanup(func() { env.Devk(context.Background(), "delete") })

	r := env.MustDevk(ctx, "start")
	t.Logf("devk start took %s", r.Duration.Round(time.Millisecond))
	cs := env.Client()
	if err := dashTicker(ctx, cs, 2); err != nil {
		t.Fatal(err)
	}
	if err := dashWeb(ctx, cs); err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-creds"}, StringData: map[string]string{"password": "s3cret-value", "user": "app"}}
	if _, err := cs.CoreV1().Secrets("default").Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	printed := dashServe(t, ctx, env)
	// url is the dashboard without the token, as the browser shows it once signed in.
	url, token, ok := strings.Cut(printed, "?token=")
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/") || !ok || len(token) < 16 || strings.ContainsAny(token, "&#") {
		t.Fatalf("devk dashboard --url printed %q, want http://127.0.0.1:PORT/?token=TOKEN", printed)
	}
	shots := os.Getenv("DEVK_E2E_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	b := dashBrowser(t, ctx, chromium)
	// The printed URL signs the browser in: the token becomes a cookie and leaves the
	// address bar; every later navigation uses url, without the token.
	b.do(t, chromedp.Navigate(printed))
	if got := b.evalString(t, `location.origin + location.pathname + location.search`); got != url {
		t.Fatalf("the printed URL led to %s, want %s (the token dropped)", got, url)
	}
	// The page's own calls carry the cookie: it names the node once the API answers.
	b.waitJS(t, time.Minute, `document.querySelector('#cluster')?.textContent.length > 0`)
	if got := b.evalString(t, `document.cookie`); got != "" {
		t.Errorf("the page's scripts see cookies %q, want none (HttpOnly)", got)
	}

	t.Run("without the token the local server refuses", func(t *testing.T) {
		reveal := url + "api/secret?namespace=default&name=db-creds&key=password"
		tests := []struct{ name, url, auth string }{
			{"no credential", reveal, ""},
			{"no credential, a watch stream", url + "api/watch?kinds=pods", ""},
			{"no credential, a shell", url + "api/exec?namespace=default&pod=ticker", ""},
			{"no credential, the port forwards", url + "api/forwards", ""},
			{"a wrong token in the query", reveal + "&token=" + strings.Repeat("A", len(token)), ""},
			{"a wrong bearer token", reveal, "Bearer " + strings.Repeat("A", len(token))},
		}
		for _, tt := range tests {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tt.url, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(body), "s3cret") {
				t.Errorf("%s: status %d, want 401\n%s", tt.name, resp.StatusCode, body)
			}
		}
		// The same call with the token, as a script sends it, is served.
		if body, err := dashGet(ctx, reveal, token); err != nil || !strings.Contains(body, "s3cret-value") {
			t.Errorf("with the bearer token (%v):\n%s", err, body)
		}
	})

	t.Run("the printed URL signs in a client with a cookie jar", func(t *testing.T) {
		jar, _ := cookiejar.New(nil)
		client := &http.Client{Jar: jar}
		for _, u := range []string{printed, url + "api/resources"} {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || resp.Request.URL.RawQuery != "" {
				t.Errorf("GET %s: status %d at %s, want 200 without the token", u, resp.StatusCode, resp.Request.URL)
			}
		}
	})

	t.Run("the local server answers only as 127.0.0.1", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"api/resources", nil)
		req.Host = "attacker.example"
		// With the token, so what refuses is the Host check.
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("a request for another host name: status %d, want 421", resp.StatusCode)
		}
	})

	t.Run("the page lists the pods of a running Deployment", func(t *testing.T) {
		b.do(t, chromedp.Navigate(url+"#/workloads"))
		b.waitJS(t, 2*time.Minute, `document.querySelectorAll('tr[data-kind="pods"][data-name^="ticker-"]').length === 2`)
		b.waitJS(t, time.Minute, `(document.querySelector('tr[data-kind="deployments"][data-name="ticker"]') || {}).textContent?.includes('2/2')`)
		b.screenshot(t, filepath.Join(shots, "workloads.png"))
	})

	t.Run("scale changes the replica count", func(t *testing.T) {
		b.do(t, chromedp.Click(chromedp.CSS(`tr[data-kind="deployments"][data-name="ticker"] button[data-action="scale"]`)),
			chromedp.WaitVisible(chromedp.ID("scale-replicas")),
			chromedp.SetValue(chromedp.ID("scale-replicas"), "3"),
			chromedp.Click(chromedp.CSS(`#dialog button[data-action="confirm"]`)))
		err := Eventually(ctx, time.Minute, func() error {
			d, err := cs.AppsV1().Deployments("default").Get(ctx, "ticker", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if *d.Spec.Replicas != 3 || d.Status.ReadyReplicas != 3 {
				return fmt.Errorf("replicas %d, ready %d; want 3", *d.Spec.Replicas, d.Status.ReadyReplicas)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The list follows the cluster without a reload.
		b.waitJS(t, time.Minute, `document.querySelectorAll('tr[data-kind="pods"][data-name^="ticker-"]').length === 3`)
		b.waitJS(t, time.Minute, `(document.querySelector('tr[data-kind="deployments"][data-name="ticker"]') || {}).textContent?.includes('3/3')`)
	})

	t.Run("logs stream", func(t *testing.T) {
		b.do(t, chromedp.Click(chromedp.CSS(`tr[data-kind="pods"][data-name^="ticker-"] button[data-action="logs"]`)))
		b.waitJS(t, time.Minute, `[...document.querySelectorAll('#log-lines .line')].some((l) => /^tick \d+/.test(l.textContent))`)
		last := func() int {
			s := b.evalString(t, `[...document.querySelectorAll('#log-lines .line')].map((l) => l.textContent).filter((l) => /^tick \d+/.test(l)).pop()`)
			f := strings.Fields(s) // "tick 12: all systems nominal"
			if len(f) < 2 {
				t.Fatalf("log line %q", s)
			}
			n, err := strconv.Atoi(strings.TrimSuffix(f[1], ":"))
			if err != nil {
				t.Fatalf("log line %q: %v", s, err)
			}
			return n
		}
		first := last()
		// The pod prints a line a second: new lines arrive while the page stays open.
		b.waitJS(t, 30*time.Second, fmt.Sprintf(`[...document.querySelectorAll('#log-lines .line')].some((l) => l.textContent.startsWith('tick %d:'))`, first+3))
		if got := last(); got < first+3 {
			t.Errorf("last line tick %d, want at least %d", got, first+3)
		}
		b.screenshot(t, filepath.Join(shots, "logs.png"))
	})

	t.Run("logs of every pod of a Deployment at once", func(t *testing.T) {
		b.do(t, chromedp.Navigate(url+"#/workloads"))
		b.waitJS(t, time.Minute, `document.querySelector('tr[data-kind="deployments"][data-name="ticker"] button[data-action="logs"]') !== null`)
		b.do(t, chromedp.Click(chromedp.CSS(`tr[data-kind="deployments"][data-name="ticker"] button[data-action="logs"]`)))
		// Lines of each of the three pods, each line named by its pod.
		b.waitJS(t, time.Minute, `new Set([...document.querySelectorAll('#log-lines .line[data-pod]')].filter((l) => /tick \d+/.test(l.textContent)).map((l) => l.dataset.pod)).size === 3`)
		b.screenshot(t, filepath.Join(shots, "logs-all-pods.png"))
	})

	t.Run("a filter narrows a list", func(t *testing.T) {
		b.do(t, chromedp.Navigate(url+"#/workloads"))
		b.waitJS(t, time.Minute, `document.querySelectorAll('tr[data-kind="pods"][data-name^="ticker-"]').length === 3 && document.querySelectorAll('tr[data-kind="pods"][data-name^="web-"]').length === 1`)
		// A label term keeps only the pods that carry it.
		b.do(t, chromedp.SendKeys(chromedp.ID("filter"), "app=web"))
		b.waitJS(t, 10*time.Second, `document.querySelectorAll('tr[data-kind="pods"][data-name^="ticker-"]').length === 0 && document.querySelectorAll('tr[data-kind="pods"][data-name^="web-"]').length === 1`)
		b.waitJS(t, 10*time.Second, `document.querySelector('section[data-kind="pods"] .count').textContent.startsWith('1/')`)
		// A word matches names.
		clear := `(() => { const f = document.querySelector('#filter'); f.value = ''; f.dispatchEvent(new Event('input')); return ''; })()`
		b.evalString(t, clear)
		b.do(t, chromedp.SendKeys(chromedp.ID("filter"), "ticker"))
		b.waitJS(t, 10*time.Second, `document.querySelectorAll('tr[data-kind="pods"][data-name^="ticker-"]').length === 3 && document.querySelectorAll('tr[data-kind="pods"][data-name^="web-"]').length === 0`)
		b.evalString(t, clear)
	})

	t.Run("a shell in a container runs echo hi", func(t *testing.T) {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=ticker"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("ticker pods: %v", err)
		}
		b.do(t, chromedp.Navigate(url+"#/workloads"))
		sel := fmt.Sprintf(`tr[data-kind="pods"][data-name=%q] button[data-action="shell"]`, pods.Items[0].Name)
		b.waitJS(t, time.Minute, fmt.Sprintf(`document.querySelector(%s) !== null`, strconv.Quote(sel)))
		b.do(t, chromedp.Click(chromedp.CSS(sel)))
		b.waitJS(t, time.Minute, `document.querySelector('#shell-status')?.textContent.startsWith('connected')`)
		// The prompt shows once the shell runs; then type. The text goes in as an input
		// method inserts it: DevTools' synthetic key presses reach xterm.js twice (as a
		// key and as an input event a real keyboard marks as composed), "eecchhoo".
		b.waitJS(t, 30*time.Second, `[...document.querySelectorAll('#terminal .xterm-rows > div')].some((r) => r.textContent.trim().length > 0)`)
		insert := chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: "echo hi"})
			return err
		})
		b.do(t, chromedp.Click(chromedp.CSS(`#terminal .xterm-screen`)), insert, chromedp.KeyEvent("\r"))
		b.waitJS(t, 30*time.Second, `[...document.querySelectorAll('#terminal .xterm-rows > div')].some((r) => r.textContent.trim() === 'hi')`)
		b.screenshot(t, filepath.Join(shots, "shell.png"))
	})

	t.Run("a port forward answers on 127.0.0.1", func(t *testing.T) {
		b.do(t, chromedp.Navigate(url+"#/services"))
		sel := `tr[data-kind="services"][data-name="web"] button[data-action="forward"]`
		b.waitJS(t, time.Minute, fmt.Sprintf(`document.querySelector(%s) !== null`, strconv.Quote(sel)))
		b.do(t, chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.ID("forward-port")),
			chromedp.Click(chromedp.CSS(`#dialog button[data-action="confirm"]`)))
		b.waitJS(t, time.Minute, `document.querySelector('tr[data-name="web"] a.forward-url') !== null`)
		fwd := b.evalString(t, `document.querySelector('tr[data-name="web"] a.forward-url').textContent`)
		if !strings.HasPrefix(fwd, "http://127.0.0.1:") {
			t.Fatalf("forward URL %q, want http://127.0.0.1:PORT", fwd)
		}
		err := Eventually(ctx, 30*time.Second, func() error {
			body, err := dashGet(ctx, fwd, "")
			if err == nil && !strings.Contains(body, "hello from web") {
				err = fmt.Errorf("answered %q", body)
			}
			return err
		})
		if err != nil {
			t.Fatalf("GET %s: %v", fwd, err)
		}
		b.screenshot(t, filepath.Join(shots, "forwards.png"))
		// Stopping it closes the port.
		b.do(t, chromedp.Click(chromedp.CSS(`tr[data-name="web"] button[data-action="stop-forward"]`)))
		b.waitJS(t, 30*time.Second, `document.querySelector('tr[data-name="web"] a.forward-url') === null`)
		if _, err := dashGet(ctx, fwd, ""); err == nil {
			t.Errorf("%s still answers after Stop", fwd)
		}
	})

	t.Run("a Deployment's page, and its replicas edited in YAML", func(t *testing.T) {
		b.do(t, chromedp.Navigate(url+"#/workloads"))
		b.waitJS(t, time.Minute, `document.querySelector('tr[data-kind="deployments"][data-name="ticker"] td.name a') !== null`)
		b.do(t, chromedp.Click(chromedp.CSS(`tr[data-kind="deployments"][data-name="ticker"] td.name a`)))
		// Its ReplicaSets, its pods, the Services that select them, its own events.
		b.waitJS(t, time.Minute, `document.querySelectorAll('section[data-section="replicasets"] tr[data-kind="replicasets"]').length >= 1 &&
			document.querySelectorAll('section[data-section="pods"] tr[data-kind="pods"][data-name^="ticker-"]').length === 3 &&
			document.querySelector('section[data-section="services"] tr[data-name="ticker"]') !== null &&
			document.querySelector('section[data-section="services"] tr[data-name="web"]') === null &&
			document.querySelector('section[data-section="events"]').textContent.includes('ScalingReplicaSet')`)
		b.waitJS(t, time.Minute, `document.querySelector('#yaml').textContent.includes('kind: Deployment')`)
		b.waitJS(t, 10*time.Second, `document.querySelectorAll('.toast').length === 0`) // the forward's, above
		b.screenshot(t, filepath.Join(shots, "deployment.png"))
		edit := func(replicas string) {
			b.do(t, chromedp.Click(chromedp.CSS(`button[data-action="edit-yaml"]`)), chromedp.WaitVisible(chromedp.ID("yaml-edit")))
			// spec comes before status: the first "  replicas:" is the spec's.
			b.evalString(t, fmt.Sprintf(`(() => { const ta = document.querySelector('#yaml-edit'); ta.value = ta.value.replace(/^  replicas: \d+$/m, '  replicas: %s'); return ''; })()`, replicas))
		}
		// An invalid edit: the dry run fails and the form shows the API server's error.
		edit("-1")
		b.do(t, chromedp.Click(chromedp.CSS(`button[data-action="apply"]`)))
		b.waitJS(t, 30*time.Second, `!document.querySelector('#apply-error').hidden && document.querySelector('#apply-error').textContent.includes('spec.replicas')`)
		if d, err := cs.AppsV1().Deployments("default").Get(ctx, "ticker", metav1.GetOptions{}); err != nil || *d.Spec.Replicas != 3 {
			t.Fatalf("after a refused edit: %v", err)
		}
		b.do(t, chromedp.Click(chromedp.CSS(`button[data-action="cancel-edit"]`)))
		edit("2")
		b.do(t, chromedp.Click(chromedp.CSS(`button[data-action="apply"]`)))
		err := Eventually(ctx, time.Minute, func() error {
			d, err := cs.AppsV1().Deployments("default").Get(ctx, "ticker", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if *d.Spec.Replicas != 2 || d.Status.ReadyReplicas != 2 {
				return fmt.Errorf("replicas %d, ready %d; want 2", *d.Spec.Replicas, d.Status.ReadyReplicas)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		b.waitJS(t, time.Minute, `document.querySelectorAll('section[data-section="pods"] tr[data-kind="pods"][data-name^="ticker-"]').length === 2`)
	})

	t.Run("an object from pasted YAML", func(t *testing.T) {
		b.do(t, chromedp.Navigate(url+"#/create"), chromedp.WaitVisible(chromedp.ID("create-yaml")))
		b.evalString(t, `(() => { document.querySelector('#create-yaml').value = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: pasted\n  namespace: default\ndata:\n  greeting: hello\n'; return ''; })()`)
		b.do(t, chromedp.Click(chromedp.CSS(`button[data-action="apply"]`)))
		b.waitJS(t, 30*time.Second, `document.querySelector('#create-result').textContent.includes('configmap/pasted created')`)
		if cm, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "pasted", metav1.GetOptions{}); err != nil || cm.Data["greeting"] != "hello" {
			t.Fatalf("the pasted ConfigMap: %v %v", cm, err)
		}
	})

	t.Run("secret values stay hidden until revealed", func(t *testing.T) {
		b.do(t, chromedp.Navigate(url+"#/secret/default/db-creds"))
		b.waitJS(t, time.Minute, `document.querySelectorAll('tr[data-key]').length === 2`)
		if text := b.evalString(t, `document.body.innerText`); strings.Contains(text, "s3cret-value") {
			t.Fatal("the secret value shows before it was revealed")
		}
		b.do(t, chromedp.Click(chromedp.CSS(`tr[data-key="password"] button[data-action="reveal-value"]`)))
		b.waitJS(t, 30*time.Second, `document.querySelector('tr[data-key="password"]').textContent.includes('s3cret-value')`)
		if text := b.evalString(t, `document.querySelector('tr[data-key="user"]').textContent`); strings.Contains(text, "app") {
			t.Errorf("revealing one key showed another: %q", text)
		}
		yaml, err := dashGet(ctx, url+"api/yaml?kind=secrets&namespace=default&name=db-creds", token)
		if err != nil || strings.Contains(yaml, "s3cret") || !strings.Contains(yaml, "hidden") {
			t.Errorf("secret YAML hides nothing (%v):\n%s", err, yaml)
		}
	})

	t.Run("the overview shows the node and, with metrics-server, its usage", func(t *testing.T) {
		r := env.MustDevk(ctx, "addons", "enable", "metrics-server")
		t.Logf("enable metrics-server took %s", r.Duration.Round(time.Millisecond))
		b.do(t, chromedp.Navigate(url+"#/overview"))
		b.waitJS(t, time.Minute, fmt.Sprintf(`document.querySelector('section[data-node=%q]')?.textContent.includes('Ready')`, env.Profile))
		// metrics-server needs a scrape or two; the overview refreshes itself.
		b.waitJS(t, 3*time.Minute, `document.querySelector('[data-meter="CPU"] .detail')?.textContent.startsWith('used ')`)
		b.screenshot(t, filepath.Join(shots, "overview.png"))
	})

	t.Run("delete a pod", func(t *testing.T) {
		pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=ticker"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("ticker pods: %v", err)
		}
		victim := pods.Items[0].Name
		b.do(t, chromedp.Navigate(url+"#/workloads"))
		sel := fmt.Sprintf(`tr[data-kind="pods"][data-name=%q] button[data-action="delete"]`, victim)
		b.waitJS(t, time.Minute, fmt.Sprintf(`document.querySelector(%s) !== null`, strconv.Quote(sel)))
		b.do(t, chromedp.Click(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(`#dialog button[data-action="confirm"]`)))
		err = Eventually(ctx, time.Minute, func() error {
			p, err := cs.CoreV1().Pods("default").Get(ctx, victim, metav1.GetOptions{})
			if err == nil && p.DeletionTimestamp == nil {
				return fmt.Errorf("pod %s is still there", victim)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the dashboard may only do what its views need", func(t *testing.T) {
		sa := "system:serviceaccount:devk-dashboard:dashboard"
		tests := []struct {
			verb, group, resource, sub string
			allowed                    bool
		}{
			{"list", "", "pods", "", true},
			{"get", "", "pods", "log", true},
			{"delete", "", "pods", "", true},
			{"update", "apps", "deployments", "scale", true},
			{"get", "", "secrets", "", true},
			{"list", "apps", "replicasets", "", true},
			{"watch", "", "events", "", true},
			// Shells, port forwards and apply run in devk dashboard with the user's
			// credentials: the dashboard itself gets none of that.
			{"get", "", "pods", "exec", false},
			{"create", "", "pods", "portforward", false},
			{"patch", "", "services", "", false},
			{"patch", "", "configmaps", "", false},
			{"create", "", "configmaps", "", false},
			{"patch", "apps", "replicasets", "", false},
			{"create", "", "pods", "", false},
			{"create", "", "pods", "exec", false},
			{"delete", "apps", "deployments", "", false},
			{"update", "", "secrets", "", false},
			{"create", "rbac.authorization.k8s.io", "clusterrolebindings", "", false},
		}
		for _, tt := range tests {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: sa,
				Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:devk-dashboard", "system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: "default", Verb: tt.verb, Group: tt.group, Resource: tt.resource, Subresource: tt.sub}}}
			got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.Allowed != tt.allowed {
				t.Errorf("%s %s/%s/%s: allowed %v, want %v", tt.verb, tt.group, tt.resource, tt.sub, got.Status.Allowed, tt.allowed)
			}
		}
	})
}

// dashTicker runs Deployment ticker in default: busybox printing a line a second.
func dashTicker(ctx context.Context, cs kubernetes.Interface, replicas int32) error {
	labels := map[string]string{"app": "ticker"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "ticker"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64),
					Containers: []corev1.Container{{
						Name: "ticker", Image: "busybox:1.37",
						Command: []string{"sh", "-c", `i=0; while true; do i=$((i+1)); echo "tick $i: all systems nominal"; sleep 1; done`},
					}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return err
	}
	return Eventually(ctx, 2*time.Minute, func() error {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "ticker", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ReadyReplicas != replicas {
			return fmt.Errorf("ticker: %d of %d ready", d.Status.ReadyReplicas, replicas)
		}
		return nil
	})
}

// dashWeb runs Deployment web in default, busybox's httpd answering "hello from web" on
// container port 8080 (named http), Service web (port 80 to it), and Service ticker,
// which selects the ticker's pods.
func dashWeb(ctx context.Context, cs kubernetes.Interface) error {
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64),
					Containers: []corev1.Container{{
						Name: "web", Image: "busybox:1.37",
						Command: []string{"sh", "-c", `mkdir -p /www && echo "hello from web" > /www/index.html && exec httpd -f -p 8080 -h /www`},
						Ports:   []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
					}},
				},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return err
	}
	for _, svc := range []*corev1.Service{
		{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Selector: labels,
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "ticker"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "ticker"},
			Ports: []corev1.ServicePort{{Port: 80}}}},
	} {
		if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	return Eventually(ctx, 2*time.Minute, func() error {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ReadyReplicas != 1 {
			return fmt.Errorf("web: %d of 1 ready", d.Status.ReadyReplicas)
		}
		return nil
	})
}

// lockedBuffer is a buffer two goroutines may use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// dashServe runs `devk dashboard --url` until the test ends and returns the URL it
// prints; at the end it interrupts it, as Ctrl-C does, and wants exit 0.
func dashServe(t *testing.T, ctx context.Context, env *Env) string {
	t.Helper()
	cmd := exec.Command(env.Bin, "-p", env.Profile, "dashboard", "--url")
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="+env.Kubeconfig), env.Extra...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("devk dashboard after Ctrl-C: %v (want exit 0)\n%s", err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("devk dashboard did not stop within 15s of Ctrl-C")
		}
	})
	select {
	case url := <-lines:
		t.Logf("devk dashboard --url printed %s after %s\n%s", url, time.Since(start).Round(time.Millisecond), stderr.String())
		// The node image ships the dashboard's image: enabling it builds nothing.
		if out := stderr.String(); !strings.Contains(out, "from the node image") || strings.Contains(out, "Building") {
			t.Errorf("the dashboard's image was not imported from the node image:\n%s", out)
		}
		return url
	case err := <-exited:
		t.Fatalf("devk dashboard --url exited before printing a URL: %v\n%s", err, stderr.String())
	case <-time.After(20 * time.Minute):
		t.Fatalf("devk dashboard --url printed no URL in 20 minutes\n%s", stderr.String())
	case <-ctx.Done():
		t.Fatalf("devk dashboard --url: %v\n%s", ctx.Err(), stderr.String())
	}
	return ""
}

// dashGet reads url from the local server, with the launch's token as a script sends it
// (none when token is empty).
func dashGet(ctx context.Context, url, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(body), err
}

// browser is one headless chromium tab.
type browser struct{ ctx context.Context }

// dashBrowser starts headless chromium, as root in a container needs it, with a fresh
// profile; it ends with the test.
func dashBrowser(t *testing.T, ctx context.Context, chromium string) *browser {
	t.Helper()
	profile := t.TempDir() // removed after the browser stops (cleanups run last-in first-out)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile), chromedp.WindowSize(1440, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{ctx: bctx}
}

func (b *browser) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %v\npage: %s", err, b.page())
	}
}

// waitJS waits until the expression is truthy in the page.
func (b *browser) waitJS(t *testing.T, timeout time.Duration, expr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout+10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(timeout), chromedp.WithPollingInterval(200*time.Millisecond))); err != nil {
		t.Fatalf("waiting for %s: %v\npage: %s", expr, err, b.page())
	}
}

func (b *browser) evalString(t *testing.T, expr string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return s
}

// page is the page's text, for failure messages.
func (b *browser) page() string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + '\n' + document.body.innerText`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	if len(s) > 3000 {
		s = s[:3000] + "..."
	}
	return s
}

func (b *browser) screenshot(t *testing.T, path string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	// The pointer off the page (no hover effects), and the last changes painted.
	if err := chromedp.Do(ctx, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 0, 0), chromedp.Sleep(500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}
