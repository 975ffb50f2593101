package app

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// mustToken gives u a personal API token straight in the store and returns
// a caller presenting it.
func (ts *testServer) mustToken(u testUser) *testUser {
	ts.t.Helper()
	secret, hash := newSecret(tokenPrefix)
	err := ts.db.Update(context.Background(), func(tx store.Tx) error {
		return tx.Sessions().Create(&store.Session{UserID: u.ID, Kind: store.KindToken, Name: "script", CreatedAt: time.Now()}, hash)
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	return &testUser{ID: u.ID, Email: u.Email, Token: secret}
}

// TestStepUpCannotBeSwitchedOff performs the attack: an admin's credential
// that has not proven the admin's second factor (a personal token, or a
// session signed in with the password alone) tries to reset that factor,
// or to make an admin without one, by every route that grants the role.
// Each is refused with 403 mfa_required, because the policy decides it as
// the policy change it is; the same admin signed in with the factor may do
// all of it; and when the policy drops the condition, so does the refusal.
func TestStepUpCannotBeSwitchedOff(t *testing.T) {
	t.Parallel()
	ts, clock := newClockedServer(t)
	mallory := ts.mustUser([]string{"admin"})
	secret := ts.mustEnableMFA(mallory, clock)
	passwordOnly := mallory // the session that turned the factor on proved only the password
	verified := ts.loginWithCode(mallory.Email, totpCode(t, secret, clock, 0))
	token := ts.mustToken(mallory)
	erin := ts.mustUser([]string{"user"})
	ops := ts.mustUser([]string{"admin"})
	expect(t, ts.do(http.MethodPatch, "/api/admin/users/"+itoa(int64(ops.ID)), &ts.admin, api.UpdateUserRequest{Disabled: ptr(true)}, nil), http.StatusOK, "")
	expect(t, ts.do(http.MethodPost, "/api/admin/groups", &ts.admin, api.CreateGroupRequest{Name: "root", Roles: []string{"admin"}}, nil), http.StatusCreated, "")

	erinPath := "/api/admin/users/" + itoa(int64(erin.ID))
	attacks := []struct {
		name         string
		method, path string
		body         any
	}{
		{"backup", http.MethodGet, "/api/admin/backup", nil},
		{"reset own second factor", http.MethodDelete, "/api/admin/users/" + itoa(int64(mallory.ID)) + "/mfa", nil},
		{"create an admin", http.MethodPost, "/api/admin/users", api.CreateUserRequest{Email: "sock@example.com", Password: testPassword, Roles: []string{"admin"}}},
		{"give a user the admin role", http.MethodPatch, erinPath, api.UpdateUserRequest{Roles: &[]string{"user", "admin"}}},
		{"put a user in a group holding admin", http.MethodPatch, erinPath, api.UpdateUserRequest{Groups: &[]string{"root"}}},
		{"membership route into that group", http.MethodPut, "/api/admin/groups/root/members/" + itoa(int64(erin.ID)), nil},
		{"give a group with members the admin role", http.MethodPatch, "/api/admin/groups/staff", api.UpdateGroupRequest{Roles: &[]string{"editor", "admin"}}},
		{"re-enable a disabled admin", http.MethodPatch, "/api/admin/users/" + itoa(int64(ops.ID)), api.UpdateUserRequest{Disabled: ptr(false)}},
		{"a g rule", http.MethodPost, "/api/admin/policies", api.RuleInput{Type: "g", Rule: []string{erin.Subject(), "role:admin"}}},
		{"an import", http.MethodPost, "/api/admin/policies/import", api.PolicyImport{CSV: "g, " + erin.Subject() + ", role:admin\n"}},
	}
	// staff needs a member for its role to make anyone an admin.
	expect(t, ts.do(http.MethodPut, "/api/admin/groups/staff/members/"+itoa(int64(erin.ID)), &ts.admin, nil, nil), http.StatusNoContent, "")
	for _, cred := range []struct {
		name string
		u    *testUser
	}{{"token", token}, {"password-only session", &passwordOnly}} {
		for _, a := range attacks {
			t.Run(cred.name+"/"+a.name, func(t *testing.T) {
				expect(t, ts.do(a.method, a.path, cred.u, a.body, nil), http.StatusForbidden, api.CodeMFARequired)
			})
		}
	}
	if ts.storedUser(mallory.ID).MFA.Enabled != true {
		t.Fatal("the second factor was reset")
	}
	var found api.List[api.User]
	expect(t, ts.do(http.MethodGet, "/api/admin/users?q=sock", &ts.admin, nil, &found), http.StatusOK, "")
	if len(found.Items) != 0 {
		t.Fatalf("a refused create left %v", found.Items)
	}
	var e api.User
	expect(t, ts.do(http.MethodGet, erinPath, &ts.admin, nil, &e), http.StatusOK, "")
	if len(e.Roles) != 1 || len(e.Groups) != 1 || e.Groups[0] != "staff" {
		t.Fatalf("erin after the refused grants: roles %v groups %v", e.Roles, e.Groups)
	}

	// Changes that grant no admin role need no factor.
	expect(t, ts.do(http.MethodPatch, erinPath, token, api.UpdateUserRequest{Roles: &[]string{"user", "editor"}}, nil), http.StatusOK, "")
	expect(t, ts.do(http.MethodPatch, "/api/admin/groups/root", &passwordOnly, api.UpdateGroupRequest{Description: ptr("break glass")}, nil), http.StatusOK, "")

	// Credential routes refuse personal tokens whatever the policy says.
	adminToken := ts.mustToken(ts.admin)
	expect(t, ts.do(http.MethodPatch, erinPath, adminToken, api.UpdateUserRequest{Password: ptr("a brand new password")}, nil), http.StatusForbidden, api.CodeForbidden)
	expect(t, ts.do(http.MethodDelete, erinPath+"/mfa", adminToken, nil, nil), http.StatusForbidden, api.CodeForbidden)
	expect(t, ts.do(http.MethodPatch, "/api/auth/me", adminToken, api.UpdateMeRequest{Password: ptr("a brand new password"), CurrentPassword: ptr(testPassword)}, nil), http.StatusForbidden, api.CodeForbidden)

	// With the factor proven, the same admin may.
	expect(t, ts.do(http.MethodPatch, erinPath, &verified, api.UpdateUserRequest{Roles: &[]string{"user", "admin"}}, nil), http.StatusOK, "")
	expect(t, ts.do(http.MethodPost, "/api/admin/users", &verified, api.CreateUserRequest{Email: "sock@example.com", Password: testPassword, Roles: []string{"admin"}}, nil), http.StatusCreated, "")

	// The policy decides: without the condition on the policy routes, a
	// token may grant the role too.
	ts.replaceRule([]string{"role:admin", "/api/admin/policies*", "*", "mfa"}, []string{"role:admin", "/api/admin/policies*", "*", "*"})
	expect(t, ts.do(http.MethodPatch, "/api/admin/users/"+itoa(int64(ops.ID)), token, api.UpdateUserRequest{Disabled: ptr(false)}, nil), http.StatusOK, "")
}

// TestStepUpCoversEveryPolicyManager: the step-up counts who may manage the
// policy as the last-admin guard does, not who holds role:admin. Under a
// custom rule that lets role:ops2 manage the policy, a session that has not
// proven its second factor may neither give that role, nor set the password
// of (or re-enable) someone who may manage the policy; it may still do both
// to users who may not, and the same admin with the factor proven may do all.
func TestStepUpCoversEveryPolicyManager(t *testing.T) {
	t.Parallel()
	ts, clock := newClockedServer(t)
	expect(t, ts.do(http.MethodPost, "/api/admin/policies", &ts.admin,
		api.RuleInput{Type: "p", Rule: []string{"role:ops2", "/api/admin/policies*", "*", "*"}}, nil), http.StatusCreated, "")
	mallory := ts.mustUser([]string{"admin"})
	secret := ts.mustEnableMFA(mallory, clock)
	passwordOnly := mallory
	verified := ts.loginWithCode(mallory.Email, totpCode(t, secret, clock, 0))
	erin := ts.mustUser([]string{"user"})
	ops := ts.mustUser([]string{"ops2"})
	other := ts.mustUser([]string{"admin"})
	erinPath := "/api/admin/users/" + itoa(int64(erin.ID))
	opsPath := "/api/admin/users/" + itoa(int64(ops.ID))
	otherPath := "/api/admin/users/" + itoa(int64(other.ID))

	// Giving the role that manages the policy, by either route.
	expect(t, ts.do(http.MethodPut, erinPath+"/roles/ops2", &passwordOnly, nil, nil), http.StatusForbidden, api.CodeMFARequired)
	expect(t, ts.do(http.MethodPatch, erinPath, &passwordOnly, api.UpdateUserRequest{Roles: &[]string{"user", "ops2"}}, nil), http.StatusForbidden, api.CodeMFARequired)
	var e api.User
	expect(t, ts.do(http.MethodGet, erinPath, &ts.admin, nil, &e), http.StatusOK, "")
	if len(e.Roles) != 1 || e.Roles[0] != "user" {
		t.Fatalf("erin after the refused grants: roles %v", e.Roles)
	}

	// Setting the password of someone who may manage the policy, by a
	// custom role or by role:admin, or re-enabling them.
	expect(t, ts.do(http.MethodPatch, opsPath, &passwordOnly, api.UpdateUserRequest{Password: ptr("a password mallory knows")}, nil), http.StatusForbidden, api.CodeMFARequired)
	expect(t, ts.do(http.MethodPatch, otherPath, &passwordOnly, api.UpdateUserRequest{Password: ptr("a password mallory knows")}, nil), http.StatusForbidden, api.CodeMFARequired)
	expect(t, ts.do(http.MethodPost, "/api/auth/login", nil, api.LoginRequest{Email: ops.Email, Password: "a password mallory knows"}, nil), http.StatusUnauthorized, api.CodeInvalidCredentials)
	expect(t, ts.do(http.MethodPatch, opsPath, &ts.admin, api.UpdateUserRequest{Disabled: ptr(true)}, nil), http.StatusOK, "")
	expect(t, ts.do(http.MethodPatch, opsPath, &passwordOnly, api.UpdateUserRequest{Disabled: ptr(false)}, nil), http.StatusForbidden, api.CodeMFARequired)

	// Users who may not manage the policy need no factor; with it, all of
	// the above is allowed.
	expect(t, ts.do(http.MethodPatch, erinPath, &passwordOnly, api.UpdateUserRequest{Password: ptr("a brand new password")}, nil), http.StatusOK, "")
	expect(t, ts.do(http.MethodPatch, opsPath, &verified, api.UpdateUserRequest{Disabled: ptr(false)}, nil), http.StatusOK, "")
	expect(t, ts.do(http.MethodPatch, opsPath, &verified, api.UpdateUserRequest{Password: ptr("a brand new password")}, nil), http.StatusOK, "")
	expect(t, ts.do(http.MethodPut, erinPath+"/roles/ops2", &verified, nil, nil), http.StatusOK, "")
}
