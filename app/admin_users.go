package app

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Admin: users. A user's roles and groups are g rules of the policy, so
// every change that touches them runs in authz.Mutate: one transaction with
// its audit record, visible to the very next request, refused when it would
// leave no enabled admin.

const (
	rolePrefix  = "role:"
	groupPrefix = "group:"
	// maxNames bounds the roles or groups one request may set.
	maxNames = 100
	// maxQueryLen bounds the user search text.
	maxQueryLen = 254
)

var errEmailTaken = apiError(http.StatusConflict, api.CodeConflict, "an account with this email exists")

// userChange is a user in the audit log: the API view, and whether the
// password changed (never the password or its hash).
type userChange struct {
	api.User
	PasswordChanged bool `json:"password_changed,omitempty"`
}

// userInTx is u as the API shows it, with the roles and groups read from tx
// so that it sees the transaction's own changes.
func userInTx(tx *store.Tx, u store.User) (api.User, error) {
	out := api.User{
		ID: store.FormatID(u.ID), Email: u.Email, Name: u.Name, Disabled: u.Disabled,
		MFAEnabled: u.MFA.Enabled, CreatedAt: u.CreatedAt, Roles: []string{}, Groups: []string{},
	}
	sub := rbac.UserSubject(u.ID)
	rules, err := tx.RulesReferencing(sub)
	if err != nil {
		return out, err
	}
	for _, r := range rules {
		if r.Type != "g" || len(r.Values) != 2 || r.Values[0] != sub {
			continue
		}
		if name, ok := strings.CutPrefix(r.Values[1], rolePrefix); ok {
			out.Roles = append(out.Roles, name)
		} else if name, ok := strings.CutPrefix(r.Values[1], groupPrefix); ok {
			out.Groups = append(out.Groups, name)
		}
	}
	return out, nil
}

// cleanNames checks a list of role or group names and drops repeats,
// keeping the order. It returns the problem with the list, or "".
func cleanNames(names []string) ([]string, string) {
	if len(names) > maxNames {
		return nil, fmt.Sprintf("must hold at most %d names", maxNames)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		if !rbac.ValidName(n) {
			return nil, fmt.Sprintf("%q is not a name: 1 to 64 lower case letters, digits, '_', '.' or '-'", n)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, ""
}

// setLinks makes member's g links to the roles (prefix "role:") or groups
// (prefix "group:") exactly names: links no longer named are removed and
// missing ones added. A role is any valid name; a group must exist.
func (s *Server) setLinks(tx *store.Tx, member, prefix string, names []string) error {
	if prefix == groupPrefix {
		for _, name := range names {
			if _, err := tx.Group(name); errors.Is(err, store.ErrNotFound) {
				return invalidInput(map[string]string{"groups": fmt.Sprintf("there is no group %q: create it first", name)})
			} else if err != nil {
				return err
			}
		}
	}
	rules, err := tx.RulesReferencing(member)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, r := range rules {
		if r.Type != "g" || len(r.Values) != 2 || r.Values[0] != member || !strings.HasPrefix(r.Values[1], prefix) {
			continue
		}
		have[r.Values[1]] = true
		if !slices.Contains(names, strings.TrimPrefix(r.Values[1], prefix)) {
			if _, err := tx.RemoveRule(r.ID); err != nil {
				return err
			}
		}
	}
	for _, name := range names {
		if have[prefix+name] {
			continue
		}
		if _, err := s.authz.AddRule(tx, "g", []string{member, prefix + name}); err != nil {
			return err
		}
	}
	return nil
}

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
	var count func(*store.Tx) int
	if q == "" {
		count = (*store.Tx).CountUsers
	}
	return listPage(c, s.db, p, func(tx *store.Tx) ([]store.User, string, error) { return tx.ListUsers(q, p) }, userViewInTx, count)
}

// handleUserCreate creates a user with roles (["user"] when none is given)
// and groups, in one transaction with their links.
func (s *Server) handleUserCreate(c echo.Context) error {
	var in api.CreateUserRequest
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	in.Email = canonicalEmail(in.Email)
	problems := map[string]string{}
	if p := checkEmail(in.Email); p != "" {
		problems["email"] = p
	}
	if p := checkPassword(in.Password); p != "" {
		problems["password"] = p
	}
	if p := checkName(in.Name); p != "" {
		problems["name"] = p
	}
	roles, p := cleanNames(in.Roles)
	if p != "" {
		problems["roles"] = p
	}
	groups, p := cleanNames(in.Groups)
	if p != "" {
		problems["groups"] = p
	}
	if len(problems) > 0 {
		return invalidInput(problems)
	}
	if len(roles) == 0 {
		roles = []string{"user"}
	}
	ctx := c.Request().Context()
	hash, err := s.hasher.hash(ctx, in.Password)
	if err != nil {
		return err
	}
	u := store.User{Email: in.Email, Name: in.Name, PasswordHash: hash}
	var out api.User
	err = s.mutateGranting(c, func(tx *store.Tx) error {
		if err := tx.CreateUser(&u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errEmailTaken
			}
			return err
		}
		sub := rbac.UserSubject(u.ID)
		if err := s.setLinks(tx, sub, rolePrefix, roles); err != nil {
			return err
		}
		if err := s.setLinks(tx, sub, groupPrefix, groups); err != nil {
			return err
		}
		var err error
		if out, err = userInTx(tx, u); err != nil {
			return err
		}
		return s.audit(c, tx, "user.create", sub, nil, out)
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
	var out api.User
	err = s.db.View(c.Request().Context(), func(tx *store.Tx) error {
		u, err := tx.User(id)
		if err != nil {
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
	problems := map[string]string{}
	if in.Name != nil {
		if p := checkName(*in.Name); p != "" {
			problems["name"] = p
		}
	}
	if in.Password != nil {
		if p := checkPassword(*in.Password); p != "" {
			problems["password"] = p
		}
	}
	var roles, groups []string
	if in.Roles != nil {
		var p string
		if roles, p = cleanNames(*in.Roles); p != "" {
			problems["roles"] = p
		}
	}
	if in.Groups != nil {
		var p string
		if groups, p = cleanNames(*in.Groups); p != "" {
			problems["groups"] = p
		}
	}
	if len(problems) > 0 {
		return invalidInput(problems)
	}
	ctx := c.Request().Context()
	var hash string
	if in.Password != nil {
		if err := refuseTokenCaller(c, callerOf(c)); err != nil {
			return err
		}
		if hash, err = s.hasher.hash(ctx, *in.Password); err != nil {
			return err
		}
	}
	var out api.User
	err = s.mutateGranting(c, func(tx *store.Tx) error {
		u, err := tx.User(id)
		if err != nil {
			return err
		}
		before, err := userInTx(tx, u)
		if err != nil {
			return err
		}
		if err := checkIfMatch(c, userWithETag(before).ETag); err != nil {
			return err
		}
		endSessions := hash != ""
		if in.Name != nil {
			u.Name = *in.Name
		}
		if in.Disabled != nil {
			endSessions = endSessions || (*in.Disabled && !u.Disabled)
			u.Disabled = *in.Disabled
		}
		if hash != "" {
			u.PasswordHash = hash
		}
		if err := tx.UpdateUser(&u); err != nil {
			return err
		}
		sub := rbac.UserSubject(u.ID)
		if in.Roles != nil {
			if err := s.setLinks(tx, sub, rolePrefix, roles); err != nil {
				return err
			}
		}
		if in.Groups != nil {
			if err := s.setLinks(tx, sub, groupPrefix, groups); err != nil {
				return err
			}
		}
		if endSessions {
			if _, err := tx.DeleteUserSessions(u.ID, store.KindSession); err != nil {
				return err
			}
		}
		// A password set by an admin is account recovery: the account may
		// have been in other hands, so its personal tokens end too.
		if hash != "" {
			if _, err := tx.DeleteUserSessions(u.ID, store.KindToken); err != nil {
				return err
			}
		}
		if out, err = userInTx(tx, u); err != nil {
			return err
		}
		if hash == "" && sameJSON(before, out) {
			return nil
		}
		return s.audit(c, tx, "user.update", sub, before, userChange{User: out, PasswordChanged: hash != ""})
	})
	if err != nil {
		return err
	}
	return userAnswer(c, http.StatusOK, out)
}

// handleUserDelete deletes a user with everything that is theirs, in one
// transaction: sessions, tokens, notes, and every rule naming them.
func (s *Server) handleUserDelete(c echo.Context) error {
	id, err := userIDParam(c, "id")
	if err != nil {
		return err
	}
	err = s.authz.Mutate(c.Request().Context(), func(tx *store.Tx) error {
		u, err := tx.User(id)
		if err != nil {
			return err
		}
		before, err := userInTx(tx, u)
		if err != nil {
			return err
		}
		sub := rbac.UserSubject(id)
		if _, err := tx.RemoveRulesReferencing(sub); err != nil {
			return err
		}
		if err := tx.DeleteUser(id); err != nil {
			return err
		}
		return s.audit(c, tx, "user.delete", sub, before, nil)
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// sessionsEnded is the audit record of ending a user's sessions.
type sessionsEnded struct {
	Sessions int `json:"sessions_ended"`
	Tokens   int `json:"tokens_revoked"`
}

// handleUserSessionsEnd ends every login session of a user and revokes
// their personal API tokens: what an admin does first when an account may
// be in the wrong hands.
func (s *Server) handleUserSessionsEnd(c echo.Context) error {
	id, err := userIDParam(c, "id")
	if err != nil {
		return err
	}
	err = s.db.Update(c.Request().Context(), func(tx *store.Tx) error {
		if _, err := tx.User(id); err != nil {
			return err
		}
		var ended sessionsEnded
		if ended.Sessions, err = tx.DeleteUserSessions(id, store.KindSession); err != nil {
			return err
		}
		if ended.Tokens, err = tx.DeleteUserSessions(id, store.KindToken); err != nil {
			return err
		}
		return s.audit(c, tx, "user.sessions.end", rbac.UserSubject(id), nil, ended)
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
