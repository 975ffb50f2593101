package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/idp"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Secrets handed to clients: 32 random bytes behind a prefix that says what
// they are, so that secret scanners can spot a leaked one.
const (
	sessionPrefix = "gatehouse_sess_"
	tokenPrefix   = "gatehouse_pat_"
	secretLen     = 43 // base64url of 32 bytes
	cookieName    = "gatehouse_session"
	csrfHeader    = "X-CSRF-Token"
	// csrfCookieName holds the session's CSRF token where page scripts can
	// read it (not HttpOnly), by the convention of Django's csrftoken and
	// Angular's XSRF-TOKEN.
	csrfCookieName = "gatehouse_csrf"
)

// newSecret returns a fresh secret with prefix and the SHA-256 under which
// it is stored. The secret itself is never stored.
func newSecret(prefix string) (secret string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:])
	secret = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(secret))
	return secret, sum[:]
}

// parseSecret checks the shape of a presented secret and returns its hash.
// Anything not shaped like a secret this server makes is refused without a
// database lookup.
func parseSecret(s string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(s, sessionPrefix)
	if !ok {
		rest, ok = strings.CutPrefix(s, tokenPrefix)
	}
	if !ok || len(rest) != secretLen {
		return nil, false
	}
	// base64url without padding: 43 characters of its alphabet are 32
	// bytes (checked without decoding them, which would allocate).
	for i := range len(rest) {
		if c := rest[i]; !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return nil, false
		}
	}
	var buf [len(sessionPrefix) + secretLen]byte
	sum := sha256.Sum256(buf[:copy(buf[:], s)])
	return sum[:], true
}

// csrfToken is the CSRF token bound to a session secret: derived from it
// by a hash and no server key, so it needs no storage of its own and every
// instance sharing the session store computes the same token. It is useless
// without the cookie it belongs to, and the secret cannot be worked back
// out of it.
func csrfToken(secret string) string {
	sum := sha256.Sum256([]byte("gatehouse csrf\x00" + secret))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// caller is who made a request: nil for anonymous.
type caller struct {
	user    store.User
	session store.Session
	// secret is the presented credential, kept to check the CSRF token.
	secret string
	// cookie says the credential came from the session cookie.
	cookie bool
	// identity is set when the credential is a provider token; session is
	// then zero (provider.go).
	identity *providerIdentity
	// resource is the owned resource the route acts on, read with the
	// credential (Server.resourceRef): what the owner resolver decides on
	// and the handler answers with, without reading it again. Its zero
	// ref means none was read.
	resource    store.DocRef
	resourceDoc store.Doc
	resourceErr error
}

// readResource returns the resource of ref read with the caller's
// credential, if it was.
func (cl *caller) readResource(ref store.DocRef) (*store.Doc, error, bool) {
	if cl == nil || cl.resource.Kind == "" || cl.resource != ref {
		return nil, nil, false
	}
	return &cl.resourceDoc, cl.resourceErr, true
}

func callerOf(c echo.Context) *caller {
	cl, _ := c.Get(ctxCaller).(*caller)
	return cl
}

func (cl *caller) subject() string {
	if cl == nil {
		return rbac.Anonymous
	}
	return rbac.UserSubject(cl.user.ID)
}

// mfa is the caller's second-factor state as the model knows it.
func (cl *caller) mfa() string {
	switch {
	case cl == nil || !cl.user.MFA.Enabled:
		return rbac.MFANone
	case cl.session.MFA:
		return rbac.MFAVerified
	}
	return rbac.MFAMissing
}

func (cl *caller) readOnly() bool { return cl != nil && cl.session.ReadOnly }

// credential finds the presented secret: a Bearer token first, else the
// session cookie.
func credential(r *http.Request) (secret string, fromCookie bool, present bool) {
	if h := r.Header.Get(echo.HeaderAuthorization); h != "" {
		scheme, token, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", false, true
		}
		return strings.TrimSpace(token), false, true
	}
	if ck, err := r.Cookie(cookieName); err == nil && ck.Value != "" {
		return ck.Value, true, true
	}
	return "", false, false
}

// The three reasons a browser-like write is refused, each its own message
// and its own failure-log reason, so that a page that forgot the header, a
// page holding an old session's token and another site's forgery are told
// apart (and never folded into one record).
const (
	failCSRFCrossSite = "csrf_cross_site"
	failCSRFMissing   = "csrf_no_token"
	failCSRFWrong     = "csrf_bad_token"
)

var (
	errCSRFCrossSite = apiError(http.StatusForbidden, api.CodeCSRFFailed,
		"cross-site request refused: cookie-authenticated writes are taken only from this API's own origin and the allowed CORS origins; another site must use a Bearer token")
	errCSRFMissing = apiError(http.StatusForbidden, api.CodeCSRFFailed,
		"the X-CSRF-Token header is missing: a write with the session cookie must send the session's CSRF token (the gatehouse_csrf cookie, or csrf_token from the login answer or GET /api/auth/me)")
	errCSRFWrong = apiError(http.StatusForbidden, api.CodeCSRFFailed,
		"the X-CSRF-Token header is not this session's CSRF token: read it again from the gatehouse_csrf cookie or GET /api/auth/me (a new login has a new one)")
)

// checkCSRF refuses a browser-like unsafe request (no Bearer token) that is
// cross-site, or that uses the session cookie without its session's CSRF
// token in X-CSRF-Token. The header is compared with the token of the
// session the cookie names, never with the gatehouse_csrf cookie: a value
// another site manages to plant in that cookie gains it nothing.
func (s *Server) checkCSRF(c echo.Context, cl *caller) error {
	req := c.Request()
	if err := s.crossOrigin.Check(req); err != nil {
		c.Set(ctxFailReason, failCSRFCrossSite)
		return errCSRFCrossSite
	}
	if cl == nil {
		return nil
	}
	got := req.Header.Get(csrfHeader)
	if got == "" {
		c.Set(ctxFailReason, failCSRFMissing)
		return errCSRFMissing
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(csrfToken(cl.secret))) != 1 {
		c.Set(ctxFailReason, failCSRFWrong)
		return errCSRFWrong
	}
	return nil
}

// authenticate finds the caller. A bad Bearer token is a 401 on any route;
// a stale cookie counts as anonymous, so a browser can still sign in again.
// Requests without a Bearer token are browser-like: unsafe ones must not be
// cross-site, and with a session cookie must carry its CSRF token. The
// caller is found first so that a refused request is recorded with the
// user whose session it tried to use.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		secret, fromCookie, present := credential(req)
		var cl *caller
		if present && !fromCookie && s.provider != nil && idp.LooksLikeJWT(secret) {
			// A provider's token: never stored, verified on every request.
			cl, err := s.providerCaller(c, secret)
			if err != nil {
				return err
			}
			c.Set(ctxCaller, cl)
			return next(c)
		}
		if !present && s.shared {
			// Nothing read the policy version with a credential: read it
			// here, so that an anonymous request is not decided on a
			// policy older than one another instance has answered with.
			if err := s.access.CatchUp(req.Context()); err != nil {
				return err
			}
		}
		if present {
			found, err := s.lookupCaller(req.Context(), secret, s.resourceRef(c))
			switch {
			case errors.Is(err, store.ErrNotFound) && fromCookie:
				// A stale cookie: anonymous.
			case errors.Is(err, store.ErrNotFound):
				return errUnauthorized
			case err != nil:
				return err
			default:
				cl = found
				cl.cookie = fromCookie
				c.Set(ctxCaller, cl)
			}
		}
		// Bearer requests are exempt: a browser never adds that header on
		// its own, so another site cannot make one.
		if !safeMethod(req.Method) && (!present || fromCookie) {
			if err := s.checkCSRF(c, cl); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// lookupCaller finds the live session of secret and its enabled user, with
// the resource of ref when the route names one, in one read (and brings
// the policy up to date: access.Service.Authenticate).
func (s *Server) lookupCaller(ctx context.Context, secret string, ref store.DocRef) (*caller, error) {
	hash, ok := parseSecret(secret)
	if !ok {
		return nil, store.ErrNotFound
	}
	cred, err := s.access.Authenticate(ctx, hash, ref)
	if err != nil {
		return nil, err
	}
	return &caller{secret: secret, user: cred.User, session: cred.Session,
		resource: ref, resourceDoc: cred.Doc, resourceErr: cred.DocErr}, nil
}

func (s *Server) handleRegister(c echo.Context) error {
	if !s.cfg.AllowRegistration {
		return apiError(http.StatusForbidden, api.CodeForbidden, "registration is closed: ask an admin for an account")
	}
	var in api.RegisterRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	if err := s.limitLogin(c, in.Email); err != nil {
		return err
	}
	out, err := s.access.Register(c.Request().Context(), in.Email, in.Name, in.Password)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, out)
}

var errInvalidCredentials = apiError(http.StatusUnauthorized, api.CodeInvalidCredentials, "wrong email or password")

func (s *Server) handleLogin(c echo.Context) error {
	var in api.LoginRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	// The strict limit needs the email, so it is counted here, after the
	// body is read (within the body limit) and before any password work.
	if err := s.limitLogin(c, in.Email); err != nil {
		return err
	}
	switch in.Session {
	case "", api.SessionBearer, api.SessionCookie:
	default:
		return invalidInput(map[string]string{"session": `must be "bearer" (the default: the answer carries the token) or "cookie" (the cookie only)`})
	}
	if len(in.Email) > 254 || len(in.Password) > 4*access.MaxPasswordLen {
		return errInvalidCredentials
	}
	ctx := c.Request().Context()
	u, err := s.access.UserByEmail(ctx, in.Email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// An unknown email is checked against the dummy hash: the same work,
	// the same answer, as a wrong password.
	ok, err := s.access.VerifyPassword(ctx, in.Password, u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok || u.Disabled {
		return errInvalidCredentials
	}
	mfa, err := s.checkLoginOTP(c, &u, in.OTP)
	if err != nil {
		return err
	}
	secret, sess, err := s.startSession(ctx, u, mfa)
	if err != nil {
		return err
	}
	view, err := s.access.User(ctx, u.ID)
	if err != nil {
		return err
	}
	s.setSessionCookies(c, secret, sess.ExpiresAt)
	out := api.LoginResponse{ExpiresAt: sess.ExpiresAt, CSRFToken: csrfToken(secret), User: view}
	if in.Session != api.SessionCookie {
		out.Token = secret
	}
	return c.JSON(http.StatusOK, out)
}

// setSessionCookies hands a browser its session: the secret in an HttpOnly
// cookie that only /api receives, and the session's CSRF token in a cookie
// that page scripts can read (Path=/ so that a page anywhere on the origin
// sees it).
func (s *Server) setSessionCookies(c echo.Context, secret string, expires time.Time) {
	c.SetCookie(s.cookie(cookieName, secret, "/api", expires))
	s.setCSRFCookie(c, secret, expires)
}

func (s *Server) setCSRFCookie(c echo.Context, secret string, expires time.Time) {
	ck := s.cookie(csrfCookieName, csrfToken(secret), "/", expires)
	ck.HttpOnly = false
	c.SetCookie(ck)
}

// clearSessionCookies tells a browser to drop both session cookies.
func (s *Server) clearSessionCookies(c echo.Context) {
	for _, ck := range []*http.Cookie{s.cookie(cookieName, "", "/api", time.Time{}), s.cookie(csrfCookieName, "", "/", time.Time{})} {
		ck.MaxAge = -1
		ck.HttpOnly = ck.Name == cookieName
		c.SetCookie(ck)
	}
}

// cookie is an HttpOnly cookie with the configured Secure and SameSite,
// lasting until expires (or the browser session when expires is zero).
func (s *Server) cookie(name, value, path string, expires time.Time) *http.Cookie {
	ck := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, Secure: s.cfg.CookieSecure, SameSite: s.cfg.CookieSameSite}
	if !expires.IsZero() {
		ck.Expires = expires
		ck.MaxAge = max(1, int(expires.Sub(s.now())/time.Second))
	}
	return ck
}

// startSession stores a new login session for u under a fresh secret.
func (s *Server) startSession(ctx context.Context, u store.User, mfa bool) (string, store.Session, error) {
	secret, hash := newSecret(sessionPrefix)
	sess, err := s.access.StartSession(ctx, u, hash, mfa, s.cfg.SessionTTL)
	return secret, sess, err
}

func (s *Server) handleLogout(c echo.Context) error {
	if err := s.access.EndSession(c.Request().Context(), callerOf(c).session.ID); err != nil {
		return err
	}
	s.clearSessionCookies(c)
	return c.NoContent(http.StatusNoContent)
}

// handleMeGet answers who the caller is. A session signed in by cookie also
// gets its CSRF token, in the body and again in the gatehouse_csrf cookie,
// so that a page reloaded (or opened in a new tab) can write again. May
// lists the admin routes the caller may use (capabilities.go).
func (s *Server) handleMeGet(c echo.Context) error {
	cl := callerOf(c)
	user, err := s.access.User(c.Request().Context(), cl.user.ID)
	if err != nil {
		return err
	}
	out := api.Me{User: user, May: s.mayUse(cl)}
	if cl.cookie {
		out.CSRFToken = csrfToken(cl.secret)
		s.setCSRFCookie(c, cl.secret, cl.session.ExpiresAt)
	}
	return c.JSON(http.StatusOK, out)
}

// checkCurrentPassword checks the password a signed-in user gives to prove
// it is them (changing the password, making a token). It is a guess like a
// login's: counted against the same per-address and per-email budget (429
// once spent), and a wrong one is 401 recorded as bad_password, so a
// stolen session or token guesses no faster than a login form allows.
func (s *Server) checkCurrentPassword(c echo.Context, u store.User, password string) error {
	if err := s.limitLogin(c, u.Email); err != nil {
		return err
	}
	ok, err := s.access.VerifyPassword(c.Request().Context(), password, u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		c.Set(ctxFailReason, failBadPassword)
		return errBadPassword
	}
	return nil
}

func (s *Server) handleMeUpdate(c echo.Context) error {
	cl := callerOf(c)
	var in api.UpdateMeRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	out, err := s.access.UpdateOwn(c.Request().Context(), cl.user, cl.session.ID, access.OwnChange{
		Name: in.Name, Password: in.Password, CurrentPassword: in.CurrentPassword,
		Prove: func(current string) error {
			if err := refuseTokenCaller(c, cl); err != nil {
				return err
			}
			return s.checkCurrentPassword(c, cl.user, current)
		},
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
