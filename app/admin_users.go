package app

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Admin: users. Each handler decodes, calls the access service, which runs
// the operation (checks, hashing, one transaction with its audit record,
// the last-admin guard), and encodes.

// maxQueryLen bounds the user search text.
const maxQueryLen = 254

// userIDParam reads the :id of a users route; anything but an id is 404.
func userIDParam(c echo.Context, name string) (uint64, error) {
	id, err := store.ParseID(c.Param(name))
	if err != nil {
		return 0, errNotFound
	}
	return id, nil
}

// handleUserList lists users in id order; ?q= keeps those whose email or
// name contains it, ignoring case.
func (s *Server) handleUserList(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	q := strings.TrimSpace(c.QueryParam("q"))
	if len(q) > maxQueryLen {
		return invalidInput(map[string]string{"q": fmt.Sprintf("must be at most %d characters", maxQueryLen)})
	}
	var count func(store.Tx) (int, error)
	if q == "" {
		count = func(tx store.Tx) (int, error) { return tx.Users().Count() }
	}
	return listPage(c, s.db, p, func(tx store.Tx) ([]store.User, string, error) { return tx.Users().List(q, p) }, userViewInTx, count)
}

// handleUserCreate creates a user with roles (["user"] when none is given)
// and groups, in one transaction with their links.
func (s *Server) handleUserCreate(c echo.Context) error {
	var in api.CreateUserRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	out, err := s.access.CreateUser(c.Request().Context(), s.actorOf(c), access.NewUser{
		Email: in.Email, Name: in.Name, Password: in.Password, Roles: in.Roles, Groups: in.Groups,
	})
	if err != nil {
		return err
	}
	return userAnswer(c, http.StatusCreated, out)
}

func (s *Server) handleUserGet(c echo.Context) error {
	id, err := userIDParam(c, "id")
	if err != nil {
		return err
	}
	out, err := s.access.User(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return userAnswer(c, http.StatusOK, out)
}

// handleUserUpdate sets a user's name, disabled flag, roles, groups or
// password; absent fields stay, roles and groups replace the whole list.
// Disabling a user or setting their password ends their login sessions at
// once; setting their password also revokes their personal tokens.
func (s *Server) handleUserUpdate(c echo.Context) error {
	id, err := userIDParam(c, "id")
	if err != nil {
		return err
	}
	var in api.UpdateUserRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	if in.Password != nil {
		// Setting a password is credential management: not for tokens.
		if err := refuseTokenCaller(c, callerOf(c)); err != nil {
			return err
		}
	}
	out, err := s.access.UpdateUser(c.Request().Context(), s.actorOf(c), id, access.UserChange{
		IfMatch: ifMatchUser(c),
		Name:    in.Name, Disabled: in.Disabled, Password: in.Password, Roles: in.Roles, Groups: in.Groups,
	})
	if err != nil {
		return err
	}
	return userAnswer(c, http.StatusOK, out.User)
}

// handleUserDelete deletes a user with everything that is theirs, in one
// transaction: sessions, tokens, notes, and every rule naming them.
func (s *Server) handleUserDelete(c echo.Context) error {
	id, err := userIDParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.access.DeleteUser(c.Request().Context(), s.actorOf(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// handleUserSessionsEnd ends every login session of a user and revokes
// their personal API tokens: what an admin does first when an account may
// be in the wrong hands.
func (s *Server) handleUserSessionsEnd(c echo.Context) error {
	id, err := userIDParam(c, "id")
	if err != nil {
		return err
	}
	if err := s.access.EndSessions(c.Request().Context(), s.actorOf(c), id); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
