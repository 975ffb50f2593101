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

// csrfToken is the CSRF token bound to a session secret: derived from it,
// so it needs no storage, and useless without the cookie it belongs to.
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

var errCSRF = apiError(http.StatusForbidden, api.CodeCSRFFailed, "cross-site request refused: send X-CSRF-Token from your login, from the same site")

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
			if err := s.crossOrigin.Check(req); err != nil {
				return errCSRF
			}
			if cl != nil && subtle.ConstantTimeCompare([]byte(req.Header.Get(csrfHeader)), []byte(csrfToken(secret))) != 1 {
				return errCSRF
			}
		}
		return next(c)
	}
}

// lookupCaller finds the live session of secret and its enabled user, in
// one read transaction, which also brings the policy in memory up to the
// version that transaction sees: when several instances share the store, a
// request is never decided on a policy older than one committed before it
// began.
func (s *Server) lookupCaller(ctx context.Context, secret string) (*caller, error) {
	hash, ok := parseSecret(secret)
	if !ok {
		return nil, store.ErrNotFound
	}
	cl := &caller{secret: secret}
	err := s.db.View(ctx, func(tx store.Tx) error {
		var err error
		if cl.session, err = tx.Sessions().ByHash(hash); err != nil {
			return err
		}
		if cl.user, err = tx.Users().Get(cl.session.UserID); err != nil {
			return err
		}
		return s.authz.CatchUp(tx)
	})
	if err != nil {
		return nil, err
	}
	if cl.session.Expired(s.now()) || cl.user.Disabled {
		return nil, store.ErrNotFound
	}
	return cl, nil
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
	if len(in.Email) > 254 || len(in.Password) > 4*access.MaxPasswordLen {
		return errInvalidCredentials
	}
	ctx := c.Request().Context()
	var u store.User
	err := s.db.View(ctx, func(tx store.Tx) error {
		var err error
		u, err = tx.Users().ByEmail(in.Email)
		return err
	})
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
	c.SetCookie(&http.Cookie{
		Name: cookieName, Value: secret, Path: "/api", Expires: sess.ExpiresAt,
		MaxAge: int(s.cfg.SessionTTL / time.Second), HttpOnly: true, Secure: s.cfg.CookieSecure,
		SameSite: http.SameSiteStrictMode,
	})
	return c.JSON(http.StatusOK, api.LoginResponse{
		Token: secret, ExpiresAt: sess.ExpiresAt, CSRFToken: csrfToken(secret), User: view,
	})
}

// startSession stores a new login session for u.
func (s *Server) startSession(ctx context.Context, u store.User, mfa bool) (string, store.Session, error) {
	secret, hash := newSecret(sessionPrefix)
	now := s.now().UTC()
	sess := store.Session{UserID: u.ID, Kind: store.KindSession, MFA: mfa, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	err := s.db.Update(ctx, func(tx store.Tx) error {
		return tx.Sessions().Create(&sess, hash)
	})
	return secret, sess, err
}

func (s *Server) handleLogout(c echo.Context) error {
	cl := callerOf(c)
	err := s.db.Update(c.Request().Context(), func(tx store.Tx) error {
		return tx.Sessions().Delete(cl.session.ID)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	c.SetCookie(&http.Cookie{Name: cookieName, Value: "", Path: "/api", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.CookieSecure, SameSite: http.SameSiteStrictMode})
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) handleMeGet(c echo.Context) error {
	out, err := s.access.User(c.Request().Context(), callerOf(c).user.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) handleMeUpdate(c echo.Context) error {
	cl := callerOf(c)
	var in api.UpdateMeRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	out, err := s.access.UpdateOwn(c.Request().Context(), cl.user, cl.session.ID, access.OwnChange{
		Name: in.Name, Password: in.Password, CurrentPassword: in.CurrentPassword,
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
