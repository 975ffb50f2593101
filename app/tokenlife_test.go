package app

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// TestTokenNeedsPasswordAndEndsWithRecovery performs the attacks on
// personal tokens: a stolen session tries to mint a token with no password
// (400) and by guessing it (401 bad_password, counted like a login: the
// eleventh guess is 429); and a token minted while the account was in the
// wrong hands must stop, with every session, when an admin sets a new
// password.
func TestTokenNeedsPasswordAndEndsWithRecovery(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	_, admin := mustUser(t, ls.srv, "root@example.com", "admin")
	u, session := mustSignedInUser(t, ls.srv, "erin@example.com")
	mint := func(ip, body string) answer {
		return ls.do(t, request{method: http.MethodPost, path: "/api/auth/tokens", headers: []string{bearer(session), xff(ip)}, body: body})
	}

	a := mint("192.0.2.20", `{"name":"loot"}`)
	wantError(t, a, http.StatusBadRequest, api.CodeInvalidInput)
	if _, ok := a.err.Details["password"]; !ok || len(a.err.Details) != 1 {
		t.Fatalf("details %v, want one about password", a.err.Details)
	}
	a = mint("192.0.2.20", `{"name":"kept","password":"`+testPassword+`"}`)
	wantStatus(t, a, http.StatusCreated)
	var tok api.CreatedToken
	if err := json.Unmarshal(a.body, &tok); err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		wantError(t, mint("192.0.2.21", `{"name":"loot","password":"guess `+itoa(int64(i))+`"}`), http.StatusUnauthorized, api.CodeInvalidCredentials)
	}
	// The right password no longer helps: the email's budget is spent.
	wantError(t, mint("192.0.2.22", `{"name":"loot","password":"`+testPassword+`"}`), http.StatusTooManyRequests, api.CodeRateLimited)
	ls.flush(t)
	bad := 0
	for _, f := range ls.failures(t, "192.0.2.21") {
		if f.Reason == failBadPassword {
			bad += f.Count
		}
	}
	if bad != 9 {
		t.Fatalf("%d bad_password failures recorded, want 9", bad)
	}

	me := func(secret string) answer {
		return ls.do(t, request{path: "/api/auth/me", headers: []string{bearer(secret)}})
	}
	wantStatus(t, me(tok.Secret), http.StatusOK)
	// Changing anything else keeps tokens; a password set by an admin ends them.
	a = ls.do(t, request{method: http.MethodPatch, path: "/api/admin/users/" + store.FormatID(u.ID), headers: []string{bearer(admin)}, body: `{"name":"Erin"}`})
	wantStatus(t, a, http.StatusOK)
	wantStatus(t, me(tok.Secret), http.StatusOK)
	a = ls.do(t, request{method: http.MethodPatch, path: "/api/admin/users/" + store.FormatID(u.ID), headers: []string{bearer(admin)}, body: `{"password":"recovered password here"}`})
	wantStatus(t, a, http.StatusOK)
	wantError(t, me(tok.Secret), http.StatusUnauthorized, api.CodeUnauthorized)
	wantError(t, me(session), http.StatusUnauthorized, api.CodeUnauthorized)
}
