package app

import (
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Admin: one role of a user at a time. PATCH with roles replaces the whole
// list from what the client last read; these routes send only the change,
// so two admins adding different roles both keep theirs. Both take
// If-Match (the user's ETag) and answer the user as it is afterwards.
// Giving the admin role is decided as a policy change (grants.go).

// roleChange is the audit record of one role given or taken.
type roleChange struct {
	Role string `json:"role"`
}

// userRoleParams reads the :id and :role of a role route, and loads the
// user in tx after checking If-Match against them.
func userRoleParams(c echo.Context, tx *store.Tx) (store.User, string, error) {
	id, err := userIDParam(c, "id")
	if err != nil {
		return store.User{}, "", err
	}
	role := c.Param("role")
	if !rbac.ValidName(role) {
		return store.User{}, "", errNotFound
	}
	u, err := tx.User(id)
	if err != nil {
		return u, "", err
	}
	before, err := userInTx(tx, u)
	if err != nil {
		return u, "", err
	}
	return u, role, checkIfMatch(c, userWithETag(before).ETag)
}

// handleUserRolePut gives a user a role. Giving it again changes nothing
// and is not an error.
func (s *Server) handleUserRolePut(c echo.Context) error {
	var out api.User
	err := s.mutateGranting(c, func(tx *store.Tx) error {
		u, role, err := userRoleParams(c, tx)
		if err != nil {
			return err
		}
		link := []string{rbac.UserSubject(u.ID), rolePrefix + role}
		_, err = tx.FindRule("g", link)
		if errors.Is(err, store.ErrNotFound) {
			if _, err := s.authz.AddRule(tx, "g", link); err != nil {
				return err
			}
			if err := s.audit(c, tx, "user.role.add", link[0], nil, roleChange{Role: role}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		out, err = userInTx(tx, u)
		return err
	})
	if err != nil {
		return err
	}
	return userAnswer(c, http.StatusOK, out)
}

// handleUserRoleDelete takes a role from a user; 404 when they do not hold
// it directly (a role held through a group is the group's).
func (s *Server) handleUserRoleDelete(c echo.Context) error {
	var out api.User
	err := s.authz.Mutate(c.Request().Context(), func(tx *store.Tx) error {
		u, role, err := userRoleParams(c, tx)
		if err != nil {
			return err
		}
		link := []string{rbac.UserSubject(u.ID), rolePrefix + role}
		r, err := tx.FindRule("g", link)
		if errors.Is(err, store.ErrNotFound) {
			return apiError(http.StatusNotFound, api.CodeNotFound, "this user does not hold this role directly")
		} else if err != nil {
			return err
		}
		if _, err := tx.RemoveRule(r.ID); err != nil {
			return err
		}
		if err := s.audit(c, tx, "user.role.remove", link[0], roleChange{Role: role}, nil); err != nil {
			return err
		}
		out, err = userInTx(tx, u)
		return err
	})
	if err != nil {
		return err
	}
	return userAnswer(c, http.StatusOK, out)
}
