package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// mustSignedInUser creates a user with testPassword and the role user, and
// a login session straight through the server (no login counted); it
// returns the user and the session's secret.
func mustSignedInUser(t *testing.T, srv *Server, email string) (store.User, string) {
	t.Helper()
	u := mustPasswordUser(t, srv, email, "user")
	secret, _, err := srv.startSession(context.Background(), u, false)
	if err != nil {
		t.Fatal(err)
	}
	return u, secret
}

// auditRecordsOf reads the audit log, newest first.
func auditRecordsOf(t *testing.T, db store.Store) []store.AuditRecord {
	t.Helper()
	var out []store.AuditRecord
	err := db.View(context.Background(), func(tx store.Tx) error {
		recs, _, err := tx.Audit().List(store.Page{Limit: 1000})
		out = recs
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPasswordGuessingThroughMe performs the attack: a stolen session
// guesses the account's password through PATCH /api/auth/me. Each wrong
// current_password is 401 invalid_credentials, recorded as bad_password,
// and counts against the login budget of the address and of the email: the
// eleventh guess (the seed limit is 10 a minute) is 429, from another
// address too, right password or not. A password changed by its owner is
// in the audit log.
func TestPasswordGuessingThroughMe(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	_, session := mustSignedInUser(t, ls.srv, "erin@example.com")
	guess := func(ip, current string) answer {
		return ls.do(t, request{method: http.MethodPatch, path: "/api/auth/me", headers: []string{bearer(session), xff(ip)},
			body: `{"password":"a brand new password","current_password":"` + current + `"}`})
	}
	for i := range 10 {
		a := guess("192.0.2.7", "wrong guess number "+itoa(int64(i)))
		wantError(t, a, http.StatusUnauthorized, api.CodeInvalidCredentials)
	}
	wantError(t, guess("192.0.2.7", "wrong guess number 10"), http.StatusTooManyRequests, api.CodeRateLimited)
	// The email's budget is spent too: another address gets no more tries.
	wantError(t, guess("192.0.2.8", testPassword), http.StatusTooManyRequests, api.CodeRateLimited)

	ls.flush(t)
	bad := 0
	for _, f := range ls.failures(t, "192.0.2.7") {
		if f.Reason == failBadPassword && f.Route == "/api/auth/me" {
			bad += f.Count
		}
	}
	if bad != 10 {
		t.Fatalf("%d bad_password failures recorded, want 10", bad)
	}

	// The owner changes the password: audited, without the password.
	u, own := mustSignedInUser(t, ls.srv, "fay@example.com")
	a := ls.do(t, request{method: http.MethodPatch, path: "/api/auth/me", headers: []string{bearer(own), xff("192.0.2.9")},
		body: `{"password":"a brand new password","current_password":"` + testPassword + `"}`})
	wantStatus(t, a, http.StatusOK)
	var found *store.AuditRecord
	for _, r := range auditRecordsOf(t, ls.db) {
		if r.Action == "password.change" && r.Target == rbac.UserSubject(u.ID) {
			found = &r
		}
	}
	if found == nil || found.ActorID != u.ID {
		t.Fatalf("no password.change audit record by the owner: %+v", found)
	}
	var after map[string]any
	if err := json.Unmarshal(found.After, &after); err != nil || after["by"] != "self" {
		t.Fatalf("audit after %s (%v)", found.After, err)
	}
}

// TestRegistrationAudited: self-registration writes an audit record whose
// actor is the new account, without the password.
func TestRegistrationAudited(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	a := ls.do(t, request{method: http.MethodPost, path: "/api/auth/register", headers: []string{xff("192.0.2.30")},
		body: `{"email":"new@example.com","name":"New","password":"` + testPassword + `"}`})
	wantStatus(t, a, http.StatusCreated)
	var u api.User
	if err := json.Unmarshal(a.body, &u); err != nil {
		t.Fatal(err)
	}
	var found *store.AuditRecord
	for _, r := range auditRecordsOf(t, ls.db) {
		if r.Action == "user.register" {
			found = &r
		}
	}
	if found == nil || store.FormatID(found.ActorID) != u.ID || found.Target != "user:"+u.ID || found.Actor != "new@example.com" {
		t.Fatalf("user.register record %+v, want one by and on user %s", found, u.ID)
	}
	if strings.Contains(string(found.After), testPassword) || strings.Contains(string(found.After), "argon2") {
		t.Fatalf("the audit record holds the password or its hash: %s", found.After)
	}
}
