package app

import (
	"net/http"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/labstack/echo/v4"
)

// Granting the admin role is a policy change. Through the policy routes it
// is a g rule, and the rules guarding those routes decide who may make it
// (the seed policy: admins, with their second factor proven when they have
// one). The users and groups routes make the same change by other means (a
// user's roles, a group's roles, a membership, re-enabling an admin), so
// such a change is decided as the policy route that adds a rule would be:
// the policy decides, never this code, and a credential that could not add
// the g rule cannot make someone an admin another way. The access service
// finds such changes (inside their transaction) and asks the caller's
// Actor.MayGrant, which actorOf makes of authorizeGrant.

// grantRoute and grantAction are the route a grant of the admin role is
// decided as.
const (
	grantRoute  = "/api/admin/policies"
	grantAction = http.MethodPost
)

// authorizeGrant decides the caller as the policy route that adds a rule.
func (s *Server) authorizeGrant(c echo.Context) error {
	cl := callerOf(c)
	req := rbac.Request{Sub: cl.subject(), Obj: grantRoute, Act: grantAction, MFA: cl.mfa(), Groups: cl.groups()}
	d := s.authz.Decide(req)
	if d.Allowed {
		return nil
	}
	c.Set(ctxDenied, req)
	c.Set(ctxFailReason, "grant_admin")
	if d.StepUp {
		return apiError(http.StatusForbidden, api.CodeMFARequired,
			"granting the admin role is a policy change: it needs a session signed in with your second factor")
	}
	return apiError(http.StatusForbidden, api.CodeForbidden,
		"granting the admin role is a policy change, and the policy does not let you change it")
}
