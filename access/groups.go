package access

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// Groups. A group is a stored name and description; its roles (g, group:x,
// role:y) and members (g, user:7, group:x) are rules of the policy, changed
// in a policy transaction like every rule.

const maxDescriptionLen = 500

// GroupView is g as the API shows it, with roles and members read from tx
// so that it sees the transaction's own changes. Members are user ids;
// groups nested in g show in the policy, not here.
func GroupView(tx store.Tx, g store.Group) (api.Group, error) {
	out := api.Group{Name: g.Name, Description: g.Description, CreatedAt: g.CreatedAt, Roles: []string{}, Members: []string{}}
	sub := groupPrefix + g.Name
	rules, err := tx.Rules().Referencing(sub)
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
	if utf8.RuneCountInString(d) > maxDescriptionLen || HasHiddenRune(d) {
		return fmt.Sprintf("must be at most %d printable characters, without control, format or text-direction characters", maxDescriptionLen)
	}
	return ""
}

// Group reads the group called name as the API shows it.
func (s *Service) Group(ctx context.Context, name string) (api.Group, error) {
	var out api.Group
	err := s.db.View(ctx, func(tx store.Tx) error {
		g, err := tx.Groups().Get(name)
		if err != nil {
			return err
		}
		out, err = GroupView(tx, g)
		return err
	})
	return out, err
}

// ErrGroupExists refuses a group whose name is taken.
var ErrGroupExists = &Error{Kind: Conflict, Message: "a group with this name exists"}

// CreateGroup creates a group holding roles (bare names).
func (s *Service) CreateGroup(ctx context.Context, who Actor, name, description string, roles []string) (api.Group, error) {
	problems := map[string]string{}
	if !rbac.ValidName(name) {
		problems["name"] = "must be 1 to 64 lower case letters, digits, '_', '.' or '-', starting with a letter or digit"
	}
	if p := checkDescription(description); p != "" {
		problems["description"] = p
	}
	roles, p := CleanNames(roles)
	if p != "" {
		problems["roles"] = p
	}
	if err := invalid(problems); err != nil {
		return api.Group{}, err
	}
	var out api.Group
	err := s.mutateGranting(ctx, who, func(tx store.Tx) error {
		g := store.Group{Name: name, Description: description}
		if err := tx.Groups().Create(&g); errors.Is(err, store.ErrConflict) {
			return ErrGroupExists
		} else if err != nil {
			return err
		}
		if err := s.setLinks(tx, groupPrefix+g.Name, rolePrefix, roles); err != nil {
			return err
		}
		var err error
		if out, err = GroupView(tx, g); err != nil {
			return err
		}
		return Record(tx, who, "group.create", groupPrefix+g.Name, nil, out)
	})
	return out, err
}

// UpdateGroup sets a group's description or roles (when not nil); roles
// replace the whole list. ifMatch (when set) checks the group as read in
// the transaction. A change that changes nothing is not recorded.
func (s *Service) UpdateGroup(ctx context.Context, who Actor, name string, description *string, roles *[]string, ifMatch func(api.Group) error) (api.Group, error) {
	problems := map[string]string{}
	if description != nil {
		if p := checkDescription(*description); p != "" {
			problems["description"] = p
		}
	}
	var clean []string
	if roles != nil {
		var p string
		if clean, p = CleanNames(*roles); p != "" {
			problems["roles"] = p
		}
	}
	if err := invalid(problems); err != nil {
		return api.Group{}, err
	}
	var out api.Group
	err := s.mutateGranting(ctx, who, func(tx store.Tx) error {
		g, err := tx.Groups().Get(name)
		if err != nil {
			return err
		}
		before, err := GroupView(tx, g)
		if err != nil {
			return err
		}
		if ifMatch != nil {
			if err := ifMatch(before); err != nil {
				return err
			}
		}
		if description != nil {
			g.Description = *description
			if err := tx.Groups().Update(&g); err != nil {
				return err
			}
		}
		if roles != nil {
			if err := s.setLinks(tx, groupPrefix+name, rolePrefix, clean); err != nil {
				return err
			}
		}
		if out, err = GroupView(tx, g); err != nil {
			return err
		}
		if SameJSON(before, out) {
			return nil
		}
		return Record(tx, who, "group.update", groupPrefix+name, before, out)
	})
	return out, err
}

// groupDeleted is a deleted group in the audit log, with the rules that
// went with it, so that it can be rebuilt.
type groupDeleted struct {
	api.Group
	Rules []api.Rule `json:"rules"`
}

// DeleteGroup deletes a group with every rule naming it: its roles, its
// memberships and the rules that grant it anything.
func (s *Service) DeleteGroup(ctx context.Context, who Actor, name string) error {
	return s.mutate(ctx, func(tx store.Tx) error {
		g, err := tx.Groups().Get(name)
		if err != nil {
			return err
		}
		before, err := GroupView(tx, g)
		if err != nil {
			return err
		}
		removed, err := tx.Rules().RemoveReferencing(groupPrefix + name)
		if err != nil {
			return err
		}
		if err := tx.Groups().Delete(name); err != nil {
			return err
		}
		return Record(tx, who, "group.delete", groupPrefix+name, groupDeleted{Group: before, Rules: RuleViews(removed)}, nil)
	})
}

// membership is a change of membership in the audit log.
type membership struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

// groupAndUser loads the group called name and the user with id, and
// checks ifMatch (when set) against the group as read in tx.
func groupAndUser(tx store.Tx, name string, id uint64, ifMatch func(api.Group) error) (store.Group, store.User, error) {
	g, err := tx.Groups().Get(name)
	if err != nil {
		return g, store.User{}, err
	}
	u, err := tx.Users().Get(id)
	if err != nil || ifMatch == nil {
		return g, u, err
	}
	before, err := GroupView(tx, g)
	if err != nil {
		return g, u, err
	}
	return g, u, ifMatch(before)
}

// AddMember puts a user in a group and returns the group as it is
// afterwards. Putting a member again changes nothing and is not an error.
// ifMatch (when set) checks the group as read in the transaction.
func (s *Service) AddMember(ctx context.Context, who Actor, name string, userID uint64, ifMatch func(api.Group) error) (api.Group, error) {
	var out api.Group
	err := s.mutateGranting(ctx, who, func(tx store.Tx) error {
		g, u, err := groupAndUser(tx, name, userID, ifMatch)
		if err != nil {
			return err
		}
		link := []string{rbac.UserSubject(u.ID), groupPrefix + g.Name}
		if _, err := tx.Rules().Find("g", link); err != nil {
			if _, err := s.authz.AddRule(tx, "g", link); err != nil {
				return err
			}
			if err := Record(tx, who, "group.member.add", groupPrefix+g.Name, nil, membership{UserID: store.FormatID(u.ID), Email: u.Email}); err != nil {
				return err
			}
		}
		out, err = GroupView(tx, g)
		return err
	})
	return out, err
}

// ErrNotMember refuses to take out of a group a user who is not in it.
var ErrNotMember = fmt.Errorf("this user is not a member of this group: %w", store.ErrNotFound)

// RemoveMember takes a user out of a group and returns the group as it is
// afterwards; ErrNotMember when they are not in it.
func (s *Service) RemoveMember(ctx context.Context, who Actor, name string, userID uint64, ifMatch func(api.Group) error) (api.Group, error) {
	var out api.Group
	err := s.mutate(ctx, func(tx store.Tx) error {
		g, u, err := groupAndUser(tx, name, userID, ifMatch)
		if err != nil {
			return err
		}
		r, err := tx.Rules().Find("g", []string{rbac.UserSubject(u.ID), groupPrefix + g.Name})
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotMember
		} else if err != nil {
			return err
		}
		if _, err := tx.Rules().Remove(r.ID); err != nil {
			return err
		}
		if err := Record(tx, who, "group.member.remove", groupPrefix+g.Name, membership{UserID: store.FormatID(u.ID), Email: u.Email}, nil); err != nil {
			return err
		}
		out, err = GroupView(tx, g)
		return err
	})
	return out, err
}
