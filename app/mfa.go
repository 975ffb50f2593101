package app

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// The second factor (TOTP, access/secondfactor.go): the handlers check the
// request, count code guesses, prove the password where it is needed, and
// call the access service; refused proofs are named in the auth-failure
// log.

// Reasons recorded in the auth-failure log for refused second-factor proofs.
const (
	failBadOTP      = "bad_otp"
	failBadPassword = "bad_password"
)

var (
	errMFARequired = apiError(http.StatusUnauthorized, api.CodeMFARequired, "this account has a second factor: send the current code as otp")
	errBadOTP      = apiError(http.StatusUnauthorized, api.CodeInvalidCredentials, "wrong, expired or already used code")
	errBadPassword = apiError(http.StatusUnauthorized, api.CodeInvalidCredentials, "wrong password")
)

// codeRefused turns the service's refusal of a code into the answer, named
// bad_otp in the auth-failure log.
func codeRefused(c echo.Context, err error) error {
	if errors.Is(err, access.ErrBadCode) {
		c.Set(ctxFailReason, failBadOTP)
		return errBadOTP
	}
	return err
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
	proven, err := s.access.CheckLoginCode(c.Request().Context(), *u, code)
	if errors.Is(err, store.ErrNotFound) {
		return false, errInvalidCredentials
	}
	if err != nil {
		return false, codeRefused(c, err)
	}
	return proven, nil
}

// handleMFASetup makes a new TOTP secret for the caller and keeps it as
// pending until enable proves the authenticator app has it. Calling it again
// replaces the pending secret; the old one is never shown again.
func (s *Server) handleMFASetup(c echo.Context) error {
	cl := callerOf(c)
	if err := refuseTokenCaller(c, cl); err != nil {
		return err
	}
	secret, uri, err := s.access.SetUpSecondFactor(c.Request().Context(), cl.user)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(http.StatusOK, api.MFASetup{Secret: secret, URI: uri})
}

// handleMFAEnable turns the second factor on with a code of the pending
// secret and the password: without the password, someone holding a stolen
// session could enroll their own authenticator and lock the owner out.
//
// It ends the caller's other login sessions (access.Service.
// EnableSecondFactor says why). The calling session stays, still
// password-only: routes that require a proven second factor need a new
// login with a code.
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
	if in.Password == "" && cl.identity == nil {
		problems["password"] = "is required: turning the second factor on needs your password"
	}
	if len(problems) > 0 {
		return invalidInput(problems)
	}
	if err := s.countOTPAttempt(c, cl.user.Email); err != nil {
		return err
	}
	if cl.identity != nil {
		// A provider-linked caller proves it is them by a fresh sign-in
		// at the provider, never by nothing.
		if err := s.proveIdentity(c, cl, in.Password); err != nil {
			return err
		}
	} else if err := s.checkPasswordProof(c, cl.user, in.Password, "enable"); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.access.EnableSecondFactor(ctx, cl.user, cl.session.ID, in.OTP); err != nil {
		return codeRefused(c, err)
	}
	out, err := s.access.User(ctx, cl.user.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

// handleMFADisable turns the second factor off, given a current code or the
// password (for someone who lost the app but still has a session).
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
		return access.ErrFactorOff
	}
	if err := s.countOTPAttempt(c, cl.user.Email); err != nil {
		return err
	}
	if in.Password != "" {
		if err := s.checkPasswordProof(c, cl.user, in.Password, "disable"); err != nil {
			return err
		}
	}
	if err := s.access.DisableSecondFactor(c.Request().Context(), cl.user, in.OTP); err != nil {
		return codeRefused(c, err)
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
	if err := s.access.RecordFactorFailure(ctx, u, during); err != nil {
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
