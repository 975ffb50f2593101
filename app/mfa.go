package app

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The second factor is TOTP (RFC 6238) with the parameters authenticator
// apps expect: SHA-1, six digits, 30-second steps. A code is accepted for
// its own step and one step either side (clock skew), and only once: the
// last accepted step is stored with the user, and codes of that step or an
// earlier one are refused. The library validates codes but remembers
// nothing, so replay protection is ours.
//
// The secret is stored in the user record (the server needs it to compute
// codes) and is shown once, by setup. It is never logged, never put in an
// audit record and never returned again.
const (
	totpIssuer = "gatehouse"
	totpPeriod = 30
	totpSkew   = 1
	totpDigits = 6
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Reasons recorded in the auth-failure log for refused second-factor proofs.
const (
	failBadOTP      = "bad_otp"
	failBadPassword = "bad_password"
)

var (
	errMFARequired = apiError(http.StatusUnauthorized, api.CodeMFARequired, "this account has a second factor: send the current code as otp")
	errBadOTP      = apiError(http.StatusUnauthorized, api.CodeInvalidCredentials, "wrong, expired or already used code")
	errBadPassword = apiError(http.StatusUnauthorized, api.CodeInvalidCredentials, "wrong password")
	errMFAEnabled  = apiError(http.StatusConflict, api.CodeConflict, "a second factor is already enabled: turn it off first to set up a new one")
	errMFANotSetUp = apiError(http.StatusConflict, api.CodeConflict, "no second factor is being set up: call POST /api/auth/mfa/setup first")
	errMFANotOn    = apiError(http.StatusConflict, api.CodeConflict, "no second factor is enabled")
)

// matchTOTP returns the time step whose code equals code, within the skew
// and after lastStep, or 0 when none does. An empty secret matches nothing.
func matchTOTP(secret, code string, now time.Time, lastStep int64) int64 {
	if secret == "" || len(code) != totpDigits {
		return 0
	}
	cur := now.Unix() / totpPeriod
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		if step <= lastStep {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
		if err != nil {
			return 0
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step
		}
	}
	return 0
}

// acceptCode checks code against secret and, when it matches, records its
// step in u (which the caller stores in the same transaction, so that two
// requests racing with one code cannot both pass).
func acceptCode(u *store.User, secret, code string, now time.Time) bool {
	step := matchTOTP(secret, code, now, u.MFA.LastStep)
	if step == 0 {
		return false
	}
	u.MFA.LastStep = step
	return true
}

// checkLoginOTP is the second step of a login, after the password: nothing
// to do for a user without a second factor; otherwise the code must be
// there and good. It says whether the session proves a second factor.
//
// A missing code is not a failure (the client learns it must ask for one);
// a wrong code is recorded in the audit log and the auth-failure log.
func (s *Server) checkLoginOTP(c echo.Context, u *store.User, code string) (bool, error) {
	if !u.MFA.Enabled {
		return false, nil
	}
	if code == "" {
		return false, errMFARequired
	}
	ok := false
	err := s.db.Update(c.Request().Context(), func(tx store.Tx) error {
		cur, err := tx.Users().Get(u.ID)
		if err != nil {
			return err
		}
		// Judge by the user as stored now: the factor may have been turned
		// off or reset since the password was checked.
		if !cur.MFA.Enabled {
			return nil
		}
		if ok = acceptCode(&cur, cur.MFA.Secret, code, s.now()); !ok {
			return auditMFAFailure(tx, cur, "login", "otp")
		}
		return tx.Users().Update(&cur)
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false, errInvalidCredentials
	case err != nil:
		return false, err
	case !ok:
		c.Set(ctxFailReason, failBadOTP)
		return false, errBadOTP
	}
	return true, nil
}

// handleMFASetup makes a new TOTP secret for the caller and keeps it as
// pending until enable proves the authenticator app has it. Calling it again
// replaces the pending secret; the old one is never shown again.
func (s *Server) handleMFASetup(c echo.Context) error {
	cl := callerOf(c)
	if err := refuseTokenCaller(c, cl); err != nil {
		return err
	}
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: totpIssuer, AccountName: cl.user.Email,
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return fmt.Errorf("mfa setup: generate secret: %w", err)
	}
	err = s.db.Update(c.Request().Context(), func(tx store.Tx) error {
		u, err := tx.Users().Get(cl.user.ID)
		if err != nil {
			return err
		}
		if u.MFA.Enabled {
			return errMFAEnabled
		}
		u.MFA.Pending = key.Secret()
		return tx.Users().Update(&u)
	})
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, api.MFASetup{Secret: key.Secret(), URI: key.URL()})
}

// handleMFAEnable turns the second factor on with a code of the pending
// secret and the password: without the password, someone holding a stolen
// session could enroll their own authenticator and lock the owner out.
//
// It ends the caller's other login sessions: they were opened with the
// password alone, and if the password is what leaked (a common reason to
// turn MFA on) a session opened with it must not outlive the change. The
// calling session stays, still password-only: routes that require a proven
// second factor need a new login with a code. Personal tokens stay; they
// never count as a proven second factor.
func (s *Server) handleMFAEnable(c echo.Context) error {
	cl := callerOf(c)
	if err := refuseTokenCaller(c, cl); err != nil {
		return err
	}
	var in api.MFAEnableRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	problems := map[string]string{}
	if in.OTP == "" {
		problems["otp"] = "is required: the current code of your authenticator app"
	}
	if in.Password == "" {
		problems["password"] = "is required: turning the second factor on needs your password"
	}
	if len(problems) > 0 {
		return invalidInput(problems)
	}
	if err := s.countOTPAttempt(c, cl.user.Email); err != nil {
		return err
	}
	if err := s.checkPasswordProof(c, cl.user, in.Password, "enable"); err != nil {
		return err
	}
	var u store.User
	ok := false
	err := s.db.Update(c.Request().Context(), func(tx store.Tx) error {
		var err error
		if u, err = tx.Users().Get(cl.user.ID); err != nil {
			return err
		}
		switch {
		case u.MFA.Enabled:
			return errMFAEnabled
		case u.MFA.Pending == "":
			return errMFANotSetUp
		}
		if ok = acceptCode(&u, u.MFA.Pending, in.OTP, s.now()); !ok {
			return auditMFAFailure(tx, u, "enable", "otp")
		}
		u.MFA.Enabled, u.MFA.Secret, u.MFA.Pending = true, u.MFA.Pending, ""
		if err := access.EndSessionsExcept(tx, u.ID, cl.session.ID); err != nil {
			return err
		}
		if err := tx.Users().Update(&u); err != nil {
			return err
		}
		return access.Record(tx, access.UserActor(cl.user), "mfa.enable", rbac.UserSubject(u.ID),
			map[string]any{"mfa_enabled": false}, map[string]any{"mfa_enabled": true})
	})
	if err != nil {
		return err
	}
	if !ok {
		c.Set(ctxFailReason, failBadOTP)
		return errBadOTP
	}
	out, err := s.access.User(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// handleMFADisable turns the second factor off, given a current code or the
// password (for someone who lost the app but still has a session). Sessions
// stay: the account's assurance goes down by the owner's choice, nobody's
// access goes up.
func (s *Server) handleMFADisable(c echo.Context) error {
	cl := callerOf(c)
	if err := refuseTokenCaller(c, cl); err != nil {
		return err
	}
	var in api.MFADisableRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	if (in.OTP == "") == (in.Password == "") {
		return invalidInput(map[string]string{"otp": "send either a current code (otp) or your password, exactly one of them"})
	}
	if !cl.user.MFA.Enabled {
		return errMFANotOn
	}
	if err := s.countOTPAttempt(c, cl.user.Email); err != nil {
		return err
	}
	via := "otp"
	if in.Password != "" {
		via = "password"
		if err := s.checkPasswordProof(c, cl.user, in.Password, "disable"); err != nil {
			return err
		}
	}
	refused := false
	err := s.db.Update(c.Request().Context(), func(tx store.Tx) error {
		u, err := tx.Users().Get(cl.user.ID)
		if err != nil {
			return err
		}
		if !u.MFA.Enabled {
			return errMFANotOn
		}
		if via == "otp" && !acceptCode(&u, u.MFA.Secret, in.OTP, s.now()) {
			refused = true
			return auditMFAFailure(tx, u, "disable", via)
		}
		u.MFA = store.MFA{}
		if err := tx.Users().Update(&u); err != nil {
			return err
		}
		return access.Record(tx, access.UserActor(cl.user), "mfa.disable", rbac.UserSubject(u.ID),
			map[string]any{"mfa_enabled": true}, map[string]any{"mfa_enabled": false, "proof": via})
	})
	if err != nil {
		return err
	}
	if refused {
		c.Set(ctxFailReason, failBadOTP)
		return errBadOTP
	}
	return c.NoContent(http.StatusNoContent)
}

// checkPasswordProof checks the password a signed-in user gives to change
// their second factor (during: "enable", "disable"). A wrong one is
// audited and named bad_password in the auth-failure log.
func (s *Server) checkPasswordProof(c echo.Context, u store.User, password, during string) error {
	ctx := c.Request().Context()
	ok, err := s.access.VerifyPassword(ctx, password, u.PasswordHash)
	if err != nil || ok {
		return err
	}
	err = s.db.Update(ctx, func(tx store.Tx) error {
		return auditMFAFailure(tx, u, during, "password")
	})
	if err != nil {
		return err
	}
	c.Set(ctxFailReason, failBadPassword)
	return errBadPassword
}

// errTokenCaller refuses credential management to personal API tokens.
var errTokenCaller = apiError(http.StatusForbidden, api.CodeForbidden,
	"personal API tokens cannot change passwords, tokens or second factors: sign in with your password")

// refuseTokenCaller keeps personal API tokens away from credential
// management: a token that leaks from a script must not be able to mint
// tokens that outlive its own revocation, revoke the owner's other tokens,
// change a password, or change or reset a second factor (anyone's). Those
// need a login session.
func refuseTokenCaller(c echo.Context, cl *caller) error {
	if cl != nil && cl.session.Kind == store.KindToken {
		c.Set(ctxFailReason, "token_not_allowed")
		return errTokenCaller
	}
	return nil
}

// auditMFAFailure records a refused second-factor proof: during says what
// it was for (login, enable, disable), via what was presented (otp,
// password). Neither the code nor the password is recorded.
func auditMFAFailure(tx store.Tx, u store.User, during, via string) error {
	return access.Record(tx, access.UserActor(u), "mfa.fail", rbac.UserSubject(u.ID), nil,
		map[string]any{"during": during, "proof": via})
}
