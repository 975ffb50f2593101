package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
)

func preflight(origin string) request {
	return request{method: http.MethodOptions, path: "/api/notes", headers: []string{
		"Origin: " + origin, "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type, x-csrf-token",
	}}
}

func wantNoCORS(t *testing.T, a answer) {
	t.Helper()
	for k := range a.header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Fatalf("CORS header %s: %q on an answer that must have none", k, a.header.Get(k))
		}
	}
}

func TestCORSIsOffByDefault(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	wantNoCORS(t, ls.do(t, preflight("https://app.example")))
	wantNoCORS(t, ls.do(t, request{path: "/api/health", headers: []string{"Origin: https://app.example"}}))
}

func TestCORSAllowsListedOriginsOnly(t *testing.T) {
	t.Parallel()
	const app = "https://app.example"
	ls := mustLiveServer(t, func(c *Config) {
		c.CORSOrigins = []string{app}
		c.RateLimit = "4-M"
	})
	_, secret := mustUser(t, ls.srv, "spa@example.com", "user")

	t.Run("preflight of a listed origin", func(t *testing.T) {
		a := ls.do(t, preflight(app))
		wantStatus(t, a, http.StatusNoContent)
		h := a.header
		if h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("allow origin %q, credentials %q", h.Get("Access-Control-Allow-Origin"), h.Get("Access-Control-Allow-Credentials"))
		}
		for _, want := range []string{"POST", "PATCH", "DELETE"} {
			if !strings.Contains(h.Get("Access-Control-Allow-Methods"), want) {
				t.Fatalf("allow methods %q lacks %s", h.Get("Access-Control-Allow-Methods"), want)
			}
		}
		if !strings.Contains(h.Get("Access-Control-Allow-Headers"), "X-CSRF-Token") {
			t.Fatalf("allow headers %q", h.Get("Access-Control-Allow-Headers"))
		}
		// Shown, not counted: the budget is still whole.
		wantRateHeaders(t, a, 4, 4)
	})
	t.Run("no wildcard, no near miss", func(t *testing.T) {
		for _, o := range []string{"https://evil.example", "https://app.example.evil", "http://app.example", "https://APP.example", "null", "*"} {
			a := ls.do(t, preflight(o))
			wantNoCORS(t, a)
		}
	})
	t.Run("answers to a listed origin, errors included", func(t *testing.T) {
		ip := xff("198.51.100.9")
		for range 4 {
			a := ls.do(t, request{path: "/api/auth/me", headers: []string{"Origin: " + app, bearer(secret), ip}})
			wantStatus(t, a, http.StatusOK)
			if a.header.Get("Access-Control-Allow-Origin") != app || !strings.Contains(a.header.Get("Access-Control-Expose-Headers"), "Retry-After") {
				t.Fatalf("headers %v", a.header)
			}
		}
		a := ls.do(t, request{path: "/api/auth/me", headers: []string{"Origin: " + app, bearer(secret), ip}})
		wantError(t, a, http.StatusTooManyRequests, api.CodeRateLimited)
		if a.header.Get("Access-Control-Allow-Origin") != app {
			t.Fatal("a 429 the page cannot read")
		}
	})
	t.Run("a listed origin passes the cross-origin check, still needs the token", func(t *testing.T) {
		base := []string{"Origin: " + app, "Sec-Fetch-Site: cross-site", cookie(secret), xff("198.51.100.10")}
		a := ls.do(t, request{method: http.MethodPost, path: "/api/notes", body: `{"title":"t"}`, headers: base})
		wantError(t, a, http.StatusForbidden, api.CodeCSRFFailed)
		if a.err.Message != errCSRFMissing.Message {
			t.Fatalf("message %q: the origin passed, only the token is missing", a.err.Message)
		}
		a = ls.do(t, request{method: http.MethodPost, path: "/api/notes", body: `{"title":"t"}`, headers: append(base, "X-CSRF-Token: "+csrfToken(secret))})
		wantStatus(t, a, http.StatusCreated)
	})
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{false, true} {
		srv, _, _ := newBareServer(t, func(c *Config) { c.CookieSecure = secure })
		ls := &liveServer{srv: srv}
		for _, path := range []string{"/api/health", "/api/auth/me", "/api/no-such-route"} {
			a := serveDirect(t, ls.srv, http.MethodGet, path)
			h := a.header
			want := map[string]string{
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
				"Cache-Control":           "no-store",
				"X-XSS-Protection":        "",
			}
			if secure {
				want["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
			} else {
				want["Strict-Transport-Security"] = ""
			}
			for k, v := range want {
				if got := h.Get(k); got != v {
					t.Errorf("secure=%v %s: %s = %q, want %q", secure, path, k, got, v)
				}
			}
		}
	}
}
