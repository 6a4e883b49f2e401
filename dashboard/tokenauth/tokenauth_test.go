package tokenauth

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"testing"
)

const (
	testToken = "TOKEN0123456789ABCDEFGHIJ"
	testPort  = 8001
)

// TestRequire: only requests with this launch's token (query, cookie or bearer header)
// reach the dashboard; a token in the query becomes a cookie and leaves the URL.
func TestRequire(t *testing.T) {
	reached := ""
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = r.URL.RequestURI()
		_, _ = io.WriteString(w, "dashboard")
	})
	h, err := Require(next, testToken, testPort)
	if err != nil {
		t.Fatal(err)
	}
	cookie := func(name, value string) map[string]string {
		return map[string]string{"Cookie": (&http.Cookie{Name: name, Value: value}).String()}
	}
	tests := []struct {
		name, method, target string
		header               map[string]string
		code                 int
		location             string // the redirect's, when code is 303
	}{
		{"no credential", "GET", "/", nil, 401, ""},
		{"no credential, an API call", "GET", "/api/secret?namespace=default&name=db&key=password", nil, 401, ""},
		{"no credential, a watch stream", "GET", "/api/watch?kinds=pods", nil, 401, ""},
		{"no credential, logs", "GET", "/api/logs?namespace=default&name=p&follow=1", nil, 401, ""},
		{"no credential, a change", "POST", "/api/delete", map[string]string{"X-Devk-Dashboard": "1"}, 401, ""},
		{"wrong token in the query", "GET", "/?token=TOKEN0123456789ABCDEFGHIX", nil, 401, ""},
		{"empty token in the query", "GET", "/?token=", nil, 401, ""},
		{"right token in the query", "GET", "/?token=" + testToken, nil, 303, "/"},
		{"the redirect keeps the path and the rest of the query", "GET", "/api/list?kind=pods&token=" + testToken + "&namespace=a%20b", nil, 303, "/api/list?kind=pods&namespace=a+b"},
		{"the redirect stays on this host", "GET", "//evil.example/?token=" + testToken, nil, 303, "/"},
		{"a wrong token in the query beats a right cookie", "GET", "/?token=old", cookie(CookieName(testPort), testToken), 401, ""},
		{"right cookie", "GET", "/", cookie(CookieName(testPort), testToken), 200, ""},
		{"right cookie, an API call", "GET", "/api/secret?namespace=default&name=db", cookie(CookieName(testPort), testToken), 200, ""},
		{"right cookie among others", "GET", "/", map[string]string{"Cookie": "a=b; " + CookieName(testPort) + "=" + testToken + "; c=d"}, 200, ""},
		{"bearer header", "GET", "/api/resources", map[string]string{"Authorization": "Bearer " + testToken}, 200, ""},
		{"bearer header, lower case scheme", "GET", "/api/resources", map[string]string{"Authorization": "bearer " + testToken}, 200, ""},
		{"wrong bearer header", "GET", "/api/resources", map[string]string{"Authorization": "Bearer " + testToken + "X"}, 401, ""},
		{"the token as basic auth", "GET", "/api/resources", map[string]string{"Authorization": "Basic " + testToken}, 401, ""},
		{"a cookie for another port", "GET", "/", cookie(CookieName(testPort+1), testToken), 401, ""},
		{"a cookie with another token", "GET", "/", cookie(CookieName(testPort), "TOKENFROMANOTHERLAUNCH0000"), 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reached = ""
			req := httptest.NewRequest(tt.method, tt.target, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			resp := w.Result()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.code, body)
			}
			switch tt.code {
			case 200:
				if want := req.URL.RequestURI(); reached != want || string(body) != "dashboard" {
					t.Errorf("the dashboard saw %q and answered %q, want %q", reached, body, want)
				}
			case 401:
				if reached != "" {
					t.Errorf("a refused request reached the dashboard: %s", reached)
				}
				if !strings.Contains(string(body), "devk dashboard") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
					t.Errorf("body %q (%s), want a plain text pointer to the printed URL", body, resp.Header.Get("Content-Type"))
				}
				if strings.Contains(string(body), testToken) {
					t.Error("the refusal shows the token")
				}
				if len(resp.Cookies()) != 0 {
					t.Errorf("a refusal set cookies: %v", resp.Cookies())
				}
			case 303:
				if reached != "" {
					t.Errorf("the URL with the token reached the dashboard: %s", reached)
				}
				if got := resp.Header.Get("Location"); got != tt.location {
					t.Errorf("redirect to %q, want %q", got, tt.location)
				}
				cs := resp.Cookies()
				if len(cs) != 1 {
					t.Fatalf("cookies %v, want one", cs)
				}
				c := cs[0]
				if c.Name != CookieName(testPort) || c.Value != testToken || c.Path != "/" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
					t.Errorf("cookie %s, want %s=<token>; Path=/; HttpOnly; SameSite=Strict", c, CookieName(testPort))
				}
			}
		})
	}
}

// TestRequireBrowser: a client with a cookie jar that follows the printed URL lands on
// the page without the token, and its later calls (as the page's) are served.
func TestRequireBrowser(t *testing.T) {
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.URL.RequestURI()) })
	h, err := Require(next, testToken, testPort)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	get := func(c *http.Client, url string) (int, string) {
		t.Helper()
		resp, err := c.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(client, srv.URL+"/?token="+testToken); code != 200 || body != "/" {
		t.Fatalf("the printed URL: %d %q, want 200 at / (token dropped)", code, body)
	}
	if code, body := get(client, srv.URL+"/api/overview"); code != 200 || body != "/api/overview" {
		t.Errorf("an API call with the cookie: %d %q", code, body)
	}
	if code, _ := get(http.DefaultClient, srv.URL+"/api/overview"); code != 401 {
		t.Errorf("an API call from a client without the cookie: %d, want 401", code)
	}
}

func TestRequireRefusesWeakSetups(t *testing.T) {
	next := http.NotFoundHandler()
	if _, err := Require(next, "", testPort); err == nil {
		t.Error("an empty token was accepted")
	}
	if _, err := Require(next, "short", testPort); err == nil {
		t.Error("a short token was accepted")
	}
	if _, err := Require(next, testToken, 0); err == nil {
		t.Error("port 0 was accepted")
	}
}

// TestNewToken: tokens differ on every launch and need no escaping in a URL.
func TestNewToken(t *testing.T) {
	a, b := NewToken(), NewToken()
	if a == b {
		t.Fatal("two launches got the same token")
	}
	if len(a) < minTokenLen {
		t.Errorf("token %q is shorter than %d", a, minTokenLen)
	}
	for _, r := range a {
		if !strings.ContainsRune("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", r) {
			t.Errorf("token %q has %q, which a URL may need escaped", a, r)
		}
	}
}
