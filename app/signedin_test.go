package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// signedInRoutes are the routes whose handler acts as its caller: their
// own account, second factor, tokens and notes, an admin's reset of a
// second factor (it keeps the admin's own session), and every change the
// audit log must name someone for.
var signedInRoutes = []string{
	"POST /api/auth/logout",
	"GET /api/auth/me",
	"PATCH /api/auth/me",
	"GET /api/notes",
	"POST /api/notes",
	"POST /api/auth/mfa/setup",
	"POST /api/auth/mfa/enable",
	"DELETE /api/auth/mfa",
	"GET /api/auth/tokens",
	"POST /api/auth/tokens",
	"DELETE /api/auth/tokens/:id",
	"DELETE /api/admin/users/:id/mfa",
	"POST /api/admin/users",
	"PATCH /api/admin/users/:id",
	"DELETE /api/admin/users/:id",
	"DELETE /api/admin/users/:id/sessions",
	"PUT /api/admin/users/:id/roles/:role",
	"DELETE /api/admin/users/:id/roles/:role",
	"POST /api/admin/groups",
	"PATCH /api/admin/groups/:name",
	"DELETE /api/admin/groups/:name",
	"PUT /api/admin/groups/:name/members/:user_id",
	"DELETE /api/admin/groups/:name/members/:user_id",
	"POST /api/admin/policies",
	"DELETE /api/admin/policies/:id",
	"POST /api/admin/policies/import",
	"GET /api/admin/backup",
}

// signedInBodies are bodies the handlers would accept from a caller, so
// that a route refused for want of one is refused for that alone.
var signedInBodies = map[string]string{
	"PATCH /api/auth/me":                           `{"name":"Mallory"}`,
	"POST /api/notes":                              `{"title":"from nobody","body":"x"}`,
	"POST /api/auth/mfa/enable":                    `{"otp":"123456","password":"correct horse battery"}`,
	"DELETE /api/auth/mfa":                         `{"otp":"123456"}`,
	"POST /api/auth/tokens":                        `{"name":"ci","password":"correct horse battery"}`,
	"POST /api/admin/users":                        `{"email":"new@example.com","name":"New","password":"correct horse battery"}`,
	"PATCH /api/admin/users/:id":                   `{"disabled":true}`,
	"POST /api/admin/groups":                       `{"name":"ops"}`,
	"PATCH /api/admin/groups/:name":                `{"roles":["admin"]}`,
	"POST /api/admin/policies":                     `{"type":"g","rule":["user:2","role:admin"]}`,
	"POST /api/admin/policies/import":              `{"csv":"g, user:2, role:admin\n"}`,
	"PUT /api/admin/users/:id/roles/:role":         ``,
	"PUT /api/admin/groups/:name/members/:user_id": ``,
}

// concretePath fills a route template's parameters with ids that exist in
// TestAnonymousGrantedASignedInRoute.
func concretePath(template string, userID uint64, noteID, tokenID, ruleID string) string {
	path := strings.NewReplacer(":user_id", store.FormatID(userID), ":name", "staff", ":role", "admin").Replace(template)
	switch {
	case strings.HasPrefix(template, "/api/notes/"):
		return strings.Replace(path, ":id", noteID, 1)
	case strings.HasPrefix(template, "/api/auth/tokens/"):
		return strings.Replace(path, ":id", tokenID, 1)
	case strings.HasPrefix(template, "/api/admin/policies/"):
		return strings.Replace(path, ":id", ruleID, 1)
	}
	return strings.Replace(path, ":id", store.FormatID(userID), 1)
}

// TestAnonymousGrantedASignedInRoute: an admin grants anonymous every
// route of the table (p, anonymous, <route>, <method>, *). A route whose
// handler acts as its caller answers an anonymous request 401
// unauthorized, changes nothing, and its failure record says why; every
// other route answers without a 5xx. The table marks exactly the routes
// listed in signedInRoutes.
func TestAnonymousGrantedASignedInRoute(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	_, admin := mustUser(t, ls.srv, "root@example.com", "admin")
	erin := mustPasswordUser(t, ls.srv, "erin@example.com", "user")
	erinSecret, _, err := ls.srv.startSession(context.Background(), erin, false)
	if err != nil {
		t.Fatal(err)
	}
	note := ls.do(t, request{method: http.MethodPost, path: "/api/notes", body: `{"title":"erin's","body":"x"}`, headers: []string{bearer(erinSecret)}})
	wantStatus(t, note, http.StatusCreated)
	var n struct{ ID string }
	if err := json.Unmarshal(note.body, &n); err != nil {
		t.Fatal(err)
	}
	tok := ls.do(t, request{method: http.MethodPost, path: "/api/auth/tokens", body: `{"name":"erin's","password":"` + testPassword + `"}`, headers: []string{bearer(erinSecret)}})
	wantStatus(t, tok, http.StatusCreated)
	var tk struct{ ID string }
	if err := json.Unmarshal(tok.body, &tk); err != nil {
		t.Fatal(err)
	}
	if a := ls.do(t, request{method: http.MethodPost, path: "/api/admin/groups", body: `{"name":"staff"}`, headers: []string{bearer(admin)}}); a.status != http.StatusCreated && a.status != http.StatusConflict {
		t.Fatalf("group staff: %d %s", a.status, a.body)
	}

	// The admin grants anonymous every route, through the API.
	for _, r := range ls.srv.routes {
		body := fmt.Sprintf(`{"type":"p","rule":["anonymous",%q,%q,"*"]}`, r.path, r.method)
		a := ls.do(t, request{method: http.MethodPost, path: "/api/admin/policies", body: body, headers: []string{bearer(admin)}})
		if a.status != http.StatusCreated && !(a.status == http.StatusConflict && a.err.Code == api.CodeConflict) {
			t.Fatalf("grant anonymous %s %s: %d %s", r.method, r.path, a.status, a.body)
		}
	}
	ruleID := ls.ruleID(t, "p", "anonymous", "/api/health", "GET", "*")
	auditBefore := auditCount(t, ls)

	// Every route that needs a caller: 401 unauthorized, nothing changed.
	call := func(r route) answer {
		key := r.method + " " + r.path
		path := concretePath(r.path, erin.ID, n.ID, tk.ID, ruleID)
		body, ok := signedInBodies[key]
		if !ok && r.method != http.MethodGet && r.method != http.MethodDelete {
			body = `{}`
		}
		return ls.do(t, request{method: r.method, path: path, body: body, headers: []string{xff("192.0.2.9")}})
	}
	checked := 0
	for _, r := range ls.srv.routes {
		if !slices.Contains(signedInRoutes, r.method+" "+r.path) {
			continue
		}
		checked++
		if a := call(r); a.status != http.StatusUnauthorized || a.err.Code != api.CodeUnauthorized {
			t.Errorf("anonymous %s %s: %d %q (%s), want 401 unauthorized", r.method, r.path, a.status, a.err.Code, a.err.Message)
		}
		if r.method == http.MethodGet {
			path := concretePath(r.path, erin.ID, n.ID, tk.ID, ruleID)
			if h := ls.do(t, request{method: http.MethodHead, path: path}); h.status != http.StatusUnauthorized {
				t.Errorf("anonymous HEAD %s: %d, want 401", path, h.status)
			}
		}
	}
	if checked != len(signedInRoutes) {
		t.Errorf("%d of the %d signed-in routes are in the table", checked, len(signedInRoutes))
	}
	wantStatus(t, ls.do(t, request{path: "/api/notes/" + n.ID, headers: []string{bearer(erinSecret)}}), http.StatusOK)
	tokens := ls.do(t, request{path: "/api/auth/tokens", headers: []string{bearer(erinSecret)}})
	wantStatus(t, tokens, http.StatusOK)
	if !strings.Contains(string(tokens.body), `"id":"`+tk.ID+`"`) {
		t.Errorf("erin's token %s is gone: %s", tk.ID, tokens.body)
	}
	me := ls.do(t, request{path: "/api/auth/me", headers: []string{bearer(erinSecret)}})
	wantStatus(t, me, http.StatusOK)
	if strings.Contains(string(me.body), "Mallory") {
		t.Errorf("anonymous renamed erin: %s", me.body)
	}
	if got := auditCount(t, ls); got != auditBefore {
		t.Errorf("the audit log went from %d to %d records", auditBefore, got)
	}
	ls.flush(t)
	reasons := map[string]string{}
	for _, f := range ls.failures(t, "192.0.2.9") {
		reasons[f.Method+" "+f.Route] = f.Reason
	}
	for _, key := range signedInRoutes {
		if reasons[key] != reasonSignInRequired {
			t.Errorf("failure record of %s: reason %q, want %s", key, reasons[key], reasonSignInRequired)
		}
	}

	// Every other route does what the policy lets anonymous do (the admin
	// granted it all): never a 5xx.
	for _, r := range ls.srv.routes {
		if slices.Contains(signedInRoutes, r.method+" "+r.path) || r.path == "/api/admin/auth-failures/stream" {
			continue // the stream streams to anonymous (failures_http.go)
		}
		if a := call(r); a.status >= 500 {
			t.Errorf("anonymous %s %s: %d %q (%s)", r.method, r.path, a.status, a.err.Code, a.err.Message)
		}
	}

	// The table marks exactly these routes.
	var marked []string
	for _, r := range ls.srv.routes {
		if r.signedIn {
			marked = append(marked, r.method+" "+r.path)
		}
	}
	if want := slices.Sorted(slices.Values(signedInRoutes)); !slices.Equal(slices.Sorted(slices.Values(marked)), want) {
		t.Errorf("routes marked signedIn:\n%v\nwant:\n%v", slices.Sorted(slices.Values(marked)), want)
	}
}

// auditCount is how many records the audit log holds.
func auditCount(t *testing.T, ls *liveServer) int {
	t.Helper()
	n := 0
	err := ls.db.View(context.Background(), func(tx store.Tx) error {
		p := store.Page{Limit: 1000}
		for {
			recs, next, err := tx.Audit().List(p)
			if err != nil {
				return err
			}
			n += len(recs)
			if next == "" {
				return nil
			}
			p.Cursor = next
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAnonymousActorMayNotGrant: the actor of a request without a caller
// still has its grants of the admin role decided (as anonymous's, whom the
// seed policy does not let change the policy), never let through as the
// offline tools' are.
func TestAnonymousActorMayNotGrant(t *testing.T) {
	t.Parallel()
	srv, _, _ := newBareServer(t, nil)
	c := srv.echo.NewContext(httptest.NewRequest(http.MethodPatch, "/api/admin/groups/staff", nil), httptest.NewRecorder())
	who := srv.actorOf(c)
	if who.MayGrant == nil {
		t.Fatal("an anonymous actor may grant the admin role unchecked")
	}
	var e *api.Error
	if err := who.MayGrant(); !errors.As(err, &e) || e.Status != http.StatusForbidden || e.Code != api.CodeForbidden {
		t.Fatalf("anonymous granting the admin role: %v", err)
	}
}
