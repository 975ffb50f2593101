package tui

import (
	"github.com/gatehouse/gatehouse/app/api"
)

// The admin routes the console uses, as GET /api/auth/me lists what the
// caller may do.
const (
	routeUsers        = "GET /api/admin/users"
	routeUserCreate   = "POST /api/admin/users"
	routeUserUpdate   = "PATCH /api/admin/users/:id"
	routeUserDelete   = "DELETE /api/admin/users/:id"
	routeUserSessions = "DELETE /api/admin/users/:id/sessions"
	routeRoleAdd      = "PUT /api/admin/users/:id/roles/:role"
	routeRoleRemove   = "DELETE /api/admin/users/:id/roles/:role"
	routeGroups       = "GET /api/admin/groups"
	routeGroupCreate  = "POST /api/admin/groups"
	routeGroupUpdate  = "PATCH /api/admin/groups/:name"
	routeGroupDelete  = "DELETE /api/admin/groups/:name"
	routeMemberAdd    = "PUT /api/admin/groups/:name/members/:user_id"
	routeMemberRemove = "DELETE /api/admin/groups/:name/members/:user_id"
	routePolicies     = "GET /api/admin/policies"
	routePolicyAdd    = "POST /api/admin/policies"
	routePolicyRemove = "DELETE /api/admin/policies/:id"
	routePolicyImport = "POST /api/admin/policies/import"
	routePolicyCheck  = "POST /api/admin/policies/check"
	routeFailures     = "GET /api/admin/auth-failures"
	routeAudit        = "GET /api/admin/audit"
)

// access is who is signed in and what the server says they may do. The
// root fills it from GET /api/auth/me; the sections read it to offer only
// what the policy allows, so the console never learns by trying (which
// would leave a refusal in the auth-failure log).
type access struct {
	me  api.User
	may map[string]bool
}

// set takes the answer of GET /api/auth/me.
func (a *access) set(me api.Me) {
	a.me = me.User
	a.may = make(map[string]bool, len(me.May))
	for _, r := range me.May {
		a.may[r] = true
	}
}

// can reports whether the caller may use route ("PATCH /api/admin/users/:id").
func (a *access) can(route string) bool { return a.may[route] }

// isMe reports whether user id is the signed-in user.
func (a *access) isMe(id string) bool { return id != "" && id == a.me.ID }

// role is what the header says of the session: "admin" when it may change
// users, "read-only" when it may only read, "no admin access" otherwise.
func (a *access) role() string {
	switch {
	case a.can(routeUserUpdate):
		return "admin"
	case len(a.may) > 0:
		return "read-only"
	}
	return "no admin access"
}

// ownWarning is the sentence put before a question about the signed-in
// user's own account.
func (a *access) ownWarning(id string) string {
	if a.isMe(id) {
		return "This is your own account. "
	}
	return ""
}
