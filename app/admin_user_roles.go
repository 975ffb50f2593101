package app

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/labstack/echo/v4"
)

// Admin: one role of a user at a time. PATCH with roles replaces the whole
// list from what the client last read; these routes send only the change,
// so two admins adding different roles both keep theirs. Both take
// If-Match (the user's ETag) and answer the user as it is afterwards.
// Giving the admin role is decided as a policy change (grants.go).

// userRoleParams reads the :id and :role of a role route.
func userRoleParams(c echo.Context) (uint64, string, error) {
	id, err := userIDParam(c, "id")
	return id, c.Param("role"), err
}

// handleUserRolePut gives a user a role. Giving it again changes nothing
// and is not an error.
func (s *Server) handleUserRolePut(c echo.Context) error {
	id, role, err := userRoleParams(c)
	if err != nil {
		return err
	}
	out, err := s.access.AddUserRole(c.Request().Context(), s.actorOf(c), id, role, ifMatchUser(c))
	if err != nil {
		return err
	}
	return userAnswer(c, http.StatusOK, out)
}

// handleUserRoleDelete takes a role from a user; 404 when they do not hold
// it directly (a role held through a group is the group's).
func (s *Server) handleUserRoleDelete(c echo.Context) error {
	id, role, err := userRoleParams(c)
	if err != nil {
		return err
	}
	out, err := s.access.RemoveUserRole(c.Request().Context(), s.actorOf(c), id, role, ifMatchUser(c))
	if errors.Is(err, access.ErrNoSuchRole) {
		return apiError(http.StatusNotFound, api.CodeNotFound, "this user does not hold this role directly")
	}
	if err != nil {
		return err
	}
	return userAnswer(c, http.StatusOK, out)
}
