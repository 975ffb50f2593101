package app

import (
	"context"
	"github.com/gatehouse/gatehouse/access"
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
	ts, clock := newClockedServer(t)
	alice := ts.mustUser([]string{"user"})
	other := ts.login(alice.Email, testPassword)

	// Setup: a secret and an otpauth:// URI for the authenticator app,
	// stored as pending until a code proves the app has it.
	var setup api.MFASetup
	resp := ts.do(http.MethodPost, "/api/auth/mfa/setup", &alice, nil, &setup)
	expect(t, resp, http.StatusOK, "")
	if got := resp.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("setup Cache-Control %q, want no-store", got)
	}
	key, err := otp.NewKeyFromURL(setup.URI)
	if err != nil {
		t.Fatalf("setup URI %q: %v", setup.URI, err)
	}
	if key.Type() != "totp" || key.Issuer() != "gatehouse" || key.AccountName() != alice.Email || key.Secret() != setup.Secret || key.Period() != 30 {
		t.Fatalf("setup URI %q: type %s issuer %s account %s period %d", setup.URI, key.Type(), key.Issuer(), key.AccountName(), key.Period())
	}
	if m := ts.storedUser(alice.ID).MFA; m.Enabled || m.Pending != setup.Secret || m.Secret != "" {
		t.Fatalf("after setup MFA is enabled=%v, want only pending", m.Enabled)
	}

	// Enable needs a code and the password: wrong ones are refused and
	// recorded; the right ones turn the factor on and end the other,
	// password-only session.
	good := totpCode(t, setup.Secret, clock, 0)
	for _, tt := range []struct {
		in     api.MFAEnableRequest
		status int
		code   string
	}{
		{api.MFAEnableRequest{OTP: good}, http.StatusBadRequest, api.CodeInvalidInput},
		{api.MFAEnableRequest{Password: testPassword}, http.StatusBadRequest, api.CodeInvalidInput},
		{api.MFAEnableRequest{OTP: good, Password: "not the password"}, http.StatusUnauthorized, api.CodeInvalidCredentials},
		{api.MFAEnableRequest{OTP: "000000", Password: testPassword}, http.StatusUnauthorized, api.CodeInvalidCredentials},
	} {
		expect(t, ts.do(http.MethodPost, "/api/auth/mfa/enable", &alice, tt.in, nil), tt.status, tt.code)
	}
	if ts.storedUser(alice.ID).MFA.Enabled {
		t.Fatal("a refused enable turned the second factor on")
	}
	var me api.User
	expect(t, ts.do(http.MethodPost, "/api/auth/mfa/enable", &alice, api.MFAEnableRequest{OTP: good, Password: testPassword}, &me),
		http.StatusOK, "")
	if !me.MFAEnabled {
		t.Fatal("enable answered mfa_enabled false")
	}
	if m := ts.storedUser(alice.ID).MFA; !m.Enabled || m.Secret != setup.Secret || m.Pending != "" {
		t.Fatalf("after enable MFA is enabled=%v pending=%v", m.Enabled, m.Pending != "")
	}
	expect(t, ts.do(http.MethodGet, "/api/auth/me", &other, nil, nil), http.StatusUnauthorized, api.CodeUnauthorized)
	expect(t, ts.do(http.MethodGet, "/api/auth/me", &alice, nil, nil), http.StatusOK, "")
	expect(t, ts.do(http.MethodPost, "/api/auth/mfa/setup", &alice, nil, nil), http.StatusConflict, api.CodeConflict)

	// Login without a code: 401 mfa_required, and no session, no cookie;
	// a wrong password says nothing of the second factor.
	before := ts.countSessions(alice.ID, store.KindSession)
	for _, tt := range []struct{ password, otp, code string }{
		{testPassword, "", api.CodeMFARequired},
		{testPassword, "123", api.CodeInvalidCredentials},
		{"wrong password!", "", api.CodeInvalidCredentials},
	} {
		resp := ts.tryLogin(alice.Email, tt.password, tt.otp)
		expect(t, resp, http.StatusUnauthorized, tt.code)
		if c := resp.Header.Values("Set-Cookie"); len(c) != 0 {
			t.Fatalf("refused login set cookies %q", c)
		}
	}
	if after := ts.countSessions(alice.ID, store.KindSession); after != before {
		t.Fatalf("refused logins stored sessions: %d, then %d", before, after)
	}

	// The code that enabled the factor is spent: same step, refused.
	expect(t, ts.tryLogin(alice.Email, testPassword, totpCode(t, setup.Secret, clock, 0)), http.StatusUnauthorized, api.CodeInvalidCredentials)

	// Next step: a fresh code signs in, with a cookie, once.
	clock.Advance(30 * time.Second)
	fresh := totpCode(t, setup.Secret, clock, 0)
	var login api.LoginResponse
	resp = ts.do(http.MethodPost, "/api/auth/login", nil, api.LoginRequest{Email: alice.Email, Password: testPassword, OTP: fresh}, &login)
	expect(t, resp, http.StatusOK, "")
	// The session cookie and the CSRF cookie that goes with it.
	if cks := resp.Cookies(); len(cks) != 2 || cks[0].Name != cookieName || cks[1].Name != csrfCookieName {
		t.Fatalf("login with code set cookies %q", resp.Header.Values("Set-Cookie"))
	}
	if cl, err := ts.lookupCaller(context.Background(), login.Token, store.DocRef{}); err != nil || !cl.session.MFA {
		t.Fatalf("session of a login with a code: err %v; want it to prove the second factor", err)
	}
	expect(t, ts.tryLogin(alice.Email, testPassword, fresh), http.StatusUnauthorized, api.CodeInvalidCredentials)

	// Skew: one step either side is accepted, two are not. The refusals
	// come first, while no recent step is spent, so that only skew refuses.
	clock.Advance(5 * 30 * time.Second)
	for _, steps := range []int{-2, 2} {
		expect(t, ts.tryLogin(alice.Email, testPassword, totpCode(t, setup.Secret, clock, steps)), http.StatusUnauthorized, api.CodeInvalidCredentials)
	}
	ts.loginWithCode(alice.Email, totpCode(t, setup.Secret, clock, +1))
	clock.Advance(3 * 30 * time.Second)
	ts.loginWithCode(alice.Email, totpCode(t, setup.Secret, clock, -1))

	// Disable needs one proof: a wrong code is refused, a current one works.
	clock.Advance(30 * time.Second)
	for _, in := range []api.MFADisableRequest{{}, {OTP: "111111", Password: testPassword}} {
		expect(t, ts.do(http.MethodDelete, "/api/auth/mfa", &alice, in, nil), http.StatusBadRequest, api.CodeInvalidInput)
	}
	expect(t, ts.do(http.MethodDelete, "/api/auth/mfa", &alice, api.MFADisableRequest{OTP: totpCode(t, setup.Secret, clock, 3)}, nil),
		http.StatusUnauthorized, api.CodeInvalidCredentials)
	expect(t, ts.do(http.MethodDelete, "/api/auth/mfa", &alice, api.MFADisableRequest{OTP: totpCode(t, setup.Secret, clock, 0)}, nil),
		http.StatusNoContent, "")
	if m := ts.storedUser(alice.ID).MFA; m != (store.MFA{}) {
		t.Fatalf("after disable MFA is enabled=%v, want nothing stored", m.Enabled)
	}
	expect(t, ts.do(http.MethodDelete, "/api/auth/mfa", &alice, api.MFADisableRequest{Password: testPassword}, nil),
		http.StatusConflict, api.CodeConflict)
	ts.login(alice.Email, testPassword)

	// Every refused code is in the auth-failure log and the audit log; the
	// secret is in neither, nor anywhere in the server log.
	wantReasons := []string{
		"bad_password",        // enable with a wrong password
		"bad_otp",             // enable with 000000
		"unauthorized",        // the session ended by enable
		"mfa_required",        // login without a code
		"bad_otp",             // login with 123
		"invalid_credentials", // wrong password
		"bad_otp", "bad_otp",  // the spent enabling code, the replayed login code
		"bad_otp", "bad_otp", // skew -2, +2
		"bad_otp", // disable with a wrong code
	}
	if got := ts.failureReasons(); !slices.Equal(got, wantReasons) {
		t.Errorf("auth-failure reasons %q, want %q", got, wantReasons)
	}
	recs := ts.auditLog()
	// Every account's trail starts with its creation.
	wantActions := []string{"user.create", "mfa.fail", "mfa.fail", "mfa.enable", "mfa.fail", "mfa.fail", "mfa.fail", "mfa.fail", "mfa.fail", "mfa.fail", "mfa.disable"}
	if got := auditActions(recs, alice.Subject()); !slices.Equal(got, wantActions) {
		t.Errorf("audit actions %q, want %q", got, wantActions)
	}
	for _, r := range recs {
		if strings.Contains(string(r.Before)+string(r.After), setup.Secret) {
			t.Errorf("audit record %s holds the TOTP secret", r.Action)
		}
	}
	if strings.Contains(ts.logs.String(), setup.Secret) {
		t.Error("the server log holds the TOTP secret")
	}
}

// TestMFADisableWithPassword: someone who lost the app but has a session
// turns the factor off with the password; a wrong password is refused and
// recorded.
func TestMFADisableWithPassword(t *testing.T) {
	t.Parallel()
	ts, clock := newClockedServer(t)
	bob := ts.mustUser([]string{"user"})
	ts.mustEnableMFA(bob, clock)

	expect(t, ts.do(http.MethodDelete, "/api/auth/mfa", &bob, api.MFADisableRequest{Password: "not the password"}, nil),
		http.StatusUnauthorized, api.CodeInvalidCredentials)
	if !ts.storedUser(bob.ID).MFA.Enabled {
		t.Fatal("a wrong password turned the second factor off")
	}
	expect(t, ts.do(http.MethodDelete, "/api/auth/mfa", &bob, api.MFADisableRequest{Password: testPassword}, nil),
		http.StatusNoContent, "")
	ts.login(bob.Email, testPassword)

	if got, want := ts.failureReasons(), []string{"bad_password"}; !slices.Equal(got, want) {
		t.Errorf("auth-failure reasons %q, want %q", got, want)
	}
	want := []string{"user.create", "mfa.enable", "mfa.fail", "mfa.disable"}
	if got := auditActions(ts.auditLog(), bob.Subject()); !slices.Equal(got, want) {
		t.Errorf("audit actions %q, want %q", got, want)
	}
}

// replaceRule swaps one rule for another in one policy change, as an admin
// would through the policy API.
func (ts *testServer) replaceRule(from, to []string) {
	ts.t.Helper()
	err := ts.authz.Mutate(context.Background(), func(tx store.Tx) error {
		r, err := tx.Rules().Find("p", from)
		if err != nil {
			return err
		}
		if _, err := tx.Rules().Remove(r.ID); err != nil {
			return err
		}
		_, err = ts.authz.AddRule(tx, "p", to)
		return err
	})
	if err != nil {
		ts.t.Fatal(err)
	}
}

// TestMFAStepUpByPolicy: a rule's mfa condition makes a route need a
// session signed in with the second factor (403 mfa_required otherwise),
// totp makes it need one from everyone, and a policy change lifts the
// requirement on the next request, without a restart or a new login.
func TestMFAStepUpByPolicy(t *testing.T) {
	t.Parallel()
	ts, clock := newClockedServer(t)
	carol := ts.mustUser([]string{"user"})
	route := "/api/admin/users/" + store.FormatID(carol.ID) + "/mfa"
	broad := []string{"role:admin", "/api/admin/users/:id/mfa", "DELETE", "*"}
	withMFA := []string{"role:admin", "/api/admin/users/:id/mfa", "DELETE", "mfa"} // the seed rule
	withTOTP := []string{"role:admin", "/api/admin/users/:id/mfa", "DELETE", "totp"}

	passwordOnly := ts.admin
	// An admin without a second factor is not asked for one under mfa...
	expect(t, ts.do(http.MethodDelete, route, &passwordOnly, nil, nil), http.StatusNoContent, "")
	// ...but is under totp, and cannot get past it.
	ts.replaceRule(withMFA, withTOTP)
	expect(t, ts.do(http.MethodDelete, route, &passwordOnly, nil, nil), http.StatusForbidden, api.CodeMFARequired)
	ts.replaceRule(withTOTP, withMFA)

	// The admin enables the factor: the enabling session stays
	// password-only; a login with a code proves it, a token never does.
	secret := ts.mustEnableMFA(passwordOnly, clock)
	withCode := ts.loginWithCode(ts.admin.Email, totpCode(t, secret, clock, 0))
	var tok api.CreatedToken
	expect(t, ts.do(http.MethodPost, "/api/auth/tokens", &withCode, api.CreateTokenRequest{Password: testPassword, Name: "ci"}, &tok), http.StatusCreated, "")

	expect(t, ts.do(http.MethodDelete, route, &passwordOnly, nil, nil), http.StatusForbidden, api.CodeMFARequired)
	expect(t, ts.do(http.MethodDelete, route, asToken(tok.Secret), nil, nil), http.StatusForbidden, api.CodeMFARequired)
	expect(t, ts.do(http.MethodDelete, route, &withCode, nil, nil), http.StatusNoContent, "")

	// Lift the requirement: the very next request passes. A personal
	// token still may not reset a second factor, whatever the policy says.
	ts.replaceRule(withMFA, broad)
	expect(t, ts.do(http.MethodDelete, route, &passwordOnly, nil, nil), http.StatusNoContent, "")
	expect(t, ts.do(http.MethodDelete, route, asToken(tok.Secret), nil, nil), http.StatusForbidden, api.CodeForbidden)

	// The seed policy asks it of admins who have a second factor on the
	// policy routes.
	for _, mfa := range []string{rbac.MFAMissing, rbac.MFAVerified, rbac.MFANone} {
		d := ts.authz.Decide(rbac.Request{Sub: ts.admin.Subject(), Obj: "/api/admin/policies", Act: http.MethodGet, MFA: mfa})
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
	step := now.Unix() / access.TOTPPeriod
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
			if got := access.MatchTOTP(tt.secret, tt.code, now, tt.lastStep); got != tt.want {
				t.Errorf("matchTOTP = %d, want %d", got, tt.want)
			}
		})
	}
}

func totpCodeAt(secret string, step int64) (string, error) {
	return totp.GenerateCodeCustom(secret, time.Unix(step*access.TOTPPeriod, 0), access.TOTPOptions)
}

// BenchmarkMatchTOTP is the cost of checking a code: three HMACs at most.
func BenchmarkMatchTOTP(b *testing.B) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Date(2031, 3, 4, 12, 0, 10, 0, time.UTC)
	code, err := totpCodeAt(secret, now.Unix()/access.TOTPPeriod+1)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if access.MatchTOTP(secret, code, now, 0) == 0 {
			b.Fatal("no match")
		}
	}
}
