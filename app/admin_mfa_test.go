package app

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// TestAdminMFAReset: an admin turns off a user's second factor; the user's
// login sessions end (the one that proved the lost factor too), their
// tokens stay, the password alone signs in again, and the audit log says
// who did it without any secret. Only admins may.
func TestAdminMFAReset(t *testing.T) {
	t.Parallel()
	e := newCredEnv(t)
	const email = "erin@example.com"
	erin := e.mustCreateUser(t, email, "user")
	session := e.login(t, email, "")
	secret := e.mustEnableMFA(t, session)
	verified := e.login(t, email, e.code(t, secret, 0))
	var tok api.CreatedToken
	e.call(t, http.MethodPost, "/api/auth/tokens", verified, api.CreateTokenRequest{Name: "backup job"}).
		want(t, http.StatusCreated, &tok)
	admin := e.login(t, testAdminEmail, "")
	route := "/api/admin/users/" + store.FormatID(erin) + "/mfa"

	e.call(t, http.MethodDelete, route, verified, nil).wantError(t, http.StatusForbidden, api.CodeForbidden)
	e.call(t, http.MethodDelete, route, "", nil).wantError(t, http.StatusUnauthorized, api.CodeUnauthorized)
	e.call(t, http.MethodDelete, "/api/admin/users/999/mfa", admin, nil).wantError(t, http.StatusNotFound, api.CodeNotFound)
	e.call(t, http.MethodDelete, "/api/admin/users/x/mfa", admin, nil).wantError(t, http.StatusNotFound, api.CodeNotFound)

	e.call(t, http.MethodDelete, route, admin, nil).want(t, http.StatusNoContent, nil)
	if u := e.mustUser(t, email); u.MFA != (store.MFA{}) {
		t.Fatalf("after reset MFA is %+v, want nothing", u.MFA)
	}
	for _, s := range []string{session, verified} {
		e.call(t, http.MethodGet, "/api/auth/me", s, nil).wantError(t, http.StatusUnauthorized, api.CodeUnauthorized)
	}
	e.call(t, http.MethodGet, "/api/auth/me", tok.Secret, nil).want(t, http.StatusOK, nil)
	e.call(t, http.MethodGet, "/api/auth/me", admin, nil).want(t, http.StatusOK, nil)
	e.login(t, email, "")

	var reset *store.AuditRecord
	recs := e.audit(t)
	for i, r := range recs {
		if strings.Contains(string(r.Before)+string(r.After), secret) {
			t.Errorf("audit record %s holds the TOTP secret", r.Action)
		}
		if r.Action == "mfa.reset" {
			reset = &recs[i]
		}
	}
	if reset == nil || reset.ActorID != e.adminID || reset.Target != rbac.UserSubject(erin) {
		t.Fatalf("mfa.reset audit record %+v, want by the admin on user %d", reset, erin)
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
