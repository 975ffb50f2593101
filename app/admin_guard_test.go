package app

import (
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// TestLastAdminGuardEveryForm tries every way of removing the last admin: each is
// refused with 409, changes nothing (the admin's own session included),
// and leaves no audit record.
func TestLastAdminGuardEveryForm(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	a, admin := ts.admin, ts.admin.Token
	aid := store.FormatID(a.ID)

	refused := func(t *testing.T, method, path string, body any) {
		t.Helper()
		before := mustExport(t, ts, admin)
		auditBefore := mustAuditCount(t, ts, admin)
		data := ts.mustCall(t, admin, method, path, body, 409, api.CodeConflict)
		if !strings.Contains(string(data), "no enabled admin") {
			t.Errorf("409 does not say why: %s", data)
		}
		// Still an admin, still signed in, nothing changed.
		ts.mustCall(t, admin, "GET", "/api/admin/users/"+aid, nil, 200, "")
		if after := mustExport(t, ts, admin); after != before {
			t.Errorf("policy changed by a refused change:\n%s\nwant\n%s", after, before)
		}
		if n := mustAuditCount(t, ts, admin); n != auditBefore {
			t.Errorf("audit has %d records after a refused change, want %d", n, auditBefore)
		}
	}

	t.Run("role change", func(t *testing.T) {
		refused(t, "PATCH", "/api/admin/users/"+aid, api.UpdateUserRequest{Roles: &[]string{"user"}})
	})
	t.Run("disable", func(t *testing.T) {
		refused(t, "PATCH", "/api/admin/users/"+aid, api.UpdateUserRequest{Disabled: ptr(true)})
	})
	t.Run("delete", func(t *testing.T) {
		refused(t, "DELETE", "/api/admin/users/"+aid, nil)
	})
	t.Run("policy removal", func(t *testing.T) {
		link := mustFindRule(t, ts, admin, "g", "user:"+aid, "role:admin")
		refused(t, "DELETE", "/api/admin/policies/"+link.ID, nil)
	})
	t.Run("import with replace", func(t *testing.T) {
		csv := strings.Replace(mustExport(t, ts, admin), "g, user:"+aid+", role:admin\n", "", 1)
		refused(t, "POST", "/api/admin/policies/import", api.PolicyImport{CSV: csv, Replace: true})
	})
	t.Run("group change", func(t *testing.T) {
		// Make the admin an admin only through the group ops.
		ts.mustCallJSON(t, admin, "POST", "/api/admin/groups", api.CreateGroupRequest{Name: "ops", Roles: []string{"admin"}}, 201, nil)
		ts.mustCallJSON(t, admin, "PATCH", "/api/admin/users/"+aid, api.UpdateUserRequest{Roles: &[]string{"user"}, Groups: &[]string{"ops"}}, 200, nil)
		refused(t, "PATCH", "/api/admin/users/"+aid, api.UpdateUserRequest{Groups: &[]string{}})
		refused(t, "DELETE", "/api/admin/groups/ops/members/"+aid, nil)
		refused(t, "PATCH", "/api/admin/groups/ops", api.UpdateGroupRequest{Roles: &[]string{"editor"}})
		refused(t, "DELETE", "/api/admin/groups/ops", nil)
		link := mustFindRule(t, ts, admin, "g", "group:ops", "role:admin")
		refused(t, "DELETE", "/api/admin/policies/"+link.ID, nil)
	})
	t.Run("allowed once another admin exists", func(t *testing.T) {
		ts.mustQuickUser(t, "second@example.com", []string{"admin"}, nil)
		ts.mustCall(t, admin, "DELETE", "/api/admin/groups/ops", nil, 204, "")
		// The very next request: no longer an admin.
		ts.mustCall(t, admin, "GET", "/api/admin/users", nil, 403, "forbidden")
	})
}

// mustExport returns the policy as CSV through the API.
func mustExport(t *testing.T, ts *testServer, token string) string {
	t.Helper()
	return string(ts.mustCall(t, token, "GET", "/api/admin/policies/export", nil, 200, ""))
}

// mustAuditCount counts the audit records through the API, page by page.
func mustAuditCount(t *testing.T, ts *testServer, token string) int {
	t.Helper()
	n, cursor := 0, ""
	for {
		var l api.List[api.AuditEntry]
		ts.mustCallJSON(t, token, "GET", "/api/admin/audit?limit=100&cursor="+cursor, nil, 200, &l)
		n += len(l.Items)
		if l.NextCursor == "" {
			return n
		}
		cursor = l.NextCursor
	}
}
