package app

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// callIfMatch sends a request with If-Match (when etag is not empty) and
// returns the status, the ETag header and the body.
func (ts *testServer) callIfMatch(t *testing.T, token, method, path, etag string, body []byte) (int, string, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequest(method, ts.http.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if etag != "" {
		req.Header.Set("If-Match", etag)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := ts.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header.Get("ETag"), data
}

// A user's read carries its version; a change naming an old version is
// 412 precondition_failed and changes nothing; one naming the current
// version, or none, goes through.
func TestUserIfMatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	u := ts.mustQuickUser(t, "ada@example.com", []string{"user"}, nil)
	path := "/api/admin/users/" + store.FormatID(u.ID)

	status, tag, body := ts.callIfMatch(t, admin, "GET", path, "", nil)
	var read api.User
	mustUnmarshal(t, body, &read)
	if status != 200 || tag == "" || read.ETag != tag {
		t.Fatalf("GET: %d, ETag %q, body etag %q", status, tag, read.ETag)
	}
	var l api.List[api.User]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/users?q=ada@", nil, 200, &l)
	if len(l.Items) != 1 || l.Items[0].ETag != tag {
		t.Fatalf("the list's etag %+v differs from the read's %q", l.Items, tag)
	}

	// Someone else renames her: the version moves on.
	status, tag2, _ := ts.callIfMatch(t, admin, "PATCH", path, tag, []byte(`{"name":"Ada L"}`))
	if status != 200 || tag2 == "" || tag2 == tag {
		t.Fatalf("PATCH with the current version: %d, ETag %q (was %q)", status, tag2, tag)
	}
	// A change from the old read is refused and changes nothing.
	status, _, body = ts.callIfMatch(t, admin, "PATCH", path, tag, []byte(`{"groups":["staff"]}`))
	if status != 412 || codeOf(body) != api.CodePreconditionFailed {
		t.Fatalf("PATCH with an old version: %d %s, want 412 precondition_failed", status, body)
	}
	for _, c := range []struct {
		name, method, path string
	}{
		{"role put", "PUT", path + "/roles/editor"},
		{"role delete", "DELETE", path + "/roles/user"},
	} {
		status, _, body = ts.callIfMatch(t, admin, c.method, c.path, tag, nil)
		if status != 412 || codeOf(body) != api.CodePreconditionFailed {
			t.Errorf("%s with an old version: %d %s, want 412 precondition_failed", c.name, status, body)
		}
	}
	ts.mustCallJSON(t, admin, "GET", path, nil, 200, &read)
	if read.Name != "Ada L" || !slices.Equal(read.Roles, []string{"user"}) || len(read.Groups) != 0 || read.ETag != tag2 {
		t.Fatalf("after refused changes: %+v", read)
	}
	// Several tags, one of them current, and "*" go through; so does no
	// If-Match at all.
	status, _, _ = ts.callIfMatch(t, admin, "PATCH", path, tag+", "+tag2, []byte(`{"name":"Ada"}`))
	if status != 200 {
		t.Errorf("If-Match listing the current version: %d", status)
	}
	status, _, _ = ts.callIfMatch(t, admin, "PATCH", path, "*", []byte(`{"name":"Ada"}`))
	if status != 200 {
		t.Errorf("If-Match *: %d", status)
	}
	status, _, body = ts.callIfMatch(t, admin, "PATCH", path, strings.Repeat("x", 2000), []byte(`{"name":"Ada"}`))
	if status != 400 || codeOf(body) != api.CodeInvalidInput {
		t.Errorf("an overlong If-Match: %d %s, want 400 invalid_input", status, body)
	}
}

// Two admins give one user a role each from the same read: the second is
// told (412), reads again, and both roles are kept.
func TestUserRoleDeltas(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	other := ts.mustQuickUser(t, "second-admin@example.com", []string{"admin"}, nil).Token
	u := ts.mustQuickUser(t, "bob@example.com", []string{"user"}, nil)
	path := "/api/admin/users/" + store.FormatID(u.ID)
	var read api.User
	ts.mustCallJSON(t, admin, "GET", path, nil, 200, &read)

	status, tag, body := ts.callIfMatch(t, admin, "PUT", path+"/roles/editor", read.ETag, nil)
	var after api.User
	mustUnmarshal(t, body, &after)
	if status != 200 || !slices.Equal(after.Roles, []string{"user", "editor"}) || after.ETag != tag {
		t.Fatalf("first role: %d %s", status, body)
	}
	status, _, body = ts.callIfMatch(t, other, "PUT", path+"/roles/auditor", read.ETag, nil)
	if status != 412 || codeOf(body) != api.CodePreconditionFailed {
		t.Fatalf("second role from the old read: %d %s", status, body)
	}
	ts.mustCallJSON(t, other, "GET", path, nil, 200, &read)
	status, _, body = ts.callIfMatch(t, other, "PUT", path+"/roles/auditor", read.ETag, nil)
	mustUnmarshal(t, body, &after)
	if status != 200 || !slices.Equal(after.Roles, []string{"user", "editor", "auditor"}) {
		t.Fatalf("second role after reading again: %d %s", status, body)
	}
	// Giving a role again is no change; taking one not held is 404.
	ts.mustCall(t, admin, "PUT", path+"/roles/editor", nil, 200, "")
	ts.mustCall(t, admin, "DELETE", path+"/roles/editor", nil, 200, "")
	ts.mustCall(t, admin, "DELETE", path+"/roles/editor", nil, 404, api.CodeNotFound)
	ts.mustCall(t, admin, "PUT", path+"/roles/Not%20A%20Name", nil, 404, api.CodeNotFound)
	// An admin whose role is taken is refused at the very next request.
	ts.mustCall(t, other, "DELETE", "/api/admin/users/"+store.FormatID(ts.admin.ID)+"/roles/admin", nil, 200, "")
	ts.mustCall(t, admin, "DELETE", "/api/admin/users/"+store.FormatID(mustUserID(t, ts, "second-admin@example.com"))+"/roles/admin", nil, 403, api.CodeForbidden)

	var audit api.List[api.AuditEntry]
	ts.mustCallJSON(t, other, "GET", "/api/admin/audit?target=user:"+store.FormatID(u.ID), nil, 200, &audit)
	var actions []string
	for _, e := range audit.Items {
		actions = append(actions, e.Action)
	}
	if want := "user.role.remove user.role.add user.role.add"; strings.Join(actions, " ") != want {
		t.Errorf("audit of the user: %v, want %s", actions, want)
	}
	if audit.Total == nil || *audit.Total != 3 {
		t.Errorf("audit total %v, want 3", audit.Total)
	}
}

func mustUserID(t *testing.T, ts *testServer, email string) uint64 {
	t.Helper()
	var id uint64
	err := ts.db.View(context.Background(), func(tx store.Tx) error {
		u, err := tx.Users().ByEmail(email)
		id = u.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Membership changes name the group's version; their answer carries the
// new one.
func TestGroupIfMatch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	u := ts.mustQuickUser(t, "cy@example.com", []string{"user"}, nil)
	ts.mustCall(t, admin, "POST", "/api/admin/groups", api.CreateGroupRequest{Name: "ops"}, 201, "")
	status, tag, _ := ts.callIfMatch(t, admin, "GET", "/api/admin/groups/ops", "", nil)
	if status != 200 || tag == "" {
		t.Fatalf("GET group: %d %q", status, tag)
	}
	member := "/api/admin/groups/ops/members/" + store.FormatID(u.ID)
	status, tag2, _ := ts.callIfMatch(t, admin, "PUT", member, tag, nil)
	if status != 204 || tag2 == "" || tag2 == tag {
		t.Fatalf("PUT member: %d, ETag %q (was %q)", status, tag2, tag)
	}
	for _, c := range []struct{ method, path, body string }{
		{"DELETE", member, ""},
		{"PATCH", "/api/admin/groups/ops", `{"description":"on call"}`},
	} {
		var body []byte
		if c.body != "" {
			body = []byte(c.body)
		}
		status, _, data := ts.callIfMatch(t, admin, c.method, c.path, tag, body)
		if status != 412 || codeOf(data) != api.CodePreconditionFailed {
			t.Errorf("%s %s with an old version: %d %s", c.method, c.path, status, data)
		}
	}
	status, _, _ = ts.callIfMatch(t, admin, "DELETE", member, tag2, nil)
	if status != 204 {
		t.Errorf("DELETE member with the current version: %d", status)
	}
}

// GET /api/auth/me lists what the caller may do under /api/admin, from
// the policy, and asking costs no refusal in the auth-failure log.
func TestMeLists(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	auditor := ts.mustQuickUser(t, "audrey@example.com", []string{"user"}, []string{"auditors"}).Token
	plain := ts.mustQuickUser(t, "pat@example.com", []string{"user"}, nil).Token
	failures := func() int {
		n := 0
		_ = ts.db.View(context.Background(), func(tx store.Tx) (err error) { n, err = tx.Failures().Count(); return err })
		return n
	}
	before := failures()
	cases := []struct {
		name, token string
		has, hasNot []string
	}{
		{"admin", ts.admin.Token, []string{"GET /api/admin/users", "PATCH /api/admin/users/:id", "PUT /api/admin/users/:id/roles/:role", "POST /api/admin/policies"}, nil},
		{"auditor", auditor, []string{"GET /api/admin/audit", "GET /api/admin/auth-failures", "GET /api/admin/auth-failures/stream"}, []string{"GET /api/admin/users"}},
		{"user", plain, nil, []string{"GET /api/admin/audit"}},
	}
	for _, c := range cases {
		var me api.Me
		ts.mustCallJSON(t, c.token, "GET", "/api/auth/me", nil, 200, &me)
		for _, h := range c.has {
			if !slices.Contains(me.May, h) {
				t.Errorf("%s: may %v lacks %s", c.name, me.May, h)
			}
		}
		for _, h := range c.hasNot {
			if slices.Contains(me.May, h) {
				t.Errorf("%s: may %v holds %s", c.name, me.May, h)
			}
		}
		if c.name == "auditor" && len(me.May) != 3 {
			t.Errorf("auditor may %v, want the three log reads", me.May)
		}
		if c.name == "user" && len(me.May) != 0 {
			t.Errorf("a plain user may %v, want nothing", me.May)
		}
	}
	if after := failures(); after != before {
		t.Errorf("asking what one may do left %d auth failures", after-before)
	}
}

// Lists say their total when the server knows it without a scan, and
// search on the server: users by email, rules by their CSV line.
func TestListTotalsAndSearch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	for _, e := range []string{"ann1@x.test", "ann2@x.test", "bob@x.test"} {
		ts.mustQuickUser(t, e, []string{"user"}, nil)
	}
	var users api.List[api.User]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/users?limit=2", nil, 200, &users)
	if users.Total == nil || *users.Total != 4 || users.NextCursor == "" {
		t.Errorf("users page: total %v, next %q, want 4 and a next page", users.Total, users.NextCursor)
	}
	ts.mustCallJSON(t, admin, "GET", "/api/admin/users?q=ANN", nil, 200, &users)
	if users.Total == nil || *users.Total != 2 {
		t.Errorf("q=ANN: total %v, want 2", users.Total)
	}
	var part api.List[api.User]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/users?q=ann&limit=1", nil, 200, &part)
	if part.Total != nil {
		t.Errorf("a search that does not fit one page claims total %d", *part.Total)
	}
	var rules api.List[api.Rule]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/policies?q=GROUP:AUDITORS&limit=1", nil, 200, &rules)
	if len(rules.Items) != 1 || !strings.Contains(strings.Join(rules.Items[0].Rule, ","), "group:auditors") || rules.NextCursor == "" {
		t.Fatalf("rules q=group:auditors: %+v", rules)
	}
	var more api.List[api.Rule]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/policies?q=group:auditors&limit=1&cursor="+rules.NextCursor, nil, 200, &more)
	if len(more.Items) != 1 || more.Items[0].ID == rules.Items[0].ID {
		t.Errorf("second page of rules q=group:auditors: %+v", more)
	}
	ts.mustCall(t, admin, "GET", "/api/admin/policies?q="+strings.Repeat("x", 300), nil, 400, api.CodeInvalidInput)
	ts.mustCall(t, admin, "GET", "/api/admin/audit?target="+strings.Repeat("x", 300), nil, 400, api.CodeInvalidInput)
	var fails api.List[api.AuthFailure]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/auth-failures?limit=1", nil, 200, &fails)
	var stored int
	_ = ts.db.View(context.Background(), func(tx store.Tx) (err error) { stored, err = tx.Failures().Count(); return err })
	if fails.Total == nil || *fails.Total != stored {
		t.Errorf("auth failures total %v, want the %d stored", fails.Total, stored)
	}
}

// Groups are searched on the server too.
func TestGroupSearch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	ts.mustCall(t, admin, "POST", "/api/admin/groups", api.CreateGroupRequest{Name: "ops", Description: "On call"}, 201, "")
	ts.mustCall(t, admin, "POST", "/api/admin/groups", api.CreateGroupRequest{Name: "finance"}, 201, "")
	var l api.List[api.Group]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/groups?q=ON%20CALL", nil, 200, &l)
	if len(l.Items) != 1 || l.Items[0].Name != "ops" || l.Items[0].ETag == "" || l.Total == nil || *l.Total != 1 {
		t.Errorf("groups q=on call: %+v", l)
	}
}

// An admin lists a user's live sessions and tokens, with no secret; the
// list is gone once they are ended.
func TestUserSessionList(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	u := ts.mustQuickUser(t, "sam@example.com", []string{"user"}, nil)
	path := "/api/admin/users/" + store.FormatID(u.ID) + "/sessions"
	var list []api.UserSession
	data := ts.mustCallJSON(t, admin, "GET", path, nil, 200, &list)
	if len(list) != 1 || list[0].Kind != store.KindSession || list[0].ExpiresAt == nil || strings.Contains(string(data), u.Token) {
		t.Fatalf("sessions of sam: %s", data)
	}
	ts.mustCall(t, admin, "DELETE", path, nil, 204, "")
	ts.mustCallJSON(t, admin, "GET", path, nil, 200, &list)
	if len(list) != 0 {
		t.Errorf("after ending them: %+v", list)
	}
	ts.mustCall(t, admin, "GET", "/api/admin/users/999999/sessions", nil, 404, api.CodeNotFound)
	plain := ts.mustQuickUser(t, "pat@example.com", []string{"user"}, nil)
	ts.mustCall(t, plain.Token, "GET", path, nil, 403, api.CodeForbidden)
}

// Giving the admin role through the one-role route is a policy change like
// any other way of granting it: an admin whose session has not proven
// their second factor is refused, one who has is not; other roles need
// no factor.
func TestUserRolePutAdminIsAPolicyChange(t *testing.T) {
	t.Parallel()
	ts, clock := newClockedServer(t)
	mallory := ts.mustUser([]string{"admin"})
	secret := ts.mustEnableMFA(mallory, clock)
	verified := ts.loginWithCode(mallory.Email, totpCode(t, secret, clock, 0))
	erin := ts.mustUser([]string{"user"})
	path := "/api/admin/users/" + itoa(int64(erin.ID)) + "/roles/"
	expect(t, ts.do(http.MethodPut, path+"admin", &mallory, nil, nil), http.StatusForbidden, api.CodeMFARequired)
	expect(t, ts.do(http.MethodPut, path+"editor", &mallory, nil, nil), http.StatusOK, "")
	var after api.User
	expect(t, ts.do(http.MethodPut, path+"admin", &verified, nil, &after), http.StatusOK, "")
	if !slices.Contains(after.Roles, "admin") {
		t.Errorf("roles after the proven grant: %v", after.Roles)
	}
}
