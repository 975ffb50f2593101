package app

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// mustPasswordUser creates a user who can sign in with testPassword.
func mustPasswordUser(t *testing.T, srv *Server, email string, roles ...string) store.User {
	t.Helper()
	u, err := srv.CreateUser(context.Background(), email, email, testPassword, roles)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// cookiesOf returns the cookies an answer sets, by name.
func cookiesOf(t *testing.T, a answer) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, ck := range (&http.Response{Header: a.header}).Cookies() {
		if out[ck.Name] != nil {
			t.Fatalf("cookie %s set twice: %q", ck.Name, a.header.Values("Set-Cookie"))
		}
		out[ck.Name] = ck
	}
	return out
}

// wantSessionCookies checks the two cookies of a sign-in: the secret
// HttpOnly and only for /api, the CSRF token readable by scripts anywhere
// on the origin; both with the configured SameSite.
func wantSessionCookies(t *testing.T, a answer, secret string, sameSite http.SameSite) {
	t.Helper()
	cks := cookiesOf(t, a)
	sess, csrf := cks[cookieName], cks[csrfCookieName]
	if len(cks) != 2 || sess == nil || csrf == nil {
		t.Fatalf("cookies %q, want %s and %s", a.header.Values("Set-Cookie"), cookieName, csrfCookieName)
	}
	if secret != "" && sess.Value != secret {
		t.Fatalf("session cookie %q, want the token %q", sess.Value, secret)
	}
	if !sess.HttpOnly || sess.Path != "/api" || sess.SameSite != sameSite || sess.MaxAge <= 0 {
		t.Fatalf("session cookie %+v", sess)
	}
	if csrf.HttpOnly || csrf.Path != "/" || csrf.SameSite != sameSite || csrf.MaxAge <= 0 || csrf.Value != csrfToken(sess.Value) {
		t.Fatalf("CSRF cookie %+v, want the token of the session cookie, readable by scripts", csrf)
	}
}

func login(t *testing.T, ls *liveServer, email, session string) answer {
	t.Helper()
	body, _ := json.Marshal(api.LoginRequest{Email: email, Password: testPassword, Session: session})
	return ls.do(t, request{method: http.MethodPost, path: "/api/auth/login", body: string(body), headers: []string{"Content-Type: application/json"}})
}

// fieldsOf is the set of top-level keys of a JSON object answer.
func fieldsOf(t *testing.T, a answer) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %s: %v", a.body, err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func TestSessionCookies(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, func(c *Config) { c.CookieSecure = false })
	mustPasswordUser(t, ls.srv, "carol@example.com", "user")
	note := `{"title":"hello"}`

	t.Run("bearer sign-in: the token, both cookies", func(t *testing.T) {
		for _, session := range []string{"", api.SessionBearer} {
			a := login(t, ls, "carol@example.com", session)
			wantStatus(t, a, http.StatusOK)
			var out api.LoginResponse
			json.Unmarshal(a.body, &out)
			if out.Token == "" || out.CSRFToken != csrfToken(out.Token) {
				t.Fatalf("session %q: answer %s", session, a.body)
			}
			wantSessionCookies(t, a, out.Token, http.SameSiteStrictMode)
			wantStatus(t, ls.do(t, request{method: http.MethodPost, path: "/api/notes", body: note, headers: []string{bearer(out.Token)}}), http.StatusCreated)
		}
	})

	t.Run("cookie-only sign-in: no token in the answer, the cookie works", func(t *testing.T) {
		a := login(t, ls, "carol@example.com", api.SessionCookie)
		wantStatus(t, a, http.StatusOK)
		if got := fieldsOf(t, a); !slices.Equal(got, []string{"csrf_token", "expires_at", "user"}) {
			t.Fatalf("answer fields %v (%s), want no token", got, a.body)
		}
		wantSessionCookies(t, a, "", http.SameSiteStrictMode)
		cks := cookiesOf(t, a)
		secret := cks[cookieName].Value
		var out api.LoginResponse
		json.Unmarshal(a.body, &out)
		if out.CSRFToken != cks[csrfCookieName].Value {
			t.Fatalf("csrf_token %q, cookie %q", out.CSRFToken, cks[csrfCookieName].Value)
		}
		wantStatus(t, ls.do(t, request{method: http.MethodPost, path: "/api/notes", body: note,
			headers: []string{cookie(secret), "X-CSRF-Token: " + out.CSRFToken, "Sec-Fetch-Site: same-origin"}}), http.StatusCreated)
	})

	t.Run("an unknown kind of session", func(t *testing.T) {
		a := login(t, ls, "carol@example.com", "both")
		wantError(t, a, http.StatusBadRequest, api.CodeInvalidInput)
		if a.err.Details["session"] == "" || len(a.header.Values("Set-Cookie")) != 0 {
			t.Fatalf("answer %s, cookies %q", a.body, a.header.Values("Set-Cookie"))
		}
	})

	t.Run("GET /api/auth/me hands a cookie session its CSRF token again", func(t *testing.T) {
		a := login(t, ls, "carol@example.com", api.SessionCookie)
		secret := cookiesOf(t, a)[cookieName].Value
		me := ls.do(t, request{path: "/api/auth/me", headers: []string{cookie(secret)}})
		wantStatus(t, me, http.StatusOK)
		var out api.Me
		json.Unmarshal(me.body, &out)
		if out.Email != "carol@example.com" || out.CSRFToken != csrfToken(secret) {
			t.Fatalf("me %s", me.body)
		}
		cks := cookiesOf(t, me)
		if ck := cks[csrfCookieName]; len(cks) != 1 || ck == nil || ck.Value != csrfToken(secret) || ck.HttpOnly || ck.Path != "/" || ck.MaxAge <= 0 {
			t.Fatalf("cookies of me: %q", me.header.Values("Set-Cookie"))
		}
	})

	t.Run("GET /api/auth/me with a Bearer token: no CSRF token", func(t *testing.T) {
		_, secret := mustUser(t, ls.srv, "dave@example.com", "user")
		me := ls.do(t, request{path: "/api/auth/me", headers: []string{bearer(secret)}})
		wantStatus(t, me, http.StatusOK)
		if got := fieldsOf(t, me); slices.Contains(got, "csrf_token") || len(me.header.Values("Set-Cookie")) != 0 {
			t.Fatalf("me %s, cookies %q", me.body, me.header.Values("Set-Cookie"))
		}
	})

	t.Run("sign-out drops both cookies", func(t *testing.T) {
		a := login(t, ls, "carol@example.com", api.SessionCookie)
		secret := cookiesOf(t, a)[cookieName].Value
		out := ls.do(t, request{method: http.MethodPost, path: "/api/auth/logout",
			headers: []string{cookie(secret), "X-CSRF-Token: " + csrfToken(secret)}})
		wantStatus(t, out, http.StatusNoContent)
		cks := cookiesOf(t, out)
		for _, name := range []string{cookieName, csrfCookieName} {
			if ck := cks[name]; ck == nil || ck.MaxAge != -1 || ck.Value != "" {
				t.Fatalf("cookies of sign-out: %q", out.header.Values("Set-Cookie"))
			}
		}
		if cks[cookieName].Path != "/api" || cks[csrfCookieName].Path != "/" {
			t.Fatalf("cookies of sign-out on other paths than the sign-in's: %q", out.header.Values("Set-Cookie"))
		}
		wantError(t, ls.do(t, request{path: "/api/auth/me", headers: []string{cookie(secret)}}), http.StatusUnauthorized, api.CodeUnauthorized)
	})
}

func TestCookieSameSite(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		set, want http.SameSite
	}{
		{0, http.SameSiteStrictMode},
		{http.SameSiteStrictMode, http.SameSiteStrictMode},
		{http.SameSiteLaxMode, http.SameSiteLaxMode},
	} {
		ls := mustLiveServer(t, func(c *Config) { c.CookieSameSite, c.CookieSecure = tc.set, true })
		mustPasswordUser(t, ls.srv, "erin@example.com", "user")
		a := login(t, ls, "erin@example.com", api.SessionCookie)
		wantStatus(t, a, http.StatusOK)
		wantSessionCookies(t, a, "", tc.want)
		secret := cookiesOf(t, a)[cookieName].Value
		out := ls.do(t, request{method: http.MethodPost, path: "/api/auth/logout", headers: []string{cookie(secret), "X-CSRF-Token: " + csrfToken(secret)}})
		wantStatus(t, out, http.StatusNoContent)
		for _, ck := range cookiesOf(t, out) {
			if ck.SameSite != tc.want || !ck.Secure {
				t.Fatalf("SameSite %v: sign-out cookie %+v", tc.set, ck)
			}
		}
	}
	// None would send the cookie with every cross-site request: not offered.
	for _, mode := range []http.SameSite{http.SameSiteNoneMode, 7} {
		_, err := NewServer(nil, Config{CookieSameSite: mode}, nil, nil)
		if err == nil {
			t.Fatalf("SameSite %d: server built", mode)
		}
	}
}
