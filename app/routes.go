package app

import (
	"net/http"

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
}

// registerRoutes is the whole API surface in one place.
func (s *Server) registerRoutes() {
	// Every request, in this order: its id and safe headers; CORS when
	// origins are configured (preflights answered here, before the rate
	// limit counts them and before any authorization); the per-IP rate
	// limit, before any database work; then the caller and CSRF checks.
	// Authorization is per route (s.add).
	s.echo.Use(s.recoverPanic, s.assignRequestID, s.secureHeaders)
	if len(s.cfg.CORSOrigins) > 0 {
		s.echo.Use(s.allowCORS)
	}
	s.echo.Use(s.limitRate, s.authenticate)

	s.add(http.MethodGet, "/api/health", s.handleHealth, nil)

	s.add(http.MethodPost, "/api/auth/register", s.handleRegister, nil)
	s.add(http.MethodPost, "/api/auth/login", s.handleLogin, nil)
	s.add(http.MethodPost, "/api/auth/logout", s.handleLogout, nil)
	s.add(http.MethodGet, "/api/auth/me", s.handleMeGet, nil)
	s.add(http.MethodPatch, "/api/auth/me", s.handleMeUpdate, nil)

	s.add(http.MethodGet, "/api/notes", s.handleNoteList, nil)
	s.add(http.MethodPost, "/api/notes", s.handleNoteCreate, nil)
	s.add(http.MethodGet, "/api/notes/:id", s.handleNoteGet, s.ownerOfNote)
	s.add(http.MethodPatch, "/api/notes/:id", s.handleNoteUpdate, s.ownerOfNote)
	s.add(http.MethodDelete, "/api/notes/:id", s.handleNoteDelete, s.ownerOfNote)

	// The auth-failure log: recorded 401, 403 and 429 answers, and the same
	// live as Server-Sent Events (failures.go, failures_http.go).
	s.add(http.MethodGet, "/api/admin/auth-failures", s.handleAuthFailureList, nil)
	s.add(http.MethodGet, "/api/admin/auth-failures/stream", s.handleAuthFailureStream, nil)
}

func (s *Server) add(method, path string, h echo.HandlerFunc, owner ownerFunc) {
	r := route{method: method, path: path, handler: h, owner: owner}
	s.routes = append(s.routes, r)
	s.echo.Add(method, path, h, s.authorize(r))
}

func (s *Server) handleHealth(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}
