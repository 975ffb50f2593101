package app

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Admin: groups. The handlers decode, call the access service and encode;
// a group's roles and members are rules of the policy (see access).

// groupParam reads the :name of a groups route; a name no group can have
// is 404.
func groupParam(c echo.Context) (string, error) {
	name := c.Param("name")
	if !rbac.ValidName(name) {
		return "", errNotFound
	}
	return name, nil
}

// handleGroupList lists groups by name; ?q= keeps those whose name or
// description contains it, ignoring case.
func (s *Server) handleGroupList(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	q, err := searchParam(c)
	if err != nil {
		return err
	}
	list := func(tx store.Tx) ([]store.Group, string, error) {
		return filteredPage(tx.Groups().List, func(g store.Group) bool {
			return q == "" || strings.Contains(strings.ToLower(g.Name+" "+g.Description), q)
		}, p)
	}
	return listPage(c, s.db, p, list, groupViewInTx, nil)
}

func (s *Server) handleGroupCreate(c echo.Context) error {
	var in api.CreateGroupRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	out, err := s.access.CreateGroup(c.Request().Context(), s.actorOf(c), in.Name, in.Description, in.Roles)
	if err != nil {
		return err
	}
	return groupAnswer(c, http.StatusCreated, out)
}

func (s *Server) handleGroupGet(c echo.Context) error {
	name, err := groupParam(c)
	if err != nil {
		return err
	}
	out, err := s.access.Group(c.Request().Context(), name)
	if err != nil {
		return err
	}
	return groupAnswer(c, http.StatusOK, out)
}

// handleGroupUpdate sets a group's description or roles; roles replace the
// whole list.
func (s *Server) handleGroupUpdate(c echo.Context) error {
	name, err := groupParam(c)
	if err != nil {
		return err
	}
	var in api.UpdateGroupRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	out, err := s.access.UpdateGroup(c.Request().Context(), s.actorOf(c), name, in.Description, in.Roles, ifMatchGroup(c))
	if err != nil {
		return err
	}
	return groupAnswer(c, http.StatusOK, out)
}

// handleGroupDelete deletes a group with every rule naming it.
func (s *Server) handleGroupDelete(c echo.Context) error {
	name, err := groupParam(c)
	if err != nil {
		return err
	}
	if err := s.access.DeleteGroup(c.Request().Context(), s.actorOf(c), name); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// memberParams reads the :name and :user_id of a membership route.
func memberParams(c echo.Context) (string, uint64, error) {
	name, err := groupParam(c)
	if err != nil {
		return "", 0, err
	}
	id, err := userIDParam(c, "user_id")
	return name, id, err
}

// handleGroupMemberPut puts a user in a group. Putting a member again
// changes nothing and is not an error.
func (s *Server) handleGroupMemberPut(c echo.Context) error {
	name, id, err := memberParams(c)
	if err != nil {
		return err
	}
	g, err := s.access.AddMember(c.Request().Context(), s.actorOf(c), name, id, ifMatchGroup(c))
	if err != nil {
		return err
	}
	setETag(c, groupWithETag(g).ETag)
	return c.NoContent(http.StatusNoContent)
}

// handleGroupMemberDelete takes a user out of a group; 404 when they are
// not in it.
func (s *Server) handleGroupMemberDelete(c echo.Context) error {
	name, id, err := memberParams(c)
	if err != nil {
		return err
	}
	g, err := s.access.RemoveMember(c.Request().Context(), s.actorOf(c), name, id, ifMatchGroup(c))
	if errors.Is(err, access.ErrNotMember) {
		return apiError(http.StatusNotFound, api.CodeNotFound, "this user is not a member of this group")
	}
	if err != nil {
		return err
	}
	setETag(c, groupWithETag(g).ETag)
	return c.NoContent(http.StatusNoContent)
}
