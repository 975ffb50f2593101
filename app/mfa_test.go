package app

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestMFALifecycle walks the second factor through HTTP with the clock in
// the test's hands: setup, enable, login without and with a code, replay,
// clock skew, disable.
func TestMFALifecycle(t *testing.T) {
	t.Parallel()
	e := newCredEnv(t)
	const email = "alice@example.com"
	alice := e.mustCreateUser(t, email, "user")
	session := e.login(t, email, "")
	other := e.login(t, email, "")

	// Setup: a secret and an otpauth:// URI for the authenticator app,
	// stored as pending until a code proves the app has it.
	var setup api.MFASetup
	a := e.call(t, http.MethodPost, "/api/auth/mfa/setup", session, nil)
	a.want(t, http.StatusOK, &setup)
	if got := a.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("setup Cache-Control %q, want no-store", got)
	}
	key, err := otp.NewKeyFromURL(setup.URI)
	if err != nil {
		t.Fatalf("setup URI %q: %v", setup.URI, err)
	}
	if key.Type() != "totp" || key.Issuer() != "gatehouse" || key.AccountName() != email || key.Secret() != setup.Secret || key.Period() != 30 {
		t.Fatalf("setup URI %q: type %s issuer %s account %s period %d", setup.URI, key.Type(), key.Issuer(), key.AccountName(), key.Period())
	}
	if u := e.mustUser(t, email); u.MFA.Enabled || u.MFA.Pending != setup.Secret || u.MFA.Secret != "" {
		t.Fatalf("after setup MFA is %+v, want only pending", u.MFA)
	}
	// Not enabled yet: login still needs only the password.
	e.login(t, email, "")

	// Enable: a wrong code is refused and recorded; the right one turns
	// the factor on and ends the other, password-only session.
	e.call(t, http.MethodPost, "/api/auth/mfa/enable", session, api.MFAEnableRequest{OTP: "000000"}).
		wantError(t, http.StatusUnauthorized, api.CodeInvalidCredentials)
	var me api.User
	e.call(t, http.MethodPost, "/api/auth/mfa/enable", session, api.MFAEnableRequest{OTP: e.code(t, setup.Secret, 0)}).
		want(t, http.StatusOK, &me)
	if !me.MFAEnabled {
		t.Fatal("enable answered mfa_enabled false")
	}
	if u := e.mustUser(t, email); !u.MFA.Enabled || u.MFA.Secret != setup.Secret || u.MFA.Pending != "" {
		t.Fatalf("after enable MFA is enabled=%v pending=%q", u.MFA.Enabled, u.MFA.Pending)
	}
	e.call(t, http.MethodGet, "/api/auth/me", other, nil).wantError(t, http.StatusUnauthorized, api.CodeUnauthorized)
	e.call(t, http.MethodGet, "/api/auth/me", session, nil).want(t, http.StatusOK, nil)
	e.call(t, http.MethodPost, "/api/auth/mfa/setup", session, nil).wantError(t, http.StatusConflict, api.CodeConflict)

	// Login without a code: 401 mfa_required, and no session, no cookie.
	before := e.countSessions(t, alice, store.KindSession)
	for _, otp := range []string{"", "123"} {
		a := e.call(t, http.MethodPost, "/api/auth/login", "", api.LoginRequest{Email: email, Password: testPassword, OTP: otp})
		if otp == "" {
			a.wantError(t, http.StatusUnauthorized, api.CodeMFARequired)
		} else {
			a.wantError(t, http.StatusUnauthorized, api.CodeInvalidCredentials)
		}
		if c := a.header.Values("Set-Cookie"); len(c) != 0 {
			t.Fatalf("refused login set cookies %q", c)
		}
	}
	// A wrong password with no code says nothing about the second factor.
	e.call(t, http.MethodPost, "/api/auth/login", "", api.LoginRequest{Email: email, Password: "wrong password!!"}).
		wantError(t, http.StatusUnauthorized, api.CodeInvalidCredentials)
	if after := e.countSessions(t, alice, store.KindSession); after != before {
		t.Fatalf("refused logins stored sessions: %d, then %d", before, after)
	}

	// The code that enabled the factor is spent: same step, refused.
	e.call(t, http.MethodPost, "/api/auth/login", "", api.LoginRequest{Email: email, Password: testPassword, OTP: e.code(t, setup.Secret, 0)}).
		wantError(t, http.StatusUnauthorized, api.CodeInvalidCredentials)

	// Next step: a fresh code signs in, once.
	e.clock.Advance(30 * time.Second)
	fresh := e.code(t, setup.Secret, 0)
	a = e.call(t, http.MethodPost, "/api/auth/login", "", api.LoginRequest{Email: email, Password: testPassword, OTP: fresh})
	var login api.LoginResponse
	a.want(t, http.StatusOK, &login)
	if len(a.header.Values("Set-Cookie")) != 1 {
		t.Fatalf("login with code set cookies %q", a.header.Values("Set-Cookie"))
	}
	if cl, err := e.srv.lookupCaller(context.Background(), login.Token); err != nil || !cl.session.MFA {
		t.Fatalf("session of a login with code: MFA %v, err %v; want true", cl != nil && cl.session.MFA, err)
	}
	e.call(t, http.MethodPost, "/api/auth/login", "", api.LoginRequest{Email: email, Password: testPassword, OTP: fresh}).
		wantError(t, http.StatusUnauthorized, api.CodeInvalidCredentials)

	// Skew: one step either side is accepted, two are not. The refusals
	// come first, when no recent step is spent, so that only skew refuses.
	e.clock.Advance(5 * 30 * time.Second)
	for _, steps := range []int{-2, 2} {
		e.call(t, http.MethodPost, "/api/auth/login", "", api.LoginRequest{Email: email, Password: testPassword, OTP: e.code(t, setup.Secret, steps)}).
			wantError(t, http.StatusUnauthorized, api.CodeInvalidCredentials)
	}
	e.login(t, email, e.code(t, setup.Secret, +1))
	e.clock.Advance(3 * 30 * time.Second)
	e.login(t, email, e.code(t, setup.Secret, -1))

	// Disable needs proof: a wrong code is refused, a current one works.
	e.clock.Advance(30 * time.Second)
	e.call(t, http.MethodDelete, "/api/auth/mfa", session, api.MFADisableRequest{}).
		wantError(t, http.StatusBadRequest, api.CodeInvalidInput)
	e.call(t, http.MethodDelete, "/api/auth/mfa", session, api.MFADisableRequest{OTP: "111111", Password: testPassword}).
		wantError(t, http.StatusBadRequest, api.CodeInvalidInput)
	e.call(t, http.MethodDelete, "/api/auth/mfa", session, api.MFADisableRequest{OTP: e.code(t, setup.Secret, 3)}).
		wantError(t, http.StatusUnauthorized, api.CodeInvalidCredentials)
	e.call(t, http.MethodDelete, "/api/auth/mfa", session, api.MFADisableRequest{OTP: e.code(t, setup.Secret, 0)}).
		want(t, http.StatusNoContent, nil)
	if u := e.mustUser(t, email); u.MFA != (store.MFA{}) {
		t.Fatalf("after disable MFA is %+v, want nothing", u.MFA)
	}
	e.call(t, http.MethodDelete, "/api/auth/mfa", session, api.MFADisableRequest{Password: testPassword}).
		wantError(t, http.StatusConflict, api.CodeConflict)
	e.login(t, email, "")

	// Every refused code is in the auth-failure log and the audit log;
	// the secret is in neither, nor anywhere in the server log.
	reasons := e.failureReasons(t)
	wantReasons := []string{
		"bad_otp",             // enable with 000000
		"unauthorized",        // the session ended by enable
		"mfa_required",        // login without a code
		"bad_otp",             // login with 123
		"invalid_credentials", // wrong password
		"bad_otp", "bad_otp",  // the spent enabling code, the replayed login code
		"bad_otp", "bad_otp", // skew -2, +2
		"bad_otp", // disable with a wrong code
	}
	if !slices.Equal(reasons, wantReasons) {
		t.Errorf("auth-failure reasons %q, want %q", reasons, wantReasons)
	}
	recs := e.audit(t)
	wantActions := []string{"mfa.fail", "mfa.enable", "mfa.fail", "mfa.fail", "mfa.fail", "mfa.fail", "mfa.fail", "mfa.fail", "mfa.disable"}
	if got := auditActions(recs, rbac.UserSubject(alice)); !slices.Equal(got, wantActions) {
		t.Errorf("audit actions %q, want %q", got, wantActions)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Before)+string(r.After), setup.Secret) {
			t.Errorf("audit record %s holds the TOTP secret", r.Action)
		}
	}
	if strings.Contains(e.log.String(), setup.Secret) {
		t.Error("the server log holds the TOTP secret")
	}
}

// TestMFADisableWithPassword: someone who lost the app but has a session
// turns the factor off with the password; a wrong password is refused and
// recorded.
func TestMFADisableWithPassword(t *testing.T) {
	t.Parallel()
	e := newCredEnv(t)
	const email = "bob@example.com"
	bob := e.mustCreateUser(t, email, "user")
	session := e.login(t, email, "")
	e.mustEnableMFA(t, session)

	e.call(t, http.MethodDelete, "/api/auth/mfa", session, api.MFADisableRequest{Password: "not the password"}).
		wantError(t, http.StatusUnauthorized, api.CodeInvalidCredentials)
	if !e.mustUser(t, email).MFA.Enabled {
		t.Fatal("a wrong password turned the second factor off")
	}
	e.call(t, http.MethodDelete, "/api/auth/mfa", session, api.MFADisableRequest{Password: testPassword}).
		want(t, http.StatusNoContent, nil)
	e.login(t, email, "")

	if got, want := e.failureReasons(t), []string{"bad_password"}; !slices.Equal(got, want) {
		t.Errorf("auth-failure reasons %q, want %q", got, want)
	}
	want := []string{"mfa.enable", "mfa.fail", "mfa.disable"}
	if got := auditActions(e.audit(t), rbac.UserSubject(bob)); !slices.Equal(got, want) {
		t.Errorf("audit actions %q, want %q", got, want)
	}
}

// replaceRule swaps one rule for another in one policy change, as an admin
// would through the policy API.
func replaceRule(t *testing.T, e *credEnv, from, to []string) {
	t.Helper()
	err := e.authz.Mutate(context.Background(), func(tx *store.Tx) error {
		r, err := tx.FindRule("p", from)
		if err != nil {
			return err
		}
		if _, err := tx.RemoveRule(r.ID); err != nil {
			return err
		}
		_, err = e.authz.AddRule(tx, "p", to)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMFAStepUpByPolicy: a rule's mfa condition makes a route need a
// session signed in with the second factor (403 mfa_required otherwise),
// totp makes it need one from everyone, and a policy change lifts the
// requirement on the next request, without a restart or a new login.
func TestMFAStepUpByPolicy(t *testing.T) {
	t.Parallel()
	e := newCredEnv(t)
	target := e.mustCreateUser(t, "carol@example.com", "user")
	route := "/api/admin/users/" + store.FormatID(target) + "/mfa"
	broad := []string{"role:admin", "/api/admin/users*", "*", "*"}
	withMFA := []string{"role:admin", "/api/admin/users*", "*", "mfa"}
	withTOTP := []string{"role:admin", "/api/admin/users*", "*", "totp"}

	passwordOnly := e.login(t, testAdminEmail, "")
	replaceRule(t, e, broad, withMFA)
	// An admin without a second factor is not asked for one under mfa...
	e.call(t, http.MethodDelete, route, passwordOnly, nil).want(t, http.StatusNoContent, nil)
	// ...but is under totp, and cannot get past it.
	replaceRule(t, e, withMFA, withTOTP)
	e.call(t, http.MethodDelete, route, passwordOnly, nil).wantError(t, http.StatusForbidden, api.CodeMFARequired)
	replaceRule(t, e, withTOTP, withMFA)

	// The admin enables the factor: the enabling session stays
	// password-only, a login with a code proves it.
	secret := e.mustEnableMFA(t, passwordOnly)
	withCode := e.login(t, testAdminEmail, e.code(t, secret, 0))
	var tok api.CreatedToken
	e.call(t, http.MethodPost, "/api/auth/tokens", withCode, api.CreateTokenRequest{Name: "ci"}).want(t, http.StatusCreated, &tok)

	e.call(t, http.MethodDelete, route, passwordOnly, nil).wantError(t, http.StatusForbidden, api.CodeMFARequired)
	e.call(t, http.MethodDelete, route, tok.Secret, nil).wantError(t, http.StatusForbidden, api.CodeMFARequired)
	e.call(t, http.MethodDelete, route, withCode, nil).want(t, http.StatusNoContent, nil)

	// Lift the requirement: the very next request passes.
	replaceRule(t, e, withMFA, broad)
	e.call(t, http.MethodDelete, route, passwordOnly, nil).want(t, http.StatusNoContent, nil)
	e.call(t, http.MethodDelete, route, tok.Secret, nil).want(t, http.StatusNoContent, nil)

	// The seed policy asks it of admins who have a second factor on the
	// policy routes.
	for _, mfa := range []string{rbac.MFAMissing, rbac.MFAVerified, rbac.MFANone} {
		d := e.authz.Decide(rbac.Request{Sub: rbac.UserSubject(e.adminID), Obj: "/api/admin/policies", Act: http.MethodGet, MFA: mfa})
		if d.Allowed != (mfa != rbac.MFAMissing) || d.StepUp != (mfa == rbac.MFAMissing) {
			t.Errorf("seed policy, admin with mfa %s on /api/admin/policies: %+v", mfa, d)
		}
	}
}

// TestMatchTOTP pins the window: one step of skew either side, replay of a
// spent step refused, malformed codes and empty secrets never matching.
func TestMatchTOTP(t *testing.T) {
	t.Parallel()
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Date(2031, 3, 4, 12, 0, 10, 0, time.UTC)
	step := now.Unix() / totpPeriod
	code := func(d int64) string {
		c, err := totpCodeAt(secret, step+d)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name     string
		secret   string
		code     string
		lastStep int64
		want     int64
	}{
		{"current step", secret, code(0), 0, step},
		{"one step behind", secret, code(-1), 0, step - 1},
		{"one step ahead", secret, code(1), 0, step + 1},
		{"two steps behind", secret, code(-2), 0, 0},
		{"two steps ahead", secret, code(2), 0, 0},
		{"replay of the spent step", secret, code(0), step, 0},
		{"an earlier step after a later one", secret, code(-1), step, 0},
		{"the step after the spent one", secret, code(1), step, step + 1},
		{"too short", secret, code(0)[:5], 0, 0},
		{"too long", secret, code(0) + "0", 0, 0},
		{"no secret", "", code(0), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := matchTOTP(tt.secret, tt.code, now, tt.lastStep); got != tt.want {
				t.Errorf("matchTOTP = %d, want %d", got, tt.want)
			}
		})
	}
}

func totpCodeAt(secret string, step int64) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totpOpts)
}
