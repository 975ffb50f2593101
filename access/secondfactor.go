package access

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
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
	// TOTPPeriod is the length of a code's time step, in seconds.
	TOTPPeriod = 30
	totpSkew   = 1
	totpDigits = 6
)

// TOTPOptions are the parameters codes are made and checked with.
var TOTPOptions = totp.ValidateOpts{Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Refusals of second-factor operations.
var (
	// ErrBadCode refuses a wrong, expired or already used code. The
	// refusal is in the audit log.
	ErrBadCode = errors.New("wrong, expired or already used code")
	// ErrFactorOn refuses to set up a second factor over one that is on.
	ErrFactorOn = &Error{Kind: Conflict, Message: "a second factor is already enabled: turn it off first to set up a new one"}
	// ErrFactorNotSetUp refuses to turn on a factor that was not set up.
	ErrFactorNotSetUp = &Error{Kind: Conflict, Message: "no second factor is being set up: call POST /api/auth/mfa/setup first"}
	// ErrFactorOff refuses to turn off a factor that is not on.
	ErrFactorOff = &Error{Kind: Conflict, Message: "no second factor is enabled"}
)

// MatchTOTP returns the time step whose code equals code, within the skew
// and after lastStep, or 0 when none does. An empty secret matches nothing.
func MatchTOTP(secret, code string, now time.Time, lastStep int64) int64 {
	if secret == "" || len(code) != totpDigits {
		return 0
	}
	cur := now.Unix() / TOTPPeriod
	for step := cur - totpSkew; step <= cur+totpSkew; step++ {
		if step <= lastStep {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*TOTPPeriod, 0), TOTPOptions)
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
	step := MatchTOTP(secret, code, now, u.MFA.LastStep)
	if step == 0 {
		return false
	}
	u.MFA.LastStep = step
	return true
}

// recordFactorFailure records a refused second-factor proof: during says
// what it was for (login, enable, disable), via what was presented (otp,
// password). Neither the code nor the password is recorded.
func recordFactorFailure(tx store.Tx, u store.User, during, via string) error {
	return Record(tx, UserActor(u), "mfa.fail", rbac.UserSubject(u.ID), nil,
		map[string]any{"during": during, "proof": via})
}

// RecordFactorFailure records, in its own transaction, a wrong password
// given to change the second factor (during: "enable", "disable").
func (s *Service) RecordFactorFailure(ctx context.Context, u store.User, during string) error {
	return s.db.Update(ctx, func(tx store.Tx) error { return recordFactorFailure(tx, u, during, "password") })
}

// CheckLoginCode is the second step of a login, after the password, for a
// user with a second factor: the code must be good, judged by the user as
// stored now (the factor may have been turned off or reset since the
// password was checked; then any code passes, and proves nothing). It
// reports whether the session proves a second factor. A wrong code is
// ErrBadCode, and recorded.
func (s *Service) CheckLoginCode(ctx context.Context, user store.User, code string) (bool, error) {
	proven, refused := false, false
	err := s.db.Update(ctx, func(tx store.Tx) error {
		proven, refused = false, false
		cur, err := tx.Users().Get(user.ID)
		if err != nil {
			return err
		}
		if !cur.MFA.Enabled {
			return nil
		}
		if !acceptCode(&cur, cur.MFA.Secret, code, s.now()) {
			refused = true
			return recordFactorFailure(tx, cur, "login", "otp")
		}
		proven = true
		return tx.Users().Update(&cur)
	})
	switch {
	case err != nil:
		return false, err
	case refused:
		return false, ErrBadCode
	}
	return proven, nil
}

// SetUpSecondFactor makes a new TOTP secret for user and keeps it as
// pending until EnableSecondFactor proves the authenticator app has it.
// Calling it again replaces the pending secret. It returns the secret and
// its otpauth:// URI, to be shown once.
func (s *Service) SetUpSecondFactor(ctx context.Context, user store.User) (secret, uri string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: totpIssuer, AccountName: user.Email,
		Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", "", fmt.Errorf("mfa setup: generate secret: %w", err)
	}
	err = s.db.Update(ctx, func(tx store.Tx) error {
		u, err := tx.Users().Get(user.ID)
		if err != nil {
			return err
		}
		if u.MFA.Enabled {
			return ErrFactorOn
		}
		u.MFA.Pending = key.Secret()
		return tx.Users().Update(&u)
	})
	if err != nil {
		return "", "", err
	}
	return key.Secret(), key.URL(), nil
}

// EnableSecondFactor turns user's second factor on with a code of the
// pending secret; the caller has checked the password. It ends the user's
// other login sessions but keep: they were opened with the password alone,
// and if the password is what leaked (a common reason to turn the factor
// on) a session opened with it must not outlive the change. Personal
// tokens stay; they never count as a proven second factor.
func (s *Service) EnableSecondFactor(ctx context.Context, user store.User, keep uint64, code string) error {
	refused := false
	err := s.db.Update(ctx, func(tx store.Tx) error {
		refused = false
		u, err := tx.Users().Get(user.ID)
		if err != nil {
			return err
		}
		switch {
		case u.MFA.Enabled:
			return ErrFactorOn
		case u.MFA.Pending == "":
			return ErrFactorNotSetUp
		}
		if !acceptCode(&u, u.MFA.Pending, code, s.now()) {
			refused = true
			return recordFactorFailure(tx, u, "enable", "otp")
		}
		u.MFA.Enabled, u.MFA.Secret, u.MFA.Pending = true, u.MFA.Pending, ""
		if err := EndSessionsExcept(tx, u.ID, keep); err != nil {
			return err
		}
		if err := tx.Users().Update(&u); err != nil {
			return err
		}
		return Record(tx, UserActor(user), "mfa.enable", rbac.UserSubject(u.ID),
			map[string]any{"mfa_enabled": false}, map[string]any{"mfa_enabled": true})
	})
	if err == nil && refused {
		return ErrBadCode
	}
	return err
}

// DisableSecondFactor turns user's second factor off, given a current code,
// or with code "" when the caller has checked the password (someone who
// lost the app but still has a session). Sessions stay: the account's
// assurance goes down by the owner's choice, nobody's access goes up.
func (s *Service) DisableSecondFactor(ctx context.Context, user store.User, code string) error {
	via := "otp"
	if code == "" {
		via = "password"
	}
	refused := false
	err := s.db.Update(ctx, func(tx store.Tx) error {
		refused = false
		u, err := tx.Users().Get(user.ID)
		if err != nil {
			return err
		}
		if !u.MFA.Enabled {
			return ErrFactorOff
		}
		if via == "otp" && !acceptCode(&u, u.MFA.Secret, code, s.now()) {
			refused = true
			return recordFactorFailure(tx, u, "disable", via)
		}
		u.MFA = store.MFA{}
		if err := tx.Users().Update(&u); err != nil {
			return err
		}
		return Record(tx, UserActor(user), "mfa.disable", rbac.UserSubject(u.ID),
			map[string]any{"mfa_enabled": true}, map[string]any{"mfa_enabled": false, "proof": via})
	})
	if err == nil && refused {
		return ErrBadCode
	}
	return err
}
