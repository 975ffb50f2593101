package app

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// ruleID is the id of a stored rule, failing the test when there is none.
func (ls *liveServer) ruleID(t *testing.T, typ string, values ...string) string {
	t.Helper()
	var r store.Rule
	err := ls.db.View(context.Background(), func(tx store.Tx) error {
		var err error
		r, err = tx.Rules().Find(typ, values)
		return err
	})
	if err != nil {
		t.Fatalf("rule %s %v: %v", typ, values, err)
	}
	return store.FormatID(r.ID)
}

// TestLastAdminGuardByCapability performs the attacks on the last-admin
// guard that counted role links: removing the rule that lets admins change
// the policy, removing the anonymous login rule, and an import with
// replace holding only the admin's role link. Each would leave admins
// unable to sign in or to manage the policy, and each is refused with 409
// conflict, with nothing changed. Once another rule grants what the removed
// one did, the same removal is allowed.
func TestLastAdminGuardByCapability(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	root, admin := mustUser(t, ls.srv, "root@example.com", "admin")
	_, _ = mustUser(t, ls.srv, "ops@example.com", "admin") // two admins: not about counting them
	call := func(method, path, body string) answer {
		return ls.do(t, request{method: method, path: path, body: body, headers: []string{bearer(admin)}})
	}
	policyRule := ls.ruleID(t, "p", "role:admin", "/api/admin/policies*", "*", "mfa")
	loginRule := ls.ruleID(t, "p", "anonymous", "/api/auth/login", "POST", "*")
	before := call(http.MethodGet, "/api/admin/policies/export", "")
	wantStatus(t, before, http.StatusOK)

	for name, a := range map[string]answer{
		"remove the policy rule": call(http.MethodDelete, "/api/admin/policies/"+policyRule, ""),
		"remove the login rule":  call(http.MethodDelete, "/api/admin/policies/"+loginRule, ""),
		"import only the admin link": call(http.MethodPost, "/api/admin/policies/import",
			`{"replace":true,"csv":"g, user:`+store.FormatID(root.ID)+`, role:admin\n"}`),
		"import without the login rule": call(http.MethodPost, "/api/admin/policies/import",
			`{"replace":true,"csv":`+jsonString(strings.Replace(string(before.body), "p, anonymous, /api/auth/login, POST, *\n", "", 1))+`}`),
	} {
		if a.status != http.StatusConflict || a.err.Code != api.CodeConflict || !strings.Contains(a.err.Message, "no enabled admin") {
			t.Errorf("%s: %d %q %q, want 409 conflict saying why", name, a.status, a.err.Code, a.err.Message)
		}
	}
	after := call(http.MethodGet, "/api/admin/policies/export", "")
	if string(after.body) != string(before.body) {
		t.Fatalf("a refused change changed the policy:\n%s", after.body)
	}
	wantStatus(t, call(http.MethodGet, "/api/admin/policies", ""), http.StatusOK)

	// Another rule grants the policy routes to admins (with the factor
	// from all): the old one may go, and admins still manage the policy.
	wantStatus(t, call(http.MethodPost, "/api/admin/policies", `{"type":"p","rule":["role:admin","/api/admin/policies*","*","totp"]}`), http.StatusCreated)
	wantStatus(t, call(http.MethodDelete, "/api/admin/policies/"+policyRule, ""), http.StatusNoContent)
}

// jsonString is s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
