package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/app/api"
)

// The sign-in checks, in order.
const (
	checkSignIn      = "sign-in"
	checkCookieFlags = "session cookie flags"
	checkCSRF        = "CSRF: cookie write without the token refused"
	checkSignOut     = "sign-out ends the session"
	checkLoginLimit  = "login limit answers 429"
)

var signInChecks = []string{checkSignIn, checkCookieFlags, checkCSRF, checkSignOut, checkLoginLimit}

// wrongPassword is sent to reach the login limit. It is the password with
// something appended, so it is never the right one.
func wrongPassword(p string) string { return p + " (wrong, sent by gatehouse scan)" }

// skipFrom reports every sign-in check from name on as skipped.
func (s *scanner) skipFrom(name, why string) {
	on := false
	for _, n := range signInChecks {
		on = on || n == name
		if on {
			s.add(n, Skip, why)
		}
	}
}

func (s *scanner) login(ctx context.Context, password string) (*exchange, error) {
	body, _ := json.Marshal(api.LoginRequest{Email: s.o.Email, Password: password})
	return s.send(ctx, http.MethodPost, "/api/auth/login", &request{
		header: http.Header{"Content-Type": {"application/json"}},
		body:   string(body),
	})
}

// checkSignIn signs in with the given account and checks the session
// cookie, CSRF, sign-out and, last, the login limit.
func (s *scanner) checkSignIn(ctx context.Context) {
	if s.o.Email == "" {
		why := s.o.SignInSkipped
		if why == "" {
			why = "no --email and --password"
		}
		s.skipFrom(checkSignIn, why)
		return
	}
	e, err := s.login(ctx, s.o.Password)
	switch {
	case err != nil:
		s.add(checkSignIn, Fail, "no answer: "+err.Error())
		s.skipFrom(checkCookieFlags, "not signed in")
		return
	case e.status == http.StatusUnauthorized && e.code() == api.CodeMFARequired:
		s.skipFrom(checkSignIn, "the account has a second factor: scan with an account that has none")
		return
	case e.status == http.StatusTooManyRequests:
		s.add(checkSignIn, Fail, e.label()+" answered "+e.summary()+": the login limit of this email or address is spent (a scan less than a minute ago?); try again in "+e.header.Get("Retry-After")+" s")
		s.skipFrom(checkCookieFlags, "not signed in")
		return
	case e.status != http.StatusOK:
		s.add(checkSignIn, Fail, e.label()+" answered "+e.summary())
		s.skipFrom(checkCookieFlags, "not signed in")
		return
	}
	var lr api.LoginResponse
	if err := json.Unmarshal(e.body, &lr); err != nil {
		s.add(checkSignIn, Fail, "the login answer is not JSON")
		s.skipFrom(checkCookieFlags, "not signed in")
		return
	}
	s.add(checkSignIn, Pass, e.label()+" answered 200 for "+s.o.Email)
	cookies := parseCookies(e.header)
	res, ev := judgeCookies(cookies, s.https)
	s.add(checkCookieFlags, res, ev)
	s.checkCSRF(ctx, cookies)
	s.checkSignOut(ctx, lr, cookies)
	s.checkLoginLimit(ctx)
}

func parseCookies(h http.Header) []*http.Cookie {
	var out []*http.Cookie
	for _, line := range h.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// readableByDesign reports whether a cookie is meant for the page to read:
// the CSRF token of the double-submit convention.
func readableByDesign(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "csrf") || strings.Contains(n, "xsrf")
}

// judgeCookies checks the cookies a login sets: HttpOnly (but the CSRF
// token's, which the page must read), SameSite Strict or Lax, and Secure
// over HTTPS.
func judgeCookies(cookies []*http.Cookie, https bool) (Result, string) {
	if len(cookies) == 0 {
		return Fail, "the login answer sets no cookie"
	}
	var problems, seen []string
	for _, c := range cookies {
		var flags []string
		if c.HttpOnly {
			flags = append(flags, "HttpOnly")
		} else if !readableByDesign(c.Name) {
			problems = append(problems, c.Name+" is not HttpOnly: scripts of the page can read the session")
		}
		switch c.SameSite {
		case http.SameSiteStrictMode:
			flags = append(flags, "SameSite=Strict")
		case http.SameSiteLaxMode:
			flags = append(flags, "SameSite=Lax")
		default:
			problems = append(problems, c.Name+" has no SameSite=Strict or Lax")
		}
		if c.Secure {
			flags = append(flags, "Secure")
		} else if https {
			problems = append(problems, c.Name+" is not Secure over HTTPS")
		}
		seen = append(seen, c.Name+": "+strings.Join(flags, ", "))
	}
	if len(problems) > 0 {
		return Fail, strings.Join(problems, "; ")
	}
	return Pass, strings.Join(seen, "; ")
}

func cookieHeader(cookies []*http.Cookie) string {
	var parts []string
	for _, c := range cookies {
		if c.Value != "" {
			parts = append(parts, c.Name+"="+c.Value)
		}
	}
	return strings.Join(parts, "; ")
}

// checkCSRF proves the cookie authenticates (GET /api/auth/me answers 200
// with it) and that a write with it but without X-CSRF-Token is refused
// with 403 csrf_failed. The write is an empty update of the caller's own
// account: should it pass, it changes nothing.
func (s *scanner) checkCSRF(ctx context.Context, cookies []*http.Cookie) {
	jar := cookieHeader(cookies)
	if jar == "" {
		s.add(checkCSRF, Skip, "the login set no cookie to write with")
		return
	}
	me, err := s.send(ctx, http.MethodGet, "/api/auth/me", &request{header: http.Header{"Cookie": {jar}}})
	if err != nil {
		s.add(checkCSRF, Fail, "no answer: "+err.Error())
		return
	}
	if me.status != http.StatusOK {
		s.add(checkCSRF, Fail, "the session cookie does not authenticate: "+me.label()+" answered "+me.summary())
		return
	}
	w, err := s.send(ctx, http.MethodPatch, "/api/auth/me", &request{
		header: http.Header{"Cookie": {jar}, "Content-Type": {"application/json"}},
		body:   "{}",
	})
	if err != nil {
		s.add(checkCSRF, Fail, "no answer: "+err.Error())
		return
	}
	got := w.label() + " with the cookie and no X-CSRF-Token answered " + w.summary()
	if w.status != http.StatusForbidden || w.code() != api.CodeCSRFFailed {
		s.add(checkCSRF, Fail, got+"; must be 403 csrf_failed")
		return
	}
	s.add(checkCSRF, Pass, got)
}

// checkSignOut signs out and checks the credential no longer works.
func (s *scanner) checkSignOut(ctx context.Context, lr api.LoginResponse, cookies []*http.Cookie) {
	h := http.Header{}
	if lr.Token != "" {
		h.Set("Authorization", "Bearer "+lr.Token)
	} else {
		h.Set("Cookie", cookieHeader(cookies))
		h.Set("X-CSRF-Token", lr.CSRFToken)
	}
	out, err := s.send(ctx, http.MethodPost, "/api/auth/logout", &request{header: h})
	if err != nil {
		s.add(checkSignOut, Fail, "no answer: "+err.Error())
		return
	}
	if out.status != http.StatusNoContent {
		s.add(checkSignOut, Fail, out.label()+" answered "+out.summary()+"; must be 204")
		return
	}
	h.Del("X-CSRF-Token")
	after, err := s.send(ctx, http.MethodGet, "/api/auth/me", &request{header: h})
	if err != nil {
		s.add(checkSignOut, Fail, "no answer: "+err.Error())
		return
	}
	got := fmt.Sprintf("%s answered %d, then %s answered %s", out.label(), out.status, after.label(), after.summary())
	if after.status != http.StatusUnauthorized {
		s.add(checkSignOut, Fail, got+"; the ended session must get 401")
		return
	}
	s.add(checkSignOut, Pass, got)
}

// checkLoginLimit sends wrong passwords for the email until the login
// limit answers 429 rate_limited with Retry-After, within LoginAttempts.
func (s *scanner) checkLoginLimit(ctx context.Context) {
	// This limit is the point: do not wait for it to reset.
	s.pace.setAdaptive(false)
	defer s.pace.setAdaptive(true)
	wrong := wrongPassword(s.o.Password)
	lastLimit := ""
	for i := 1; i <= s.o.LoginAttempts; i++ {
		e, err := s.login(ctx, wrong)
		if err != nil {
			s.add(checkLoginLimit, Fail, "no answer: "+err.Error())
			return
		}
		lastLimit = e.header.Get("X-RateLimit-Limit")
		switch {
		case e.status == http.StatusUnauthorized && e.code() == api.CodeInvalidCredentials:
			continue
		case e.status == http.StatusTooManyRequests && e.code() == api.CodeRateLimited:
			retry := e.header.Get("Retry-After")
			if retry == "" {
				s.add(checkLoginLimit, Fail, fmt.Sprintf("429 after %d wrong passwords, without Retry-After", i))
				return
			}
			s.add(checkLoginLimit, Pass, fmt.Sprintf("429 rate_limited after %d wrong passwords, Retry-After: %s", i, retry))
			return
		default:
			s.add(checkLoginLimit, Fail, fmt.Sprintf("wrong password %d: %s answered %s; must be 401 invalid_credentials, then 429", i, e.label(), e.summary()))
			return
		}
	}
	s.add(checkLoginLimit, Fail, fmt.Sprintf("no 429 after %d wrong passwords (X-RateLimit-Limit: %q): password guessing is not limited tightly enough; the default is 10 a minute",
		s.o.LoginAttempts, lastLimit))
}
