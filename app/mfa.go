package app

import (
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters (RFC 6238 as authenticator apps expect them). A code is
// accepted for its own 30-second step and one step either side, and only
// once: the last accepted step is stored, and codes of that step or earlier
// are refused.
const (
	totpPeriod = 30
	totpSkew   = 1
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

var (
	errMFARequired = apiError(http.StatusUnauthorized, api.CodeMFARequired, "this account has a second factor: send the current code as otp")
	errBadOTP      = apiError(http.StatusUnauthorized, api.CodeInvalidCredentials, "wrong, expired or already used code")
)

// matchTOTP returns the time step whose code equals code, within the skew
// and after lastStep, or 0 when none does.
func matchTOTP(secret, code string, now time.Time, lastStep int64) int64 {
	if len(code) != 6 {
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

// useTOTP checks code against the user's enabled secret and, when it
// matches, records its step in the same transaction, so two requests racing
// with one code cannot both pass.
func (s *Server) useTOTP(c echo.Context, userID uint64, code string) (bool, error) {
	ok := false
	err := s.db.Update(c.Request().Context(), func(tx *store.Tx) error {
		u, err := tx.User(userID)
		if err != nil {
			return err
		}
		// Codes guessed outside a login count toward its limit too.
		if err := s.countOTPAttempt(c, u.Email); err != nil {
			return err
		}
		step := matchTOTP(u.MFA.Secret, code, s.now(), u.MFA.LastStep)
		if step == 0 {
			return nil
		}
		ok = true
		u.MFA.LastStep = step
		return tx.UpdateUser(&u)
	})
	return ok, err
}

// checkLoginOTP is the second step of a login: nothing to do for a user
// without a second factor; otherwise the code must be there and good. It
// says whether the session proves a second factor.
func (s *Server) checkLoginOTP(c echo.Context, u *store.User, code string) (bool, error) {
	if !u.MFA.Enabled {
		return false, nil
	}
	if code == "" {
		return false, errMFARequired
	}
	ok, err := s.useTOTP(c, u.ID, code)
	if err != nil {
		return false, err
	}
	if !ok {
		c.Set(ctxFailReason, "bad_otp")
		return false, errBadOTP
	}
	return true, nil
}
