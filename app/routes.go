package app

import (
	"net/http"

	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// route is one entry of the API surface. Every route is registered through
// this table and guarded by the authorization middleware; there is no other
// way to add one (a test checks Echo's route list against it).
type route struct {
	method  string
	path    string
	handler echo.HandlerFunc
	// owner resolves the owner of the resource the route acts on, before
	// the decision; nil means the route has none, and owner-only rules can
	// then never grant it.
	owner ownerFunc
	// signedIn: the handler acts as its caller (their account, second
	// factor, tokens or resources, or a change the audit log must name
	// them for), so without one the route answers 401 unauthorized
	// whatever the policy grants anonymous (authorize).
	signedIn bool
	// resource names the owned resource the route acts on, for reading it
	// with the caller's credential (authenticate) before owner resolves
	// it; nil when the route names none.
	resource func(c echo.Context) (store.DocRef, error)
}

// routeKey finds a route of the table by the method and template Echo
// matched.
type routeKey struct{ method, path string }

// routeFlag marks a route of the table beyond its method, path, handler
// and owner resolver.
type routeFlag int

// signedIn marks a route whose handler needs a signed-in caller.
const signedIn routeFlag = iota + 1

// registerRoutes is the whole API surface in one place.
func (s *Server) registerRoutes() {
	// Every request, in this order: its id and safe headers; CORS when
	// origins are configured (preflights answered here, before the rate
	// limit counts them and before any authorization); the per-IP rate
	// limit, before any database work; then the caller and CSRF checks.
	// Authorization is per route (s.add).
	s.headers, s.requestIDs = securityHeaders(s.cfg.CookieSecure), newRequestIDs()
	s.echo.Use(s.recoverPanic, s.assignRequestID, s.secureHeaders)
	if len(s.cfg.CORSOrigins) > 0 {
		s.echo.Use(s.allowCORS)
	}
	s.echo.Use(s.limitRate, s.authenticate)

	s.add(http.MethodGet, "/api/health", s.handleHealth, nil)

	s.add(http.MethodPost, "/api/auth/register", s.handleRegister, nil)
	s.add(http.MethodPost, "/api/auth/login", s.handleLogin, nil)
	s.add(http.MethodPost, "/api/auth/logout", s.handleLogout, nil, signedIn)
	s.add(http.MethodGet, "/api/auth/me", s.handleMeGet, nil, signedIn)
	s.add(http.MethodPatch, "/api/auth/me", s.handleMeUpdate, nil, signedIn)

	// Owned resources (resources.go): each adds GET and POST /api/<name>,
	// and GET, PATCH and DELETE /api/<name>/:id with its owner resolver.
	s.addOwned(notes)

	// Second factor and personal API tokens (mfa.go, tokens.go,
	// admin_mfa.go). Tokens and the second factor are managed only from a
	// login session; an admin can reset anyone's second factor.
	s.add(http.MethodPost, "/api/auth/mfa/setup", s.handleMFASetup, nil, signedIn)
	s.add(http.MethodPost, "/api/auth/mfa/enable", s.handleMFAEnable, nil, signedIn)
	s.add(http.MethodDelete, "/api/auth/mfa", s.handleMFADisable, nil, signedIn)
	s.add(http.MethodGet, "/api/auth/tokens", s.handleTokenList, nil, signedIn)
	s.add(http.MethodPost, "/api/auth/tokens", s.handleTokenCreate, nil, signedIn)
	s.add(http.MethodDelete, "/api/auth/tokens/:id", s.handleTokenDelete, s.ownerOfToken, signedIn)
	s.add(http.MethodDelete, "/api/admin/users/:id/mfa", s.handleAdminMFAReset, nil, signedIn)

	// Administration (admin_*.go): users, groups, policies, the audit log,
	// the route inventory and backups. Guarded by the role:admin rules of
	// policy.csv; the auditors group reads the audit log.
	s.add(http.MethodGet, "/api/admin/users", s.handleUserList, nil)
	s.add(http.MethodPost, "/api/admin/users", s.handleUserCreate, nil, signedIn)
	s.add(http.MethodGet, "/api/admin/users/:id", s.handleUserGet, nil)
	s.add(http.MethodPatch, "/api/admin/users/:id", s.handleUserUpdate, nil, signedIn)
	s.add(http.MethodDelete, "/api/admin/users/:id", s.handleUserDelete, nil, signedIn)
	s.add(http.MethodGet, "/api/admin/users/:id/sessions", s.handleUserSessionList, nil)
	s.add(http.MethodDelete, "/api/admin/users/:id/sessions", s.handleUserSessionsEnd, nil, signedIn)
	s.add(http.MethodPut, "/api/admin/users/:id/roles/:role", s.handleUserRolePut, nil, signedIn)
	s.add(http.MethodDelete, "/api/admin/users/:id/roles/:role", s.handleUserRoleDelete, nil, signedIn)
	s.add(http.MethodGet, "/api/admin/groups", s.handleGroupList, nil)
	s.add(http.MethodPost, "/api/admin/groups", s.handleGroupCreate, nil, signedIn)
	s.add(http.MethodGet, "/api/admin/groups/:name", s.handleGroupGet, nil)
	s.add(http.MethodPatch, "/api/admin/groups/:name", s.handleGroupUpdate, nil, signedIn)
	s.add(http.MethodDelete, "/api/admin/groups/:name", s.handleGroupDelete, nil, signedIn)
	s.add(http.MethodPut, "/api/admin/groups/:name/members/:user_id", s.handleGroupMemberPut, nil, signedIn)
	s.add(http.MethodDelete, "/api/admin/groups/:name/members/:user_id", s.handleGroupMemberDelete, nil, signedIn)
	s.add(http.MethodGet, "/api/admin/policies", s.handlePolicyList, nil)
	s.add(http.MethodPost, "/api/admin/policies", s.handlePolicyAdd, nil, signedIn)
	s.add(http.MethodDelete, "/api/admin/policies/:id", s.handlePolicyRemove, nil, signedIn)
	s.add(http.MethodPost, "/api/admin/policies/check", s.handlePolicyCheck, nil)
	s.add(http.MethodPost, "/api/admin/policies/import", s.handlePolicyImport, nil, signedIn)
	s.add(http.MethodGet, "/api/admin/policies/export", s.handlePolicyExport, nil)
	s.add(http.MethodGet, "/api/admin/audit", s.handleAuditList, nil)
	s.add(http.MethodGet, "/api/admin/routes", s.handleRouteList, nil)
	s.add(http.MethodGet, "/api/admin/backup", s.handleBackup, nil, signedIn)

	// The auth-failure log: recorded 401, 403 and 429 answers, and the same
	// live as Server-Sent Events (failures.go, failures_http.go).
	s.add(http.MethodGet, "/api/admin/auth-failures", s.handleAuthFailureList, nil)
	s.add(http.MethodGet, "/api/admin/auth-failures/stream", s.handleAuthFailureStream, nil)
}

// addOwned registers the routes of an owned resource (resources.go).
func (s *Server) addOwned(r ownedRoutes) { r.register(s) }

// add registers one route of the table. A GET route answers HEAD too
// (uptime checks and load balancers probe with it): the same handler behind
// the same decision, made as the GET's (the rule's method is GET), and
// net/http sends no body to a HEAD. The HEAD twin is not a row of the
// table: it is the GET route.
//
// flags mark the route further: signedIn for a handler that needs a caller.
func (s *Server) add(method, path string, h echo.HandlerFunc, owner ownerFunc, flags ...routeFlag) {
	r := route{method: method, path: path, handler: h, owner: owner}
	for _, f := range flags {
		if f == signedIn {
			r.signedIn = true
		}
	}
	s.addRoute(r)
}

// addRoute adds r to the table and to Echo, with its authorization; every
// GET route answers HEAD too.
func (s *Server) addRoute(r route) {
	if s.routeIndex == nil {
		s.routeIndex = map[routeKey]*route{}
	}
	s.routes = append(s.routes, r)
	s.routeIndex[routeKey{r.method, r.path}] = &r
	s.echo.Add(r.method, r.path, r.handler, s.authorize(r))
	if r.method == http.MethodGet {
		s.routeIndex[routeKey{http.MethodHead, r.path}] = &r
		s.echo.Add(http.MethodHead, r.path, r.handler, s.authorize(r))
	}
}

// resourceRef is the owned resource the request's route acts on, if any.
func (s *Server) resourceRef(c echo.Context) store.DocRef {
	if r := s.routeIndex[routeKey{c.Request().Method, c.Path()}]; r != nil && r.resource != nil {
		if ref, err := r.resource(c); err == nil {
			return ref
		}
	}
	return store.DocRef{}
}

func (s *Server) handleHealth(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
