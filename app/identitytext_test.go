package app

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
)

// TestIdentityTextRefused performs the attacks on identity text: names and
// emails with C0 and C1 controls, format characters and text-direction
// overrides are refused with 400 invalid_input naming the field, through
// sign-up, the admin's user and group routes and the caller's own name;
// and a Kelvin sign look-alike of an existing address is that address
// (409 on sign-up, and it signs in to the real account, not a second one).
func TestIdentityTextRefused(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	_, admin := mustUser(t, ls.srv, "root@example.com", "admin")
	_, session := mustUser(t, ls.srv, "erin@example.com", "user")
	bad := map[string]string{
		"C1 CSI":         "\u009b31m",
		"C0 escape":      "\u001b[2J",
		"RLO override":   "abc\u202Egpj",
		"LRI isolate":    "a\u2066b",
		"zero width":     "a\u200Bb",
		"byte order":     "\uFEFFa",
		"line separator": "a\u2028b",
	}
	for name, text := range bad {
		q, _ := json.Marshal(text)
		s := string(q)
		cases := []struct {
			method, path, body, field string
			headers                   []string
		}{
			{http.MethodPost, "/api/auth/register", `{"email":"x` + s[1:len(s)-1] + `@example.com","name":"X","password":"` + testPassword + `"}`, "email", []string{xff("192.0.2.50")}},
			{http.MethodPost, "/api/auth/register", `{"email":"ok@example.com","name":` + s + `,"password":"` + testPassword + `"}`, "name", []string{xff("192.0.2.51")}},
			{http.MethodPost, "/api/admin/users", `{"email":"y` + s[1:len(s)-1] + `@example.com","password":"` + testPassword + `"}`, "email", []string{bearer(admin)}},
			{http.MethodPost, "/api/admin/users", `{"email":"ok2@example.com","name":` + s + `,"password":"` + testPassword + `"}`, "name", []string{bearer(admin)}},
			{http.MethodPatch, "/api/admin/users/2", `{"name":` + s + `}`, "name", []string{bearer(admin)}},
			{http.MethodPatch, "/api/auth/me", `{"name":` + s + `}`, "name", []string{bearer(session)}},
			{http.MethodPost, "/api/admin/groups", `{"name":"ops","description":` + s + `}`, "description", []string{bearer(admin)}},
		}
		for _, c := range cases {
			a := ls.do(t, request{method: c.method, path: c.path, body: c.body, headers: c.headers})
			wantError(t, a, http.StatusBadRequest, api.CodeInvalidInput)
			if a.err.Details[c.field] == "" {
				t.Errorf("%s in %s %s: details %v, want one about %s", name, c.method, c.path, a.err.Details, c.field)
			}
		}
	}

	// The Kelvin sign K (U+212A) is a look-alike of K: one address.
	kate := ls.do(t, request{method: http.MethodPost, path: "/api/auth/register", headers: []string{xff("192.0.2.52")},
		body: `{"email":"kate@example.com","name":"Kate","password":"` + testPassword + `"}`})
	wantStatus(t, kate, http.StatusCreated)
	a := ls.do(t, request{method: http.MethodPost, path: "/api/auth/register", headers: []string{xff("192.0.2.53")},
		body: `{"email":"\u212Aate@example.com","name":"Not Kate","password":"another password here"}`})
	wantError(t, a, http.StatusConflict, api.CodeConflict)
	a = ls.do(t, request{method: http.MethodPost, path: "/api/auth/register", headers: []string{xff("192.0.2.54")},
		body: `{"email":"\uFF4Ba\uFF54e@example.com","name":"Full width","password":"another password here"}`})
	wantError(t, a, http.StatusConflict, api.CodeConflict)
	// A look-alike first: it is stored as the plain address it stands for.
	a = ls.do(t, request{method: http.MethodPost, path: "/api/auth/register", headers: []string{xff("192.0.2.55")},
		body: `{"email":"\u212Aim@example.com","name":"Kim","password":"` + testPassword + `"}`})
	wantStatus(t, a, http.StatusCreated)
	var kim api.User
	if err := json.Unmarshal(a.body, &kim); err != nil || kim.Email != "Kim@example.com" {
		t.Fatalf("stored email %q (%v), want Kim@example.com", kim.Email, err)
	}
	a = ls.do(t, request{method: http.MethodPost, path: "/api/auth/login", headers: []string{xff("192.0.2.56")},
		body: `{"email":"kim@example.com","password":"` + testPassword + `"}`})
	wantStatus(t, a, http.StatusOK)
}
