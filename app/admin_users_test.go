package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// TestUserListSearchAndPages searches by email and name, ignoring case, and
// walks the pages.
func TestUserListSearchAndPages(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	for _, e := range []string{"ann@example.com", "bob@example.org", "ANNE@example.net", "carl@example.com", "joanna@example.com"} {
		ts.mustQuickUser(t, e, []string{"user"}, nil)
	}
	var l api.List[api.User]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/users?q=ann", nil, 200, &l)
	var got []string
	for _, u := range l.Items {
		got = append(got, u.Email)
	}
	if strings.Join(got, " ") != "ann@example.com ANNE@example.net joanna@example.com" {
		t.Errorf("q=ann found %v", got)
	}
	var all []string
	cursor := ""
	for pages := 0; ; pages++ {
		ts.mustCallJSON(t, admin, "GET", "/api/admin/users?limit=2&cursor="+cursor, nil, 200, &l)
		for _, u := range l.Items {
			all = append(all, u.ID)
		}
		if l.NextCursor == "" {
			if pages != 2 {
				t.Errorf("%d pages of 2 for 6 users, want 3", pages+1)
			}
			break
		}
		cursor = l.NextCursor
	}
	if strings.Join(all, ",") != "1,2,3,4,5,6" {
		t.Errorf("pages hold %v", all)
	}
}

// TestUserUpdateEndsSessions: disabling a user or setting their password
// ends their login sessions at once; the new password signs in.
func TestUserUpdateEndsSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	var u api.User
	ts.mustCallJSON(t, admin, "POST", "/api/admin/users", api.CreateUserRequest{Email: "pat@example.com", Name: "Pat", Password: "first password here"}, 201, &u)
	if strings.Join(u.Roles, ",") != "user" || len(u.Groups) != 0 {
		t.Fatalf("new user %+v, want role user only", u)
	}
	login := func(password string, status int, code string) string {
		t.Helper()
		var res api.LoginResponse
		data := ts.mustCall(t, "", "POST", "/api/auth/login", api.LoginRequest{Email: "pat@example.com", Password: password}, status, code)
		if status == 200 {
			mustUnmarshal(t, data, &res)
		}
		return res.Token
	}
	token := login("first password here", 200, "")
	ts.mustCall(t, token, "GET", "/api/auth/me", nil, 200, "")

	ts.mustCallJSON(t, admin, "PATCH", "/api/admin/users/"+u.ID, api.UpdateUserRequest{Password: ptr("second password here")}, 200, nil)
	ts.mustCall(t, token, "GET", "/api/auth/me", nil, 401, "unauthorized")
	login("first password here", 401, "invalid_credentials")
	token = login("second password here", 200, "")

	ts.mustCallJSON(t, admin, "PATCH", "/api/admin/users/"+u.ID, api.UpdateUserRequest{Disabled: ptr(true)}, 200, nil)
	ts.mustCall(t, token, "GET", "/api/auth/me", nil, 401, "unauthorized")
	ts.mustCallJSON(t, admin, "PATCH", "/api/admin/users/"+u.ID, api.UpdateUserRequest{Disabled: ptr(false)}, 200, nil)
	// Enabled again, the old session stays ended.
	ts.mustCall(t, token, "GET", "/api/auth/me", nil, 401, "unauthorized")

	// The audit log says the password changed, and never shows a hash.
	raw := string(ts.mustCall(t, admin, "GET", "/api/admin/audit", nil, 200, ""))
	for _, secret := range []string{"argon2", "password_hash", "second password here"} {
		if strings.Contains(raw, secret) {
			t.Errorf("audit log holds %q: %s", secret, raw)
		}
	}
	var audit api.List[api.AuditEntry]
	mustUnmarshal(t, []byte(raw), &audit)
	var actions []string
	for _, e := range audit.Items {
		actions = append(actions, e.Action)
	}
	// Newest first; the oldest is the first admin, made at start-up.
	if strings.Join(actions, " ") != "user.update user.update user.update user.create user.create" {
		t.Fatalf("audit actions %v", actions)
	}
	pw := audit.Items[2]
	if pw.Target != "user:"+u.ID || pw.Actor != "admin@example.com" || pw.ActorID != "1" || pw.After["password_changed"] != true {
		t.Errorf("password change recorded as %+v", pw)
	}
	dis := audit.Items[1]
	if dis.Before["disabled"] != false || dis.After["disabled"] != true {
		t.Errorf("disable recorded as %+v", dis)
	}
}

// TestUserUpdateRecordsRolesAndGroups: PATCH replaces the lists, and the
// audit record holds them before and after.
func TestUserUpdateRecordsRolesAndGroups(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	u := ts.mustQuickUser(t, "pat@example.com", []string{"user", "editor"}, []string{"staff"})
	id := store.FormatID(u.ID)
	var got api.User
	ts.mustCallJSON(t, admin, "PATCH", "/api/admin/users/"+id, api.UpdateUserRequest{Roles: &[]string{"user", "user", "reports"}, Groups: &[]string{"auditors"}}, 200, &got)
	if strings.Join(got.Roles, ",") != "user,reports" || strings.Join(got.Groups, ",") != "auditors" {
		t.Fatalf("after PATCH: roles %v groups %v", got.Roles, got.Groups)
	}
	if parents := ts.authz.Parents(rbac.UserSubject(u.ID)); strings.Join(parents, ",") != "role:user,role:reports,group:auditors" {
		t.Errorf("policy links %v", parents)
	}
	var audit api.List[api.AuditEntry]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/audit?limit=1", nil, 200, &audit)
	e := audit.Items[0]
	if e.Action != "user.update" || fmtAny(e.Before["roles"]) != "[user editor]" || fmtAny(e.After["roles"]) != "[user reports]" ||
		fmtAny(e.Before["groups"]) != "[staff]" || fmtAny(e.After["groups"]) != "[auditors]" {
		t.Errorf("recorded %+v", e)
	}
	// A PATCH that changes nothing records nothing.
	n := mustAuditCount(t, ts, admin)
	ts.mustCallJSON(t, admin, "PATCH", "/api/admin/users/"+id, api.UpdateUserRequest{Roles: &[]string{"reports", "user"}}, 200, nil)
	if mustAuditCount(t, ts, admin) != n {
		t.Error("a change of nothing was recorded")
	}
}

// TestUserDeleteRemovesEverything: sessions, tokens, notes and every rule
// naming the user go with them, in one transaction.
func TestUserDeleteRemovesEverything(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	u := ts.mustQuickUser(t, "pat@example.com", []string{"user"}, []string{"staff"})
	token := u.Token
	sub := rbac.UserSubject(u.ID)
	ctx := context.Background()
	err := ts.authz.Mutate(ctx, func(tx store.Tx) error {
		_, hash := newSecret(tokenPrefix)
		if err := tx.Sessions().Create(&store.Session{UserID: u.ID, Kind: store.KindToken, Name: "ci"}, hash); err != nil {
			return err
		}
		if err := Notes.Create(tx, &Note{Owned: store.Owned{OwnerID: u.ID}, Title: "mine"}); err != nil {
			return err
		}
		_, err := ts.authz.AddRule(tx, "p", []string{sub, "/api/reports", "GET", "*"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.mustCall(t, admin, "DELETE", "/api/admin/users/"+store.FormatID(u.ID), nil, 204, "")
	ts.mustCall(t, token, "GET", "/api/auth/me", nil, 401, "unauthorized")
	err = ts.db.View(ctx, func(tx store.Tx) error {
		if s, _ := tx.Sessions().OfUser(u.ID, ""); len(s) != 0 {
			t.Errorf("sessions left: %+v", s)
		}
		if notes, _, _ := Notes.List(tx, u.ID, store.Page{}); len(notes) != 0 {
			t.Errorf("notes left: %+v", notes)
		}
		if rules, _ := tx.Rules().Referencing(sub); len(rules) != 0 {
			t.Errorf("rules left: %+v", rules)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := ts.authz.Parents(sub); len(p) != 0 {
		t.Errorf("in-memory links left: %v", p)
	}
	var g api.Group
	ts.mustCallJSON(t, admin, "GET", "/api/admin/groups/staff", nil, 200, &g)
	if len(g.Members) != 0 {
		t.Errorf("staff members %v", g.Members)
	}
}

// TestEndSessions ends login sessions and personal tokens alike.
func TestEndSessions(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	u := ts.mustQuickUser(t, "pat@example.com", []string{"user"}, nil)
	session := u.Token
	pat, hash := newSecret(tokenPrefix)
	err := ts.db.Update(context.Background(), func(tx store.Tx) error {
		return tx.Sessions().Create(&store.Session{UserID: u.ID, Kind: store.KindToken, Name: "ci", ExpiresAt: time.Now().Add(time.Hour)}, hash)
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.mustCall(t, pat, "GET", "/api/auth/me", nil, 200, "")
	ts.mustCall(t, admin, "DELETE", "/api/admin/users/"+store.FormatID(u.ID)+"/sessions", nil, 204, "")
	ts.mustCall(t, session, "GET", "/api/auth/me", nil, 401, "unauthorized")
	ts.mustCall(t, pat, "GET", "/api/auth/me", nil, 401, "unauthorized")
	var audit api.List[api.AuditEntry]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/audit?limit=1", nil, 200, &audit)
	if e := audit.Items[0]; e.Action != "user.sessions.end" || e.After["sessions_ended"] != 1.0 || e.After["tokens_revoked"] != 1.0 {
		t.Errorf("recorded %+v", e)
	}
}

// TestGroupLifecycle creates a group with roles, fills it, and deletes it
// with every rule naming it.
func TestGroupLifecycle(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	admin := ts.admin.Token
	u := ts.mustQuickUser(t, "pat@example.com", []string{"user"}, nil)
	token := u.Token
	id := store.FormatID(u.ID)
	var g api.Group
	ts.mustCallJSON(t, admin, "POST", "/api/admin/groups", api.CreateGroupRequest{Name: "ops", Description: "on call", Roles: []string{"reports"}}, 201, &g)
	ts.mustCallJSON(t, admin, "POST", "/api/admin/policies", api.RuleInput{Type: "p", Rule: []string{"group:ops", "/api/admin/routes", "GET", "*"}}, 201, nil)
	ts.mustCall(t, token, "GET", "/api/admin/routes", nil, 403, "forbidden")
	ts.mustCallJSON(t, admin, "PUT", "/api/admin/groups/ops/members/"+id, nil, 204, nil)
	ts.mustCall(t, token, "GET", "/api/admin/routes", nil, 200, "")
	ts.mustCallJSON(t, admin, "GET", "/api/admin/groups/ops", nil, 200, &g)
	if g.Description != "on call" || strings.Join(g.Roles, ",") != "reports" || strings.Join(g.Members, ",") != id {
		t.Fatalf("group %+v", g)
	}
	var u2 api.User
	ts.mustCallJSON(t, admin, "GET", "/api/admin/users/"+id, nil, 200, &u2)
	if strings.Join(u2.Groups, ",") != "ops" {
		t.Errorf("user groups %v", u2.Groups)
	}

	ts.mustCall(t, admin, "DELETE", "/api/admin/groups/ops", nil, 204, "")
	ts.mustCall(t, token, "GET", "/api/admin/routes", nil, 403, "forbidden")
	err := ts.db.View(context.Background(), func(tx store.Tx) error {
		if rules, _ := tx.Rules().Referencing("group:ops"); len(rules) != 0 {
			t.Errorf("rules left: %+v", rules)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var audit api.List[api.AuditEntry]
	ts.mustCallJSON(t, admin, "GET", "/api/admin/audit?limit=1", nil, 200, &audit)
	if e := audit.Items[0]; e.Action != "group.delete" || e.Target != "group:ops" || len(e.Before["rules"].([]any)) != 3 {
		t.Errorf("recorded %+v", e)
	}
}

func fmtAny(v any) string {
	list, _ := v.([]any)
	parts := make([]string, len(list))
	for i, x := range list {
		parts[i], _ = x.(string)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
