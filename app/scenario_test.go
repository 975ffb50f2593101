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

// TestNotesScenarios walks the notes API as each kind of caller, through the
// real server, with the shipped model and seed policy.
func TestNotesScenarios(t *testing.T) {
	ts := newTestServer(t)
	owner := ts.mustUser([]string{"user"})
	other := ts.mustUser([]string{"user"})
	editor := ts.mustUser([]string{"user"}, "staff")
	disabled := ts.mustUser([]string{"user"})
	admin := ts.admin

	mustNote := func(u testUser, title string) string {
		var n api.Note
		resp := ts.do(http.MethodPost, "/api/notes", &u, map[string]string{"title": title, "body": "b"}, &n)
		expect(t, resp, http.StatusCreated, "")
		return n.ID
	}
	mine := mustNote(owner, "owner's note")
	theirs := mustNote(other, "other's note")
	editorsOwn := mustNote(editor, "editor's note")
	err := ts.db.Update(context.Background(), func(tx store.Tx) error {
		u, err := tx.Users().Get(disabled.ID)
		if err != nil {
			return err
		}
		u.Disabled = true
		return tx.Users().Update(&u)
	})
	if err != nil {
		t.Fatal(err)
	}

	title := map[string]string{"title": "changed"}
	tests := []struct {
		name   string
		as     *testUser
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{"anonymous lists", nil, "GET", "/api/notes", nil, 401, api.CodeUnauthorized},
		{"anonymous reads", nil, "GET", "/api/notes/" + mine, nil, 401, api.CodeUnauthorized},
		{"anonymous reads missing", nil, "GET", "/api/notes/999999", nil, 401, api.CodeUnauthorized},
		{"anonymous creates", nil, "POST", "/api/notes", title, 401, api.CodeUnauthorized},
		{"anonymous health", nil, "GET", "/api/health", nil, 200, ""},

		{"owner reads own", &owner, "GET", "/api/notes/" + mine, nil, 200, ""},
		{"owner changes own", &owner, "PATCH", "/api/notes/" + mine, title, 200, ""},
		{"owner reads other's", &owner, "GET", "/api/notes/" + theirs, nil, 403, api.CodeForbidden},
		{"owner changes other's", &owner, "PATCH", "/api/notes/" + theirs, title, 403, api.CodeForbidden},
		{"owner deletes other's", &owner, "DELETE", "/api/notes/" + theirs, nil, 403, api.CodeForbidden},
		{"owner reads missing", &owner, "GET", "/api/notes/999999", nil, 404, api.CodeNotFound},
		{"owner deletes missing", &owner, "DELETE", "/api/notes/999999", nil, 404, api.CodeNotFound},
		{"owner health", &owner, "GET", "/api/health", nil, 200, ""},

		{"editor reads other's", &editor, "GET", "/api/notes/" + mine, nil, 200, ""},
		{"editor changes other's", &editor, "PATCH", "/api/notes/" + mine, title, 200, ""},
		{"editor deletes other's", &editor, "DELETE", "/api/notes/" + mine, nil, 403, api.CodeForbidden},
		{"editor deletes own", &editor, "DELETE", "/api/notes/" + editorsOwn, nil, 204, ""},
		{"editor reads missing", &editor, "GET", "/api/notes/999999", nil, 404, api.CodeNotFound},

		{"disabled reads own", &disabled, "GET", "/api/notes", nil, 401, api.CodeUnauthorized},
		{"disabled me", &disabled, "GET", "/api/auth/me", nil, 401, api.CodeUnauthorized},

		{"admin reads other's", &admin, "GET", "/api/notes/" + theirs, nil, 200, ""},
		{"admin changes other's", &admin, "PATCH", "/api/notes/" + theirs, title, 200, ""},
		{"admin deletes other's", &admin, "DELETE", "/api/notes/" + theirs, nil, 204, ""},
		{"admin deletes gone", &admin, "DELETE", "/api/notes/" + theirs, nil, 404, api.CodeNotFound},

		{"owner deletes own", &owner, "DELETE", "/api/notes/" + mine, nil, 204, ""},
		{"unknown route", &owner, "GET", "/api/nothing", nil, 404, api.CodeNotFound},
		{"wrong method", &owner, "PUT", "/api/notes", title, 405, api.CodeMethodNotAllowed},
		{"bad title", &owner, "POST", "/api/notes", map[string]string{"title": ""}, 400, api.CodeInvalidInput},
		{"long title", &owner, "POST", "/api/notes", map[string]string{"title": strings.Repeat("x", 201)}, 400, api.CodeInvalidInput},
		{"owner field refused", &owner, "POST", "/api/notes", map[string]string{"title": "x", "owner_id": "1"}, 400, api.CodeInvalidInput},
		{"roles field refused", &owner, "PATCH", "/api/auth/me", map[string]any{"roles": []string{"admin"}}, 400, api.CodeInvalidInput},
		{"bad limit", &owner, "GET", "/api/notes?limit=101", nil, 400, api.CodeInvalidInput},
		{"bad cursor", &owner, "GET", "/api/notes?cursor=%25%25", nil, 400, api.CodeInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := ts.do(tt.method, tt.path, tt.as, tt.body, nil)
			expect(t, resp, tt.status, tt.code)
		})
	}
	// A signed-in user on a registered route no rule grants them is a 403.
	if _, ok := ts.echoRoute(http.MethodGet, "/api/admin/users"); ok {
		resp := ts.do("GET", "/api/admin/users", &owner, nil, nil)
		expect(t, resp, http.StatusForbidden, api.CodeForbidden)
	}
}

// echoRoute reports whether the route is registered.
func (ts *testServer) echoRoute(method, path string) (route, bool) {
	for _, r := range ts.routes {
		if r.method == method && r.path == path {
			return r, true
		}
	}
	return route{}, false
}

// TestNoteListsFollowPolicy: users list their own notes, editors and
// admins all notes, as the policy (not the handler) decides.
func TestNoteListsFollowPolicy(t *testing.T) {
	ts := newTestServer(t)
	a := ts.mustUser([]string{"user"})
	b := ts.mustUser([]string{"user"})
	editor := ts.mustUser([]string{"user"}, "staff")
	for _, u := range []testUser{a, a, b} {
		expect(t, ts.do("POST", "/api/notes", &u, map[string]string{"title": "t"}, nil), 201, "")
	}
	count := func(u testUser, query string) (int, string) {
		var l api.List[api.Note]
		expect(t, ts.do("GET", "/api/notes"+query, &u, nil, &l), 200, "")
		return len(l.Items), l.NextCursor
	}
	if n, _ := count(a, ""); n != 2 {
		t.Errorf("user a sees %d notes, want their 2", n)
	}
	if n, _ := count(b, ""); n != 1 {
		t.Errorf("user b sees %d notes, want their 1", n)
	}
	if n, _ := count(editor, ""); n != 3 {
		t.Errorf("editor sees %d notes, want all 3", n)
	}
	n, next := count(editor, "?limit=2")
	if n != 2 || next == "" {
		t.Fatalf("first page: %d notes, cursor %q; want 2 and a cursor", n, next)
	}
	if n, next := count(editor, "?limit=2&cursor="+next); n != 1 || next != "" {
		t.Errorf("second page: %d notes, cursor %q; want 1 and none", n, next)
	}
}

// TestPathTricksNeverReachAnotherRule sends raw paths that try to reach
// another user's note or an admin route through encoding, dots, doubled or
// trailing slashes and case. None may succeed.
func TestPathTricksNeverReachAnotherRule(t *testing.T) {
	ts := newTestServer(t)
	owner := ts.mustUser([]string{"user"})
	victim := ts.mustUser([]string{"user"})
	var n api.Note
	expect(t, ts.do("POST", "/api/notes", &victim, map[string]string{"title": "secret"}, &n), 201, "")
	var own api.Note
	expect(t, ts.do("POST", "/api/notes", &owner, map[string]string{"title": "mine"}, &own), 201, "")

	tricks := []struct {
		raw    string
		status int
		code   string
	}{
		{"/api/notes/" + own.ID + "/../" + n.ID, 404, api.CodeNotFound},
		{"/api/notes/" + own.ID + "%2F..%2F" + n.ID, 404, api.CodeNotFound},
		{"/api/notes/%2E%2E/" + n.ID, 404, api.CodeNotFound},
		{"//api/notes/" + n.ID, 404, api.CodeNotFound},
		{"/api//notes/" + n.ID, 404, api.CodeNotFound},
		{"/api/notes/" + n.ID + "/", 404, api.CodeNotFound},
		{"/API/NOTES/" + n.ID, 404, api.CodeNotFound},
		{"/api/Notes/" + n.ID, 404, api.CodeNotFound},
		{"/api/notes/0" + n.ID, 404, api.CodeNotFound},
		{"/api/notes/" + n.ID + "%00", 404, api.CodeNotFound},
		{"/api/notes/" + n.ID + "%20", 404, api.CodeNotFound},
		{"/api/notes/+" + n.ID, 404, api.CodeNotFound},
		{"/api/notes/" + strings.Repeat("9", 40), 404, api.CodeNotFound},
		{"/api/health/../notes/" + n.ID, 404, api.CodeNotFound},
		{"/api/notes/" + n.ID, 403, api.CodeForbidden}, // the straight way, for contrast
		{"/api/admin%2Fusers", 404, api.CodeNotFound},
		{"/api/admin/../notes/" + n.ID, 404, api.CodeNotFound},
	}
	for _, tt := range tricks {
		t.Run(tt.raw, func(t *testing.T) {
			req, err := http.NewRequest("GET", ts.http.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = tt.raw // sent exactly as written, no cleaning
			req.Header.Set("Authorization", "Bearer "+owner.Token)
			resp := ts.send(req, nil)
			expect(t, resp, tt.status, tt.code)
		})
	}
}

// TestEveryRouteIsGuarded checks Echo's own route list against the route
// table (so no route bypasses the authorization middleware) and that every
// route is granted by at least one rule of the seed policy.
func TestEveryRouteIsGuarded(t *testing.T) {
	ts := newTestServer(t)
	for _, r := range ts.echo.Routes() {
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet // the HEAD twin of a GET route, guarded as it
		}
		if _, ok := ts.echoRoute(method, r.Path); !ok {
			t.Errorf("%s %s is registered with Echo but not through the route table", r.Method, r.Path)
		}
	}
	inv := ts.Inventory()
	if len(inv.Unguarded) > 0 {
		t.Errorf("routes no rule grants: %v", inv.Unguarded)
	}
	public := map[string]bool{}
	for _, r := range inv.Routes {
		if r.Public {
			public[r.Method+" "+r.Path] = true
		}
	}
	want := map[string]bool{"GET /api/health": true, "POST /api/auth/login": true, "POST /api/auth/register": true}
	for k := range public {
		if !want[k] {
			t.Errorf("%s is public, and only health, login and register should be", k)
		}
	}
	for k := range want {
		if !public[k] {
			t.Errorf("%s should be public", k)
		}
	}
}

// TestChangesApplyToTheNextRequest: a role granted and taken away changes
// the very next request of a user who is already signed in.
func TestChangesApplyToTheNextRequest(t *testing.T) {
	ts := newTestServer(t)
	u := ts.mustUser([]string{"user"})
	other := ts.mustUser([]string{"user"})
	var n api.Note
	expect(t, ts.do("POST", "/api/notes", &other, map[string]string{"title": "t"}, &n), 201, "")
	path := "/api/notes/" + n.ID
	expect(t, ts.do("GET", path, &u, nil, nil), 403, api.CodeForbidden)

	link := ts.mustRule("g", u.Subject(), "group:staff")
	expect(t, ts.do("GET", path, &u, nil, nil), 200, "")

	err := ts.authz.Mutate(context.Background(), func(tx store.Tx) error {
		_, err := tx.Rules().Remove(link.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, ts.do("GET", path, &u, nil, nil), 403, api.CodeForbidden)

	rule := ts.mustRule("p", u.Subject(), "/api/notes/:id", "GET", "*")
	expect(t, ts.do("GET", path, &u, nil, nil), 200, "")
	err = ts.authz.Mutate(context.Background(), func(tx store.Tx) error {
		_, err := tx.Rules().Remove(rule.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	expect(t, ts.do("GET", path, &u, nil, nil), 403, api.CodeForbidden)
}

// TestLastAdminGuard: the policy cannot lose its last enabled admin.
func TestLastAdminGuard(t *testing.T) {
	ts := newTestServer(t)
	var link store.Rule
	err := ts.db.View(context.Background(), func(tx store.Tx) error {
		var err error
		link, err = tx.Rules().Find("g", []string{ts.admin.Subject(), rbac.RoleAdmin})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	err = ts.authz.Mutate(context.Background(), func(tx store.Tx) error {
		_, err := tx.Rules().Remove(link.ID)
		return err
	})
	if err != rbac.ErrLastAdmin {
		t.Fatalf("removing the last admin's role: %v, want ErrLastAdmin", err)
	}
	expect(t, ts.do("GET", "/api/auth/me", &ts.admin, nil, nil), 200, "")
}
