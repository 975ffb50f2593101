package app

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// TestRulesNameOnlyExistingUsers performs the attack: an admin adds
// g, user:<next id>, role:admin for a user who does not exist yet, and
// whoever signs up next would be an admin. The rule is refused (400
// invalid_input with details) through the rule route and an import, the
// next sign-up is a plain user, and deleting a user takes their rules.
func TestRulesNameOnlyExistingUsers(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	_, admin := mustUser(t, ls.srv, "root@example.com", "admin")
	next := "user:2" // root is user 1

	a := ls.do(t, request{method: http.MethodPost, path: "/api/admin/policies", headers: []string{bearer(admin)},
		body: `{"type":"g","rule":["` + next + `","role:admin"]}`})
	wantError(t, a, http.StatusBadRequest, api.CodeInvalidInput)
	if !strings.Contains(a.err.Details["rule"], next) {
		t.Fatalf("details %v, want one naming %s", a.err.Details, next)
	}
	a = ls.do(t, request{method: http.MethodPost, path: "/api/admin/policies/import", headers: []string{bearer(admin)},
		body: `{"csv":"p, role:user, /api/health, GET, *\ng, ` + next + `, role:admin\n"}`})
	wantError(t, a, http.StatusBadRequest, api.CodeInvalidInput)
	if !strings.HasPrefix(a.err.Details["csv"], "line 2: ") {
		t.Fatalf("details %v, want the import's line 2", a.err.Details)
	}

	a = ls.do(t, request{method: http.MethodPost, path: "/api/auth/register", headers: []string{xff("192.0.2.40")},
		body: `{"email":"next@example.com","name":"Next","password":"` + testPassword + `"}`})
	wantStatus(t, a, http.StatusCreated)
	if !strings.Contains(string(a.body), `"id":"2"`) || !strings.Contains(string(a.body), `"roles":["user"]`) {
		t.Fatalf("the next sign-up: %s", a.body)
	}

	// A user's rules go with them.
	a = ls.do(t, request{method: http.MethodPost, path: "/api/admin/policies", headers: []string{bearer(admin)},
		body: `{"type":"p","rule":["` + next + `","/api/admin/audit","GET","*"]}`})
	wantStatus(t, a, http.StatusCreated)
	a = ls.do(t, request{method: http.MethodDelete, path: "/api/admin/users/2", headers: []string{bearer(admin)}})
	wantStatus(t, a, http.StatusNoContent)
	err := ls.db.View(context.Background(), func(tx store.Tx) error {
		rules, err := tx.Rules().Referencing(next)
		if len(rules) != 0 {
			t.Errorf("rules of the deleted user remain: %v", rules)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := ls.srv.authz.Decide(rbac.Request{Sub: next, Obj: "/api/admin/audit", Act: http.MethodGet, MFA: rbac.MFANone}); d.Allowed {
		t.Fatalf("the deleted user's grant still decides: %+v", d)
	}
}
