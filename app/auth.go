package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/api"
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
	if _, err := base64.RawURLEncoding.DecodeString(rest); err != nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(s))
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
		if present {
			found, err := s.lookupCaller(req.Context(), secret)
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

// lookupCaller finds the live session of secret and its enabled user, in
// one read transaction.
func (s *Server) lookupCaller(ctx context.Context, secret string) (*caller, error) {
	hash, ok := parseSecret(secret)
	if !ok {
		return nil, store.ErrNotFound
	}
	cl := &caller{secret: secret}
	err := s.db.View(ctx, func(tx *store.Tx) error {
		var err error
		if cl.session, err = tx.SessionByHash(hash); err != nil {
			return err
		}
		cl.user, err = tx.User(cl.session.UserID)
		return err
	})
	if err != nil {
		return nil, err
	}
	if cl.session.Expired(s.now()) || cl.user.Disabled {
		return nil, store.ErrNotFound
	}
	return cl, nil
}

// toUser is a user as the API shows it, with the roles and groups the
// policy links them to directly.
func (s *Server) toUser(u store.User) api.User {
	out := api.User{
		ID: store.FormatID(u.ID), Email: u.Email, Name: u.Name, Disabled: u.Disabled,
		MFAEnabled: u.MFA.Enabled, CreatedAt: u.CreatedAt, Roles: []string{}, Groups: []string{},
	}
	for _, p := range s.authz.Parents(rbac.UserSubject(u.ID)) {
		if name, ok := strings.CutPrefix(p, "role:"); ok {
			out.Roles = append(out.Roles, name)
		} else if name, ok := strings.CutPrefix(p, "group:"); ok {
			out.Groups = append(out.Groups, name)
		}
	}
	return out
}

// checkEmail returns the problem with an email address, or "".
func checkEmail(email string) string {
	if len(email) > 254 {
		return "must be at most 254 characters"
	}
	if hasHiddenRune(email) {
		return "must not hold control, format or text-direction characters"
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return "must be an email address like name@example.com"
	}
	return ""
}

// checkName returns the problem with a display name, or "".
func checkName(name string) string {
	if utf8.RuneCountInString(name) > 100 || hasHiddenRune(name) {
		return "must be at most 100 printable characters, without control, format or text-direction characters"
	}
	return ""
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
	in.Email = canonicalEmail(in.Email)
	problems := map[string]string{}
	if p := checkEmail(in.Email); p != "" {
		problems["email"] = p
	}
	if p := checkPassword(in.Password); p != "" {
		problems["password"] = p
	}
	if p := checkName(in.Name); p != "" {
		problems["name"] = p
	}
	if len(problems) > 0 {
		return invalidInput(problems)
	}
	// The new account is its own actor: nobody was signed in.
	u, err := s.createUser(c.Request().Context(), in.Email, in.Name, in.Password, []string{"user"}, func(tx *store.Tx, u store.User) error {
		view, err := userInTx(tx, u)
		if err != nil {
			return err
		}
		return RecordChange(tx, u.ID, u.Email, "user.register", rbac.UserSubject(u.ID), nil, view)
	})
	if errors.Is(err, store.ErrConflict) {
		return apiError(http.StatusConflict, api.CodeConflict, "an account with this email exists")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, s.toUser(u))
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
	if len(in.Email) > 254 || len(in.Password) > 4*maxPasswordLen {
		return errInvalidCredentials
	}
	ctx := c.Request().Context()
	var u store.User
	err := s.db.View(ctx, func(tx *store.Tx) error {
		var err error
		u, err = tx.UserByEmail(in.Email)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// An unknown email is checked against the dummy hash: the same work,
	// the same answer, as a wrong password.
	ok, err := s.hasher.verify(ctx, in.Password, u.PasswordHash)
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
	s.setSessionCookies(c, secret, sess.ExpiresAt)
	out := api.LoginResponse{ExpiresAt: sess.ExpiresAt, CSRFToken: csrfToken(secret), User: s.toUser(u)}
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

// startSession stores a new login session for u.
func (s *Server) startSession(ctx context.Context, u store.User, mfa bool) (string, store.Session, error) {
	secret, hash := newSecret(sessionPrefix)
	now := s.now().UTC()
	sess := store.Session{UserID: u.ID, Kind: store.KindSession, MFA: mfa, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		return tx.CreateSession(&sess, hash)
	})
	return secret, sess, err
}

func (s *Server) handleLogout(c echo.Context) error {
	cl := callerOf(c)
	err := s.db.Update(c.Request().Context(), func(tx *store.Tx) error {
		return tx.DeleteSession(cl.session.ID)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
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
	out := api.Me{User: s.toUser(cl.user), May: s.mayUse(cl)}
	if cl.cookie {
		out.CSRFToken = csrfToken(cl.secret)
		s.setCSRFCookie(c, cl.secret, cl.session.ExpiresAt)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) handleMeUpdate(c echo.Context) error {
	cl := callerOf(c)
	var in api.UpdateMeRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	problems := map[string]string{}
	if in.Name != nil {
		if p := checkName(*in.Name); p != "" {
			problems["name"] = p
		}
	}
	var newHash string
	if in.Password != nil {
		if p := checkPassword(*in.Password); p != "" {
			problems["password"] = p
		}
		if in.CurrentPassword == nil {
			problems["current_password"] = "is needed to change the password"
		}
	}
	if len(problems) > 0 {
		return invalidInput(problems)
	}
	ctx := c.Request().Context()
	if in.Password != nil {
		if err := refuseTokenCaller(c, cl); err != nil {
			return err
		}
		if err := s.checkCurrentPassword(c, cl.user, *in.CurrentPassword); err != nil {
			return err
		}
		var err error
		if newHash, err = s.hasher.hash(ctx, *in.Password); err != nil {
			return err
		}
	}
	var u store.User
	err := s.db.Update(ctx, func(tx *store.Tx) error {
		var err error
		if u, err = tx.User(cl.user.ID); err != nil {
			return err
		}
		if in.Name != nil {
			u.Name = *in.Name
		}
		if newHash != "" {
			u.PasswordHash = newHash
			// A new password ends every other login session at once.
			if err := endSessionsExcept(tx, u.ID, cl.session.ID); err != nil {
				return err
			}
			if err := auditCredentialEvent(tx, cl.user, "password.change", rbac.UserSubject(u.ID), nil,
				map[string]any{"by": "self", "other_sessions_ended": true}); err != nil {
				return err
			}
		}
		return tx.UpdateUser(&u)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.toUser(u))
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
	ok, err := s.hasher.verify(c.Request().Context(), password, u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		c.Set(ctxFailReason, failBadPassword)
		return errBadPassword
	}
	return nil
}

// endSessionsExcept ends a user's login sessions but keep (0 for none).
// Personal API tokens are revoked separately.
func endSessionsExcept(tx *store.Tx, userID, keep uint64) error {
	sessions, err := tx.UserSessions(userID, store.KindSession)
	if err != nil {
		return err
	}
	for _, sess := range sessions {
		if sess.ID == keep {
			continue
		}
		if err := tx.DeleteSession(sess.ID); err != nil {
			return err
		}
	}
	return nil
}
