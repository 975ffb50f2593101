package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// TestAdminMFAReset: an admin turns off a user's second factor; the user's
// login sessions end (the one that proved the lost factor too), their
// tokens stay, the password alone signs in again, and the audit log says
// who did it without any secret. Only admins may.
func TestAdminMFAReset(t *testing.T) {
	t.Parallel()
	ts, clock := newClockedServer(t)
	erin := ts.mustUser([]string{"user"})
	secret := ts.mustEnableMFA(erin, clock)
	verified := ts.loginWithCode(erin.Email, totpCode(t, secret, clock, 0))
	var tok api.CreatedToken
	expect(t, ts.do(http.MethodPost, "/api/auth/tokens", &verified, api.CreateTokenRequest{Password: testPassword, Name: "backup job"}, &tok), http.StatusCreated, "")
	route := "/api/admin/users/" + store.FormatID(erin.ID) + "/mfa"

	expect(t, ts.do(http.MethodDelete, route, &verified, nil, nil), http.StatusForbidden, api.CodeForbidden)
	expect(t, ts.do(http.MethodDelete, route, nil, nil, nil), http.StatusUnauthorized, api.CodeUnauthorized)
	expect(t, ts.do(http.MethodDelete, "/api/admin/users/999/mfa", &ts.admin, nil, nil), http.StatusNotFound, api.CodeNotFound)
	expect(t, ts.do(http.MethodDelete, "/api/admin/users/x/mfa", &ts.admin, nil, nil), http.StatusNotFound, api.CodeNotFound)

	expect(t, ts.do(http.MethodDelete, route, &ts.admin, nil, nil), http.StatusNoContent, "")
	if m := ts.storedUser(erin.ID).MFA; m != (store.MFA{}) {
		t.Fatalf("after reset MFA is enabled=%v, want nothing stored", m.Enabled)
	}
	for _, u := range []testUser{erin, verified} {
		expect(t, ts.do(http.MethodGet, "/api/auth/me", &u, nil, nil), http.StatusUnauthorized, api.CodeUnauthorized)
	}
	expect(t, ts.do(http.MethodGet, "/api/auth/me", asToken(tok.Secret), nil, nil), http.StatusOK, "")
	expect(t, ts.do(http.MethodGet, "/api/auth/me", &ts.admin, nil, nil), http.StatusOK, "")
	ts.login(erin.Email, testPassword)

	var reset *store.AuditRecord
	recs := ts.auditLog()
	for i, r := range recs {
		if strings.Contains(string(r.Before)+string(r.After), secret) {
			t.Errorf("audit record %s holds the TOTP secret", r.Action)
		}
		if r.Action == "mfa.reset" {
			reset = &recs[i]
		}
	}
	if reset == nil || reset.ActorID != ts.admin.ID || reset.Target != erin.Subject() {
		t.Fatalf("mfa.reset audit record %+v, want by the admin on %s", reset, erin.Subject())
	}
	var before, after map[string]any
	if err := json.Unmarshal(reset.Before, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(reset.After, &after); err != nil {
		t.Fatal(err)
	}
	if before["mfa_enabled"] != true || after["mfa_enabled"] != false {
		t.Fatalf("mfa.reset before %v after %v", before, after)
	}
}
