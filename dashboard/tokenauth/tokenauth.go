// Package tokenauth guards `devk dashboard`'s local server with a secret made for each
// launch, as notebook servers (Jupyter) do. The server forwards with the user's own
// kubeconfig credentials, and 127.0.0.1 is open to every user of the machine: without
// the secret, any of them could read Secrets as the user.
//
// The package lives outside the dashboard package on purpose: that package's files are
// the source of the dashboard's image, which would change (and need a new node image)
// for code that only devk runs.
package tokenauth

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// Param is the query parameter of the URL that `devk dashboard` opens or prints.
const Param = "token"

// minTokenLen refuses an empty or trivial token: NewToken's have 26 characters.
const minTokenLen = 16

// NewToken is a fresh secret: 26 characters of base32 (130 random bits), safe in a URL
// as it is.
func NewToken() string { return rand.Text() }

// CookieName is the session cookie of the server on port. Browsers send cookies to every
// port of a host, so the port in the name keeps two dashboards from overwriting each
// other's cookie.
func CookieName(port int) string { return "devk-dashboard-" + strconv.Itoa(port) }

// Require serves next only to requests that carry token: as the Param query parameter
// (then the answer sets the cookie and redirects to the same URL without it, so the
// token does not linger in the address bar or the history), as the cookie, or as an
// "Authorization: Bearer" header (for scripts). Everything else gets 401.
func Require(next http.Handler, token string, port int) (http.Handler, error) {
	if len(token) < minTokenLen {
		return nil, errors.New("dashboard token: too short to keep other users out")
	}
	if port < 1 || port > 65535 {
		return nil, errors.New("dashboard token: port " + strconv.Itoa(port) + " out of range")
	}
	want := []byte(token)
	matches := func(got string) bool { return subtle.ConstantTimeCompare([]byte(got), want) == 1 }
	name := CookieName(port)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Has(Param) {
			// A URL with a token is never forwarded, right or wrong: it would reach the
			// API server's and the dashboard's logs.
			if !matches(q.Get(Param)) {
				refuse(w)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: name, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			q.Del(Param)
			w.Header().Set("Location", withoutToken(r.URL.EscapedPath(), q.Encode()))
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Referrer-Policy", "no-referrer")
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		if scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") && matches(cred) {
			next.ServeHTTP(w, r)
			return
		}
		for _, c := range r.CookiesNamed(name) {
			if matches(c.Value) {
				next.ServeHTTP(w, r)
				return
			}
		}
		refuse(w)
	}), nil
}

// withoutToken is the Location that drops the token: path (escaped) and the rest of the
// query. A path that a browser would read as another host ("//host", "/\host") becomes
// "/", so the redirect never leaves the server.
func withoutToken(path, query string) string {
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.HasPrefix(path, "/\\") {
		path = "/"
	}
	if query != "" {
		path += "?" + query
	}
	return path
}

func refuse(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("WWW-Authenticate", `Bearer realm="devk dashboard"`)
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = io.WriteString(w, "devk dashboard: open the URL that `devk dashboard` printed or opened; its token changes on every launch.\n")
}
