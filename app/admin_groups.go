package app

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Admin: groups. A group is a stored name and description; its roles
// (g, group:x, role:y) and members (g, user:7, group:x) are rules of the
// policy, changed in authz.Mutate like every rule.

const maxDescriptionLen = 500

// groupInTx is g as the API shows it, with roles and members read from tx
// so that it sees the transaction's own changes. Members are user ids;
// groups nested in g show in the policy, not here.
func groupInTx(tx *store.Tx, g store.Group) (api.Group, error) {
	out := api.Group{Name: g.Name, Description: g.Description, CreatedAt: g.CreatedAt, Roles: []string{}, Members: []string{}}
	sub := groupPrefix + g.Name
	rules, err := tx.RulesReferencing(sub)
	if err != nil {
		return out, err
	}
	for _, r := range rules {
		if r.Type != "g" || len(r.Values) != 2 {
			continue
		}
		switch {
		case r.Values[0] == sub && strings.HasPrefix(r.Values[1], rolePrefix):
			out.Roles = append(out.Roles, strings.TrimPrefix(r.Values[1], rolePrefix))
		case r.Values[1] == sub:
			if id, ok := rbac.UserID(r.Values[0]); ok {
				out.Members = append(out.Members, store.FormatID(id))
			}
		}
	}
	return out, nil
}

// checkDescription returns the problem with a group's description, or "".
func checkDescription(d string) string {
	if utf8.RuneCountInString(d) > maxDescriptionLen || hasHiddenRune(d) {
		return fmt.Sprintf("must be at most %d printable characters, without control, format or text-direction characters", maxDescriptionLen)
	}
	return ""
}

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
	list := func(tx *store.Tx) ([]store.Group, string, error) {
		return filteredPage(tx.ListGroups, func(g store.Group) bool {
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
	problems := map[string]string{}
	if !rbac.ValidName(in.Name) {
		problems["name"] = "must be 1 to 64 lower case letters, digits, '_', '.' or '-', starting with a letter or digit"
	}
	if p := checkDescription(in.Description); p != "" {
		problems["description"] = p
	}
	roles, p := cleanNames(in.Roles)
	if p != "" {
		problems["roles"] = p
	}
	if len(problems) > 0 {
		return invalidInput(problems)
	}
	var out api.Group
	err := s.mutateGranting(c, func(tx *store.Tx) error {
		g := store.Group{Name: in.Name, Description: in.Description}
		if err := tx.CreateGroup(&g); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return apiError(http.StatusConflict, api.CodeConflict, "a group with this name exists")
			}
			return err
		}
		if err := s.setLinks(tx, groupPrefix+g.Name, rolePrefix, roles); err != nil {
			return err
		}
		var err error
		if out, err = groupInTx(tx, g); err != nil {
			return err
		}
		return s.audit(c, tx, "group.create", groupPrefix+g.Name, nil, out)
	})
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
	var out api.Group
	err = s.db.View(c.Request().Context(), func(tx *store.Tx) error {
		g, err := tx.Group(name)
		if err != nil {
			return err
		}
		out, err = groupInTx(tx, g)
		return err
	})
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
	problems := map[string]string{}
	if in.Description != nil {
		if p := checkDescription(*in.Description); p != "" {
			problems["description"] = p
		}
	}
	var roles []string
	if in.Roles != nil {
		var p string
		if roles, p = cleanNames(*in.Roles); p != "" {
			problems["roles"] = p
		}
	}
	if len(problems) > 0 {
		return invalidInput(problems)
	}
	var out api.Group
	err = s.mutateGranting(c, func(tx *store.Tx) error {
		g, err := tx.Group(name)
		if err != nil {
			return err
		}
		before, err := groupInTx(tx, g)
		if err != nil {
			return err
		}
		if err := checkIfMatch(c, groupWithETag(before).ETag); err != nil {
			return err
		}
		if in.Description != nil {
			g.Description = *in.Description
			if err := tx.UpdateGroup(&g); err != nil {
				return err
			}
		}
		if in.Roles != nil {
			if err := s.setLinks(tx, groupPrefix+name, rolePrefix, roles); err != nil {
				return err
			}
		}
		if out, err = groupInTx(tx, g); err != nil {
			return err
		}
		if sameJSON(before, out) {
			return nil
		}
		return s.audit(c, tx, "group.update", groupPrefix+name, before, out)
	})
	if err != nil {
		return err
	}
	return groupAnswer(c, http.StatusOK, out)
}

// handleGroupDelete deletes a group with every rule naming it: its roles,
// its memberships and the rules that grant it anything.
func (s *Server) handleGroupDelete(c echo.Context) error {
	name, err := groupParam(c)
	if err != nil {
		return err
	}
	err = s.authz.Mutate(c.Request().Context(), func(tx *store.Tx) error {
		g, err := tx.Group(name)
		if err != nil {
			return err
		}
		before, err := groupInTx(tx, g)
		if err != nil {
			return err
		}
		removed, err := tx.RemoveRulesReferencing(groupPrefix + name)
		if err != nil {
			return err
		}
		if err := tx.DeleteGroup(name); err != nil {
			return err
		}
		return s.audit(c, tx, "group.delete", groupPrefix+name, groupDeleted{Group: before, Rules: apiRules(removed)}, nil)
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// groupDeleted is a deleted group in the audit log, with the rules that
// went with it, so that it can be rebuilt.
type groupDeleted struct {
	api.Group
	Rules []api.Rule `json:"rules"`
}

// membership is a change of membership in the audit log.
type membership struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

// memberParams reads the :name and :user_id of a membership route and
// loads both, in tx.
func memberParams(c echo.Context, tx *store.Tx) (store.Group, store.User, error) {
	name, err := groupParam(c)
	if err != nil {
		return store.Group{}, store.User{}, err
	}
	id, err := userIDParam(c, "user_id")
	if err != nil {
		return store.Group{}, store.User{}, err
	}
	g, err := tx.Group(name)
	if err != nil {
		return g, store.User{}, err
	}
	u, err := tx.User(id)
	if err != nil {
		return g, u, err
	}
	return g, u, checkGroupIfMatch(c, tx, g)
}

// handleGroupMemberPut puts a user in a group. Putting a member again
// changes nothing and is not an error.
func (s *Server) handleGroupMemberPut(c echo.Context) error {
	err := s.mutateGranting(c, func(tx *store.Tx) error {
		g, u, err := memberParams(c, tx)
		if err != nil {
			return err
		}
		link := []string{rbac.UserSubject(u.ID), groupPrefix + g.Name}
		if _, err := tx.FindRule("g", link); err == nil {
			return nil
		}
		if _, err := s.authz.AddRule(tx, "g", link); err != nil {
			return err
		}
		if err := setGroupETagInTx(c, tx, g); err != nil {
			return err
		}
		return s.audit(c, tx, "group.member.add", groupPrefix+g.Name, nil, membership{UserID: store.FormatID(u.ID), Email: u.Email})
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// handleGroupMemberDelete takes a user out of a group; 404 when they are
// not in it.
func (s *Server) handleGroupMemberDelete(c echo.Context) error {
	err := s.authz.Mutate(c.Request().Context(), func(tx *store.Tx) error {
		g, u, err := memberParams(c, tx)
		if err != nil {
			return err
		}
		r, err := tx.FindRule("g", []string{rbac.UserSubject(u.ID), groupPrefix + g.Name})
		if errors.Is(err, store.ErrNotFound) {
			return apiError(http.StatusNotFound, api.CodeNotFound, "this user is not a member of this group")
		} else if err != nil {
			return err
		}
		if _, err := tx.RemoveRule(r.ID); err != nil {
			return err
		}
		if err := setGroupETagInTx(c, tx, g); err != nil {
			return err
		}
		return s.audit(c, tx, "group.member.remove", groupPrefix+g.Name, membership{UserID: store.FormatID(u.ID), Email: u.Email}, nil)
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
