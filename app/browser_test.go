package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

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
