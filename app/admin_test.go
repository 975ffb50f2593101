package app

import (
	"context"
	"fmt"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// TestAdminRoutesByCaller walks every admin route as an admin, an auditor
// (group auditors), an editor (group staff), a plain user and an anonymous
// caller. Each row is tried by the four others first (a denial changes
// nothing) and then by the admin, whose requests build on each other.
func TestAdminRoutesByCaller(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	auditor := ts.mustQuickUser(t, "auditor@example.com", []string{"user"}, []string{"auditors"}).Token
	editor := ts.mustQuickUser(t, "editor@example.com", []string{"user"}, []string{"staff"}).Token
	user := ts.mustQuickUser(t, "user@example.com", []string{"user"}, nil).Token
	target := ts.mustQuickUser(t, "target@example.com", []string{"user"}, nil)
	doomed := ts.mustQuickUser(t, "doomed@example.com", []string{"user"}, nil)
	var rule store.Rule
	err := ts.authz.Mutate(context.Background(), func(tx store.Tx) error {
		var err error
		rule, err = ts.authz.AddRule(tx, "p", []string{"role:user", "/api/fixture", "GET", "*"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	tid, did, rid := store.FormatID(target.ID), store.FormatID(doomed.ID), store.FormatID(rule.ID)

	const (
		forbidden = "forbidden"
		unauth    = "unauthorized"
	)
	type row struct {
		name         string
		method, path string
		body         any
		status       int    // the admin's
		code         string // the admin's error code, "" for success
		auditorReads bool   // the auditors group may use this route
	}
	rows := []row{
		{"list users", "GET", "/api/admin/users", nil, 200, "", false},
		{"search users", "GET", "/api/admin/users?q=TARGET&limit=5", nil, 200, "", false},
		{"list users bad limit", "GET", "/api/admin/users?limit=0", nil, 400, api.CodeInvalidInput, false},
		{"list users bad cursor", "GET", "/api/admin/users?cursor=!!", nil, 400, api.CodeInvalidInput, false},
		{"create user", "POST", "/api/admin/users", api.CreateUserRequest{Email: "new@example.com", Password: "a long enough password", Roles: []string{"editor"}}, 201, "", false},
		{"create user taken email", "POST", "/api/admin/users", api.CreateUserRequest{Email: "NEW@example.com", Password: "a long enough password"}, 409, api.CodeConflict, false},
		{"create user bad fields", "POST", "/api/admin/users", api.CreateUserRequest{Email: "nope", Password: "short", Roles: []string{"Admin!"}}, 400, api.CodeInvalidInput, false},
		{"create user unknown group", "POST", "/api/admin/users", api.CreateUserRequest{Email: "g@example.com", Password: "a long enough password", Groups: []string{"nosuch"}}, 400, api.CodeInvalidInput, false},
		{"create user unknown field", "POST", "/api/admin/users", []byte(`{"email":"x@example.com","password":"a long enough password","is_admin":true}`), 400, api.CodeInvalidInput, false},
		{"create user not json", "POST", "/api/admin/users", nil, 415, api.CodeUnsupportedMediaType, false},
		{"get user", "GET", "/api/admin/users/" + tid, nil, 200, "", false},
		{"get missing user", "GET", "/api/admin/users/999999", nil, 404, api.CodeNotFound, false},
		{"get user bad id", "GET", "/api/admin/users/0x1", nil, 404, api.CodeNotFound, false},
		{"update user", "PATCH", "/api/admin/users/" + tid, api.UpdateUserRequest{Name: ptr("Target"), Roles: &[]string{"user", "editor"}, Groups: &[]string{"staff"}}, 200, "", false},
		{"update user bad role", "PATCH", "/api/admin/users/" + tid, api.UpdateUserRequest{Roles: &[]string{"no spaces"}}, 400, api.CodeInvalidInput, false},
		{"update user unknown group", "PATCH", "/api/admin/users/" + tid, api.UpdateUserRequest{Groups: &[]string{"nosuch"}}, 400, api.CodeInvalidInput, false},
		{"update missing user", "PATCH", "/api/admin/users/999999", api.UpdateUserRequest{Name: ptr("x")}, 404, api.CodeNotFound, false},
		{"end sessions", "DELETE", "/api/admin/users/" + tid + "/sessions", nil, 204, "", false},
		{"end sessions missing user", "DELETE", "/api/admin/users/999999/sessions", nil, 404, api.CodeNotFound, false},
		{"delete user", "DELETE", "/api/admin/users/" + did, nil, 204, "", false},
		{"delete user again", "DELETE", "/api/admin/users/" + did, nil, 404, api.CodeNotFound, false},

		{"list groups", "GET", "/api/admin/groups", nil, 200, "", false},
		{"create group", "POST", "/api/admin/groups", api.CreateGroupRequest{Name: "ops", Description: "on call", Roles: []string{"editor"}}, 201, "", false},
		{"create group again", "POST", "/api/admin/groups", api.CreateGroupRequest{Name: "ops"}, 409, api.CodeConflict, false},
		{"create group bad name", "POST", "/api/admin/groups", api.CreateGroupRequest{Name: "Ops Team"}, 400, api.CodeInvalidInput, false},
		{"get group", "GET", "/api/admin/groups/ops", nil, 200, "", false},
		{"get missing group", "GET", "/api/admin/groups/nosuch", nil, 404, api.CodeNotFound, false},
		{"update group", "PATCH", "/api/admin/groups/ops", api.UpdateGroupRequest{Description: ptr("pager"), Roles: &[]string{}}, 200, "", false},
		{"update missing group", "PATCH", "/api/admin/groups/nosuch", api.UpdateGroupRequest{Description: ptr("x")}, 404, api.CodeNotFound, false},
		{"add member", "PUT", "/api/admin/groups/ops/members/" + tid, nil, 204, "", false},
		{"add member again", "PUT", "/api/admin/groups/ops/members/" + tid, nil, 204, "", false},
		{"add missing member", "PUT", "/api/admin/groups/ops/members/999999", nil, 404, api.CodeNotFound, false},
		{"add member to missing group", "PUT", "/api/admin/groups/nosuch/members/" + tid, nil, 404, api.CodeNotFound, false},
		{"remove member", "DELETE", "/api/admin/groups/ops/members/" + tid, nil, 204, "", false},
		{"remove member again", "DELETE", "/api/admin/groups/ops/members/" + tid, nil, 404, api.CodeNotFound, false},
		{"delete group", "DELETE", "/api/admin/groups/ops", nil, 204, "", false},
		{"delete group again", "DELETE", "/api/admin/groups/ops", nil, 404, api.CodeNotFound, false},

		{"list policies", "GET", "/api/admin/policies?limit=10", nil, 200, "", false},
		{"add rule", "POST", "/api/admin/policies", api.RuleInput{Type: "p", Rule: []string{"role:user", "/api/reports", "GET", "*"}}, 201, "", false},
		{"add rule again", "POST", "/api/admin/policies", api.RuleInput{Type: "p", Rule: []string{"role:user", "/api/reports", "GET", "*"}}, 409, api.CodeConflict, false},
		{"add rule wrong arity", "POST", "/api/admin/policies", api.RuleInput{Type: "p", Rule: []string{"role:user", "/api/reports"}}, 400, api.CodeInvalidInput, false},
		{"add rule unknown section", "POST", "/api/admin/policies", api.RuleInput{Type: "q", Rule: []string{"a", "b"}}, 400, api.CodeInvalidInput, false},
		{"add rule empty value", "POST", "/api/admin/policies", api.RuleInput{Type: "g", Rule: []string{"user:1", ""}}, 400, api.CodeInvalidInput, false},
		{"remove rule", "DELETE", "/api/admin/policies/" + rid, nil, 204, "", false},
		{"remove rule again", "DELETE", "/api/admin/policies/" + rid, nil, 404, api.CodeNotFound, false},
		{"check", "POST", "/api/admin/policies/check", api.CheckRequest{Subject: "role:user", Object: "/api/notes/:id", Action: "DELETE"}, 200, "", false},
		{"check missing fields", "POST", "/api/admin/policies/check", api.CheckRequest{MFA: "maybe"}, 400, api.CodeInvalidInput, false},
		{"import", "POST", "/api/admin/policies/import", api.PolicyImport{CSV: "p, role:user, /api/imported, GET, *\n"}, 200, "", false},
		{"import malformed", "POST", "/api/admin/policies/import", api.PolicyImport{CSV: "p, role:user\n"}, 400, api.CodeInvalidInput, false},
		{"export", "GET", "/api/admin/policies/export", nil, 200, "", false},

		{"audit", "GET", "/api/admin/audit", nil, 200, "", true},
		{"audit page", "GET", "/api/admin/audit?limit=2", nil, 200, "", true},
		{"routes", "GET", "/api/admin/routes", nil, 200, "", false},
		{"backup", "GET", "/api/admin/backup", nil, 200, "", false},
	}
	callers := []struct {
		name, token string
		want        func(row) (int, string)
	}{
		{"auditor", auditor, func(r row) (int, string) {
			if r.auditorReads {
				return r.status, r.code
			}
			return 403, forbidden
		}},
		{"editor", editor, func(row) (int, string) { return 403, forbidden }},
		{"user", user, func(row) (int, string) { return 403, forbidden }},
		{"anonymous", "", func(row) (int, string) { return 401, unauth }},
		{"admin", admin, func(r row) (int, string) { return r.status, r.code }},
	}
	for _, r := range rows {
		for _, cl := range callers {
			t.Run(r.name+"/"+cl.name, func(t *testing.T) {
				status, code := cl.want(r)
				// A request without a body is still sent without a JSON
				// content type, so the 415 row tests the decoder.
				ts.mustCall(t, cl.token, r.method, r.path, r.body, status, code)
			})
		}
	}
}

// TestAdminChangesApplyToNextRequest changes what an already signed-in
// user may do, and checks that their very next request is decided by the
// new policy: no restart, no new login.
func TestAdminChangesApplyToNextRequest(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	u := ts.mustQuickUser(t, "user@example.com", []string{"user"}, nil)
	token := u.Token
	uid := store.FormatID(u.ID)

	t.Run("role change", func(t *testing.T) {
		ts.mustCall(t, token, "GET", "/api/admin/users", nil, 403, "forbidden")
		ts.mustCallJSON(t, admin, "PATCH", "/api/admin/users/"+uid, api.UpdateUserRequest{Roles: &[]string{"user", "admin"}}, 200, nil)
		ts.mustCall(t, token, "GET", "/api/admin/users", nil, 200, "")
		ts.mustCallJSON(t, admin, "PATCH", "/api/admin/users/"+uid, api.UpdateUserRequest{Roles: &[]string{"user"}}, 200, nil)
		ts.mustCall(t, token, "GET", "/api/admin/users", nil, 403, "forbidden")
	})
	t.Run("group membership", func(t *testing.T) {
		ts.mustCall(t, token, "GET", "/api/admin/audit", nil, 403, "forbidden")
		ts.mustCallJSON(t, admin, "PUT", "/api/admin/groups/auditors/members/"+uid, nil, 204, nil)
		ts.mustCall(t, token, "GET", "/api/admin/audit", nil, 200, "")
		ts.mustCallJSON(t, admin, "DELETE", "/api/admin/groups/auditors/members/"+uid, nil, 204, nil)
		ts.mustCall(t, token, "GET", "/api/admin/audit", nil, 403, "forbidden")
	})
	t.Run("policy removal", func(t *testing.T) {
		var n api.Note
		ts.mustCallJSON(t, token, "POST", "/api/notes", api.NoteInput{Title: ptr("mine")}, 201, &n)
		ts.mustCall(t, token, "DELETE", "/api/notes/"+n.ID+"x", nil, 404, "not_found")
		rule := mustFindRule(t, ts, admin, "p", "role:user", "/api/notes/:id", "GET", "owner")
		ts.mustCall(t, token, "GET", "/api/notes/"+n.ID, nil, 200, "")
		ts.mustCallJSON(t, admin, "DELETE", "/api/admin/policies/"+rule.ID, nil, 204, nil)
		ts.mustCall(t, token, "GET", "/api/notes/"+n.ID, nil, 403, "forbidden")
		ts.mustCallJSON(t, admin, "POST", "/api/admin/policies", api.RuleInput{Type: rule.Type, Rule: rule.Rule}, 201, nil)
		ts.mustCall(t, token, "GET", "/api/notes/"+n.ID, nil, 200, "")
	})
}

// mustFindRule finds a rule through the API, reading every page.
func mustFindRule(t *testing.T, ts *testServer, token, typ string, values ...string) api.Rule {
	t.Helper()
	cursor := ""
	for {
		var l api.List[api.Rule]
		ts.mustCallJSON(t, token, "GET", "/api/admin/policies?limit=7&cursor="+cursor, nil, 200, &l)
		for _, r := range l.Items {
			if r.Type == typ && fmt.Sprint(r.Rule) == fmt.Sprint(values) {
				return r
			}
		}
		if l.NextCursor == "" {
			t.Fatalf("no rule %s %v", typ, values)
		}
		cursor = l.NextCursor
	}
}
