package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// notesOf lists a user's note titles through the API, with a session of
// its own: what the user would see.
func notesOf(t *testing.T, ls *liveServer, u store.User) []string {
	t.Helper()
	secret, _, err := ls.srv.startSession(context.Background(), u, false)
	if err != nil {
		t.Fatal(err)
	}
	a := ls.do(t, request{path: "/api/notes", headers: []string{bearer(secret)}})
	wantStatus(t, a, http.StatusOK)
	var list api.List[struct {
		Title string `json:"title"`
	}]
	if err := json.Unmarshal(a.body, &list); err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, n := range list.Items {
		titles = append(titles, n.Title)
	}
	return titles
}

// An app served from the API's origin (a reverse proxy in front of both)
// signs in, writes with the CSRF token of the login answer, is reloaded,
// writes again with the token the gatehouse_csrf cookie kept, and signs
// out.
func TestBrowserSameOriginApp(t *testing.T) {
	t.Parallel()
	// Secure cookies, as in production: Chromium keeps them on loopback
	// over plain HTTP, a trustworthy origin.
	ls := mustLiveServer(t, func(c *Config) { c.CookieSecure = true })
	user := mustPasswordUser(t, ls.srv, "ann@example.com", "user")
	front := serveFront(t, ls.url)
	tab := mustBrowserTab(t)

	do(t, tab, chromedp.Navigate(front+"/"))
	a := pageCall(t, tab, http.MethodPost, "/api/auth/login", api.LoginRequest{Email: "ann@example.com", Password: testPassword, Session: api.SessionCookie}, "")
	wantPage(t, a, http.StatusOK, "")
	var login api.LoginResponse
	json.Unmarshal([]byte(a.Text), &login)
	if login.CSRFToken == "" || login.Token != "" || login.User.Email != "ann@example.com" {
		t.Fatalf("login answer %s", a.Text)
	}
	wantPage(t, pageCall(t, tab, http.MethodPost, "/api/notes", map[string]string{"title": "before the reload"}, login.CSRFToken), http.StatusCreated, "")
	// The secret went to the browser's cookie jar, for /api only.
	secret := browserCookies(t, tab, front+"/api/auth/me")[cookieName]
	if secret == nil || !secret.HTTPOnly || !secret.Secure || secret.Path != "/api" || secret.SameSite != network.CookieSameSiteStrict {
		t.Fatalf("session cookie %+v", secret)
	}

	// A reload forgets every variable of the page.
	do(t, tab, chromedp.Reload())
	if got := eval[string](t, tab, "typeof login"); got != "undefined" {
		t.Fatalf("the page kept state across the reload: %s", got)
	}
	fromCookie := eval[string](t, tab, "csrfCookie()")
	if fromCookie != login.CSRFToken {
		t.Fatalf("gatehouse_csrf %q after the reload, want the login's %q", fromCookie, login.CSRFToken)
	}
	me := pageCall(t, tab, http.MethodGet, "/api/auth/me", nil, "")
	wantPage(t, me, http.StatusOK, "")
	var who api.Me
	json.Unmarshal([]byte(me.Text), &who)
	if who.Email != "ann@example.com" || who.CSRFToken != login.CSRFToken {
		t.Fatalf("me after the reload: %s", me.Text)
	}
	// Forgetting the header names the cause.
	forgot := pageCall(t, tab, http.MethodPost, "/api/notes", map[string]string{"title": "no token"}, "")
	wantPage(t, forgot, http.StatusForbidden, api.CodeCSRFFailed)
	if !strings.Contains(forgot.Text, errCSRFMissing.Message) {
		t.Fatalf("refusal %s, want the missing-token message", forgot.Text)
	}
	wantPage(t, pageCall(t, tab, http.MethodPost, "/api/notes", map[string]string{"title": "after the reload"}, eval[string](t, tab, "csrfCookie()")), http.StatusCreated, "")
	if got := notesOf(t, ls, user); strings.Join(got, "|") != "before the reload|after the reload" && strings.Join(got, "|") != "after the reload|before the reload" {
		t.Fatalf("notes %q", got)
	}

	// Sign out: the session ends on the server, both cookies leave the
	// browser.
	wantPage(t, pageCall(t, tab, http.MethodPost, "/api/auth/logout", nil, eval[string](t, tab, "csrfCookie()")), http.StatusNoContent, "")
	if cks := browserCookies(t, tab, front+"/api/auth/me"); len(cks) != 0 {
		t.Fatalf("cookies after sign-out: %v", cks)
	}
	if got := eval[string](t, tab, "document.cookie"); got != "" {
		t.Fatalf("document.cookie after sign-out: %q", got)
	}
	wantPage(t, pageCall(t, tab, http.MethodGet, "/api/auth/me", nil, ""), http.StatusUnauthorized, api.CodeUnauthorized)
	wantError(t, ls.do(t, request{path: "/api/auth/me", headers: []string{bearer(secret.Value)}}), http.StatusUnauthorized, api.CodeUnauthorized)
}

// attackPage is another site's page (served on localhost, the API on
// 127.0.0.1): a form that submits itself on load into a hidden frame, and
// fetches in no-cors and in cors mode with the browser's credentials. Each
// fetch reports what the page could see of the answer.
const attackPage = `<!doctype html>
<meta charset="utf-8">
<title>not the app</title>
<body onload="document.getElementById('forged').submit()">
<iframe name="sink"></iframe>
<form id="forged" method="POST" action="TARGET/api/notes" enctype="text/plain" target="sink">
<input type="hidden" name='{"title":"forged by a form","x":"' value='"}'>
</form>
<script>
const target = "TARGET";
async function outcome(p) {
  let r;
  try { r = await p; } catch (e) { return e.name; }
  let body;
  try { body = await r.text(); } catch (e) { body = e.name; }
  return "type=" + r.type + " status=" + r.status + " body=" + body;
}
function noCors(method, path, body) {
  return outcome(fetch(target + path, {method, mode: "no-cors", credentials: "include", headers: {"Content-Type": "text/plain"}, body}));
}
function credentialed(method, path, body, headers) {
  return outcome(fetch(target + path, {method, mode: "cors", credentials: "include", headers, body}));
}
</script>
</body>
`

// waitFailures polls the auth-failure log until done says the records are
// complete, within a bound.
func waitFailures(t *testing.T, ls *liveServer, what string, done func([]store.AuthFailure) bool) []store.AuthFailure {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ls.flush(t)
		recs := ls.failures(t, "")
		if done(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 15s for %s; records: %+v", what, recs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countOf sums the failures of one reason.
func countOf(recs []store.AuthFailure, reason string) int {
	n := 0
	for _, r := range recs {
		if r.Reason == reason {
			n += r.Count
		}
	}
	return n
}

// A page on another site, open in the browser of a signed-in user, tries
// what a forger would: a self-submitting form, no-cors fetches and
// credentialed fetches. None of them writes, signs the user out or reads
// anything, with either SameSite setting; the user's session goes on.
func TestBrowserCrossSitePage(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name     string
		sameSite http.SameSite
	}{{"strict", http.SameSiteStrictMode}, {"lax", http.SameSiteLaxMode}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ls := mustLiveServer(t, func(c *Config) { c.CookieSameSite = mode.sameSite })
			victim := mustPasswordUser(t, ls.srv, "vic@example.com", "user")
			front := serveFront(t, ls.url)
			tab := mustBrowserTab(t)

			// The user signs in to the app and writes one note.
			do(t, tab, chromedp.Navigate(front+"/"))
			wantPage(t, pageCall(t, tab, http.MethodPost, "/api/auth/login", api.LoginRequest{Email: "vic@example.com", Password: testPassword, Session: api.SessionCookie}, ""), http.StatusOK, "")
			wantPage(t, pageCall(t, tab, http.MethodPost, "/api/notes", map[string]string{"title": "mine"}, eval[string](t, tab, "csrfCookie()")), http.StatusCreated, "")

			// Then opens the other site, whose form submits itself.
			attacker := servePage(t, strings.ReplaceAll(attackPage, "TARGET", front))
			do(t, tab, chromedp.Navigate(strings.Replace(attacker.URL, "127.0.0.1", "localhost", 1)+"/"))
			waitFailures(t, ls, "the form's request", func(recs []store.AuthFailure) bool { return countOf(recs, failCSRFCrossSite) == 1 })
			if got := eval[string](t, tab, "document.cookie"); got != "" {
				t.Fatalf("the other site reads cookies %q", got)
			}

			seen := map[string]string{
				"no-cors sign-out":      eval[string](t, tab, `noCors("POST", "/api/auth/logout", "")`),
				"no-cors write":         eval[string](t, tab, `noCors("POST", "/api/notes", '{"title":"forged, no-cors"}')`),
				"no-cors read":          eval[string](t, tab, `noCors("GET", "/api/notes")`),
				"credentialed write":    eval[string](t, tab, `credentialed("POST", "/api/notes", '{"title":"forged, cors"}', {"Content-Type": "text/plain"})`),
				"preflighted write":     eval[string](t, tab, `credentialed("POST", "/api/notes", '{"title":"forged, json"}', {"Content-Type": "application/json", "X-CSRF-Token": "guessed"})`),
				"credentialed read":     eval[string](t, tab, `credentialed("GET", "/api/auth/me")`),
				"credentialed sign-out": eval[string](t, tab, `credentialed("POST", "/api/auth/logout")`),
			}
			// The page learns nothing: the API's answers are neither
			// CORS-readable nor, with Cross-Origin-Resource-Policy:
			// same-origin, even opaque; every fetch fails as a network error.
			for what, got := range seen {
				if got != "TypeError" {
					t.Errorf("%s: the page saw %q, want a TypeError", what, got)
				}
			}
			// The server saw every request that left the browser (the
			// preflight stopped the JSON one) and refused the writes as
			// cross-site. None carried the user's session: the reads were
			// anonymous 401s.
			recs := waitFailures(t, ls, "the fetches", func(recs []store.AuthFailure) bool {
				return countOf(recs, failCSRFCrossSite) >= 5 && countOf(recs, api.CodeUnauthorized) >= 2
			})
			got := map[string]int{}
			for _, r := range recs {
				if r.UserID != 0 {
					t.Errorf("a request from the other site came with the session: %+v", r)
				}
				got[fmt.Sprintf("%s %s %d %s", r.Method, r.Path, r.Status, r.Reason)] += r.Count
			}
			want := map[string]int{
				"POST /api/notes 403 " + failCSRFCrossSite:       3, // form, no-cors, cors
				"POST /api/auth/logout 403 " + failCSRFCrossSite: 2, // no-cors, cors
				"GET /api/notes 401 " + api.CodeUnauthorized:     1,
				"GET /api/auth/me 401 " + api.CodeUnauthorized:   1,
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("refusals %v, want %v", got, want)
			}

			// The user's tab, back on the app: still signed in, one note.
			do(t, tab, chromedp.Navigate(front+"/"))
			wantPage(t, pageCall(t, tab, http.MethodGet, "/api/auth/me", nil, ""), http.StatusOK, "")
			if got := notesOf(t, ls, victim); len(got) != 1 || got[0] != "mine" {
				t.Fatalf("notes %q, want only the user's own", got)
			}
		})
	}
}

// A cookie-only sign-in leaves nothing secret where a page script (an
// injected one included) could reach it: the answer has no token,
// document.cookie has only the CSRF token, web storage is empty. The
// secret lives in the browser's HttpOnly cookie alone, and works.
func TestBrowserCookieOnlySignInHidesTheSecret(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	mustPasswordUser(t, ls.srv, "hid@example.com", "user")
	front := serveFront(t, ls.url)
	tab := mustBrowserTab(t)

	do(t, tab, chromedp.Navigate(front+"/"))
	login := pageCall(t, tab, http.MethodPost, "/api/auth/login", api.LoginRequest{Email: "hid@example.com", Password: testPassword, Session: api.SessionCookie}, "")
	wantPage(t, login, http.StatusOK, "")
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(login.Text), &fields); err != nil {
		t.Fatal(err)
	}
	if _, ok := fields["token"]; ok || len(fields) != 3 {
		t.Fatalf("login answer %s, want csrf_token, expires_at and user only", login.Text)
	}
	var answer api.LoginResponse
	json.Unmarshal([]byte(login.Text), &answer)

	jar := browserCookies(t, tab, front+"/api/auth/me")
	secret := jar[cookieName]
	if secret == nil || !secret.HTTPOnly || !strings.HasPrefix(secret.Value, sessionPrefix) {
		t.Fatalf("session cookie %+v, want an HttpOnly session secret", secret)
	}
	if csrf := jar[csrfCookieName]; csrf == nil || csrf.HTTPOnly || csrf.Value != answer.CSRFToken {
		t.Fatalf("CSRF cookie %+v, want the answer's token, readable", csrf)
	}

	me := pageCall(t, tab, http.MethodGet, "/api/auth/me", nil, "")
	wantPage(t, me, http.StatusOK, "")
	visible := map[string]string{
		"login answer":    login.Text,
		"me answer":       me.Text,
		"document.cookie": eval[string](t, tab, "document.cookie"),
		"web storage":     eval[string](t, tab, "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"),
	}
	if got := visible["document.cookie"]; got != csrfCookieName+"="+answer.CSRFToken {
		t.Fatalf("document.cookie %q, want only the CSRF token", got)
	}
	if got := visible["web storage"]; got != "[[],[]]" {
		t.Fatalf("web storage %s", got)
	}
	for where, text := range visible {
		if strings.Contains(text, secret.Value) || strings.Contains(text, sessionPrefix) {
			t.Fatalf("the session secret is visible to scripts in the %s: %s", where, text)
		}
	}
	// The hidden secret is still the credential.
	wantPage(t, pageCall(t, tab, http.MethodPost, "/api/notes", map[string]string{"title": "written"}, eval[string](t, tab, "csrfCookie()")), http.StatusCreated, "")
}

// corsPage is an app on another origin than the API's: call() sends its
// requests to the API's origin with credentials (cookies when the browser
// allows them) and, when the page holds one, the Bearer token it keeps in
// sessionStorage.
const corsPage = `<!doctype html>
<meta charset="utf-8">
<title>app</title>
<script>
const api = "API";
async function call(method, path, body, csrf) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (csrf) headers["X-CSRF-Token"] = csrf;
  const token = sessionStorage.getItem("token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const r = await fetch(api + path, {method, headers, credentials: "include", body: body === undefined ? undefined : JSON.stringify(body)});
  return {status: r.status, text: await r.text()};
}
</script>
<p>app</p>
`

// mustCORSSetup serves corsPage on appHost and the API on apiHost, the
// app's origin listed in GATEHOUSE_CORS_ORIGINS.
func mustCORSSetup(t *testing.T, appHost, apiHost string, configure func(*Config)) (ls *liveServer, appURL string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	appOrigin := fmt.Sprintf("http://%s:%d", appHost, l.Addr().(*net.TCPAddr).Port)
	ls = mustLiveServer(t, func(c *Config) {
		c.CORSOrigins = []string{appOrigin}
		if configure != nil {
			configure(c)
		}
	})
	apiOrigin := strings.Replace(ls.url, "127.0.0.1", apiHost, 1)
	page := httptest.NewUnstartedServer(pageHandler(strings.ReplaceAll(corsPage, "API", apiOrigin)))
	page.Listener.Close()
	page.Listener = l
	page.Start()
	t.Cleanup(page.Close)
	return ls, appOrigin + "/"
}

// An app on a subdomain of the API's site (app.gatehouse.test calling
// api.gatehouse.test, its origin listed for CORS) uses the cookie session:
// the requests are same-site, so the browser sends the cookie with either
// SameSite setting. The gatehouse_csrf cookie belongs to the API's host,
// out of the app's reach, so after a reload the app reads the CSRF token
// from GET /api/auth/me.
func TestBrowserSameSiteSubdomainApp(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name     string
		sameSite http.SameSite
	}{{"strict", http.SameSiteStrictMode}, {"lax", http.SameSiteLaxMode}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ls, app := mustCORSSetup(t, "app."+testSite, "api."+testSite, func(c *Config) { c.CookieSameSite = mode.sameSite })
			user := mustPasswordUser(t, ls.srv, "sub@example.com", "user")
			tab := mustBrowserTab(t)

			do(t, tab, chromedp.Navigate(app))
			a := pageCall(t, tab, http.MethodPost, "/api/auth/login", api.LoginRequest{Email: "sub@example.com", Password: testPassword, Session: api.SessionCookie}, "")
			wantPage(t, a, http.StatusOK, "")
			var login api.LoginResponse
			json.Unmarshal([]byte(a.Text), &login)
			wantPage(t, pageCall(t, tab, http.MethodPost, "/api/notes", map[string]string{"title": "one"}, login.CSRFToken), http.StatusCreated, "")

			do(t, tab, chromedp.Reload())
			if got := eval[string](t, tab, "document.cookie"); got != "" {
				t.Fatalf("the app's own document.cookie %q: the API's cookies are not the app's", got)
			}
			me := pageCall(t, tab, http.MethodGet, "/api/auth/me", nil, "")
			wantPage(t, me, http.StatusOK, "")
			var who api.Me
			json.Unmarshal([]byte(me.Text), &who)
			if who.CSRFToken != login.CSRFToken {
				t.Fatalf("me %s, want the session's CSRF token", me.Text)
			}
			wantPage(t, pageCall(t, tab, http.MethodPost, "/api/notes", map[string]string{"title": "two"}, who.CSRFToken), http.StatusCreated, "")
			if got := notesOf(t, ls, user); len(got) != 2 {
				t.Fatalf("notes %q", got)
			}
			wantPage(t, pageCall(t, tab, http.MethodPost, "/api/auth/logout", nil, who.CSRFToken), http.StatusNoContent, "")
			wantPage(t, pageCall(t, tab, http.MethodGet, "/api/auth/me", nil, ""), http.StatusUnauthorized, api.CodeUnauthorized)
		})
	}
}

// An app on another site (localhost calling 127.0.0.1, its origin listed
// for CORS) signs in fine, but the browser keeps the SameSite cookie from
// every later request: it must use the Bearer token, kept here in
// sessionStorage so that a reload keeps it (and closing the tab ends it).
func TestBrowserCrossSiteBearerApp(t *testing.T) {
	t.Parallel()
	ls, app := mustCORSSetup(t, "localhost", "127.0.0.1", nil)
	user := mustPasswordUser(t, ls.srv, "far@example.com", "user")
	tab := mustBrowserTab(t)

	do(t, tab, chromedp.Navigate(app))
	a := pageCall(t, tab, http.MethodPost, "/api/auth/login", api.LoginRequest{Email: "far@example.com", Password: testPassword}, "")
	wantPage(t, a, http.StatusOK, "")
	var login api.LoginResponse
	json.Unmarshal([]byte(a.Text), &login)
	// The cookie alone: the browser does not send it to another site.
	wantPage(t, pageCall(t, tab, http.MethodGet, "/api/auth/me", nil, ""), http.StatusUnauthorized, api.CodeUnauthorized)

	eval[chromedp.Void](t, tab, fmt.Sprintf("sessionStorage.setItem('token', %q)", login.Token))
	wantPage(t, pageCall(t, tab, http.MethodPost, "/api/notes", map[string]string{"title": "one"}, ""), http.StatusCreated, "")
	do(t, tab, chromedp.Reload())
	wantPage(t, pageCall(t, tab, http.MethodPost, "/api/notes", map[string]string{"title": "two"}, ""), http.StatusCreated, "")
	if got := notesOf(t, ls, user); len(got) != 2 {
		t.Fatalf("notes %q", got)
	}
	wantPage(t, pageCall(t, tab, http.MethodPost, "/api/auth/logout", nil, ""), http.StatusNoContent, "")
	wantPage(t, pageCall(t, tab, http.MethodGet, "/api/auth/me", nil, ""), http.StatusUnauthorized, api.CodeUnauthorized)
}
