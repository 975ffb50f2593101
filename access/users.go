package access

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// Users. A user's roles and groups are g rules of the policy, so every
// change that touches them runs in one policy transaction with its audit
// record: visible to the very next request, refused when it would leave no
// enabled admin.

const (
	rolePrefix  = "role:"
	groupPrefix = "group:"
)

// UserView is u as the API shows it, with the roles and groups the policy
// links them to directly, read from tx (so that it sees the transaction's
// own changes). It is the one builder of api.User: answers and audit
// records show users alike.
func UserView(tx store.Tx, u store.User) (api.User, error) {
	out := api.User{
		ID: store.FormatID(u.ID), Email: u.Email, Name: u.Name, Disabled: u.Disabled,
		MFAEnabled: u.MFA.Enabled, CreatedAt: u.CreatedAt, Roles: []string{}, Groups: []string{},
		Provider: u.Issuer,
	}
	sub := rbac.UserSubject(u.ID)
	rules, err := tx.Rules().Referencing(sub)
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

// User reads the user with id as the API shows them.
func (s *Service) User(ctx context.Context, id uint64) (api.User, error) {
	var out api.User
	err := s.db.View(ctx, func(tx store.Tx) error {
		u, err := tx.Users().Get(id)
		if err != nil {
			return err
		}
		out, err = UserView(tx, u)
		return err
	})
	return out, err
}

// NewUser is an account to create.
type NewUser struct {
	Email, Name, Password string
	// Roles and Groups are bare names; no roles means ["user"].
	Roles, Groups []string
}

// check trims and checks the fields of an account to create.
func (in *NewUser) check() error {
	in.Email = CanonicalEmail(in.Email)
	problems := map[string]string{}
	if p := CheckEmail(in.Email); p != "" {
		problems["email"] = p
	}
	if p := CheckPassword(in.Password); p != "" {
		problems["password"] = p
	}
	if p := CheckName(in.Name); p != "" {
		problems["name"] = p
	}
	var p string
	if in.Roles, p = CleanNames(in.Roles); p != "" {
		problems["roles"] = p
	}
	if in.Groups, p = CleanNames(in.Groups); p != "" {
		problems["groups"] = p
	}
	if len(in.Roles) == 0 {
		in.Roles = []string{"user"}
	}
	return invalid(problems)
}

// CreateUser creates an account with its roles and groups (which must
// exist), in one transaction with its links and the audit record of who
// made it.
func (s *Service) CreateUser(ctx context.Context, who Actor, in NewUser) (api.User, error) {
	return s.createUser(ctx, who, "user.create", in)
}

// Register creates the account of someone signing themselves up, with the
// role user; the audit log names the new user as who made it.
func (s *Service) Register(ctx context.Context, email, name, password string) (api.User, error) {
	return s.createUser(ctx, Actor{}, "user.register", NewUser{Email: email, Name: name, Password: password})
}

// createUser is the one way accounts are made. A zero who is the new user
// themself.
func (s *Service) createUser(ctx context.Context, who Actor, action string, in NewUser) (api.User, error) {
	if err := in.check(); err != nil {
		return api.User{}, err
	}
	hash, err := s.hasher.hash(ctx, in.Password)
	if err != nil {
		return api.User{}, err
	}
	var out api.User
	err = s.mutateGranting(ctx, who, func(tx store.Tx) (err error) {
		out, _, err = s.createUserTx(tx, who, action, in, store.User{PasswordHash: hash})
		return err
	})
	return out, err
}

// createUserTx stores u (its password hash or provider identity set by the
// caller) with in's email, name, roles and groups, and its audit record.
func (s *Service) createUserTx(tx store.Tx, who Actor, action string, in NewUser, u store.User) (api.User, store.User, error) {
	u.Email, u.Name = in.Email, in.Name
	if err := tx.Users().Create(&u); errors.Is(err, store.ErrConflict) {
		return api.User{}, u, ErrEmailTaken
	} else if err != nil {
		return api.User{}, u, err
	}
	sub := rbac.UserSubject(u.ID)
	if err := s.setLinks(tx, sub, rolePrefix, in.Roles); err != nil {
		return api.User{}, u, err
	}
	if err := s.setLinks(tx, sub, groupPrefix, in.Groups); err != nil {
		return api.User{}, u, err
	}
	out, err := UserView(tx, u)
	if err != nil {
		return out, u, err
	}
	if who.anonymous() {
		who = UserActor(u)
	}
	return out, u, Record(tx, who, action, sub, nil, out)
}

// Bootstrap readies a new database: the seed policy when it has no rule,
// and the first admin when it has no user, in one transaction, so that
// processes starting together on an empty database make one policy and one
// admin. With no password given it makes a random one and returns it, to
// be shown once; it returns "" when the database had a user already.
func (s *Service) Bootstrap(ctx context.Context, seed []rbac.CSVRule, email, password string) (generated string, err error) {
	var hasUsers bool
	if err := s.db.View(ctx, func(tx store.Tx) (err error) { hasUsers, err = tx.Users().Any(); return err }); err != nil {
		return "", err
	}
	var admin NewUser
	var hash string
	if !hasUsers {
		if password == "" {
			var b [18]byte
			_, _ = rand.Read(b[:])
			password = base64.RawURLEncoding.EncodeToString(b[:])
			generated = password
		}
		admin = NewUser{Email: email, Name: "Admin", Password: password, Roles: []string{"admin"}}
		if err := admin.check(); err != nil {
			var e *Error
			if errors.As(err, &e) {
				if p, ok := e.Details["email"]; ok {
					return "", fmt.Errorf("admin email %q %s", email, p)
				}
				if p, ok := e.Details["password"]; ok {
					return "", fmt.Errorf("admin password %s", p)
				}
			}
			return "", err
		}
		if hash, err = s.hasher.hash(ctx, password); err != nil {
			return "", err
		}
	}
	created := false
	err = s.mutate(ctx, func(tx store.Tx) error {
		created = false
		if _, err := s.authz.SeedTx(tx, seed); err != nil {
			return err
		}
		if hash == "" {
			return nil
		}
		// Checked again inside the transaction: another process may have
		// made the first admin since the look above.
		if any, err := tx.Users().Any(); err != nil || any {
			return err
		}
		created = true
		_, _, err := s.createUserTx(tx, Startup, "user.create", admin, store.User{PasswordHash: hash})
		return err
	})
	if err != nil || !created {
		return "", err
	}
	return generated, nil
}

// checkChange returns the problems of the name and new password of a
// change to an account, either of which may be absent.
func checkChange(name, password *string) map[string]string {
	problems := map[string]string{}
	if name != nil {
		if p := CheckName(*name); p != "" {
			problems["name"] = p
		}
	}
	if password != nil {
		if p := CheckPassword(*password); p != "" {
			problems["password"] = p
		}
	}
	return problems
}

// UserChange is a change to an account; nil fields stay as they are, Roles
// and Groups replace the whole list.
type UserChange struct {
	// IfMatch, when set, checks the user as read inside the change's
	// transaction, before anything changes (the API's If-Match).
	IfMatch  func(before api.User) error
	Name     *string
	Disabled *bool
	Password *string
	Roles    *[]string
	Groups   *[]string
}

// Updated is what UpdateUser did.
type Updated struct {
	User api.User
	// SessionsEnded is how many login sessions the change ended, and
	// TokensRevoked how many personal tokens.
	SessionsEnded, TokensRevoked int
}

// UpdateUser changes a user's name, disabled flag, roles, groups or
// password. Disabling a user ends their login sessions at once; setting
// their password is account recovery (the account may have been in other
// hands), so it ends their sessions and revokes their personal tokens too.
// A change that changes nothing is not recorded.
func (s *Service) UpdateUser(ctx context.Context, who Actor, id uint64, in UserChange) (Updated, error) {
	problems := checkChange(in.Name, in.Password)
	var roles, groups []string
	if in.Roles != nil {
		var p string
		if roles, p = CleanNames(*in.Roles); p != "" {
			problems["roles"] = p
		}
	}
	if in.Groups != nil {
		var p string
		if groups, p = CleanNames(*in.Groups); p != "" {
			problems["groups"] = p
		}
	}
	if err := invalid(problems); err != nil {
		return Updated{}, err
	}
	var hash string
	if in.Password != nil {
		var err error
		if hash, err = s.hasher.hash(ctx, *in.Password); err != nil {
			return Updated{}, err
		}
	}
	// Only changes of roles, groups or the disabled flag can change who is
	// an admin: the others need no policy transaction (nor a model, for
	// the offline password reset).
	run := func(ctx context.Context, fn func(tx store.Tx) error) error { return s.mutateGranting(ctx, who, fn) }
	if in.Roles == nil && in.Groups == nil && in.Disabled == nil {
		run = s.db.Update
	}
	var out Updated
	err := run(ctx, func(tx store.Tx) error {
		out = Updated{}
		u, err := tx.Users().Get(id)
		if err != nil {
			return err
		}
		before, err := UserView(tx, u)
		if err != nil {
			return err
		}
		if in.IfMatch != nil {
			if err := in.IfMatch(before); err != nil {
				return err
			}
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
		if err := tx.Users().Update(&u); err != nil {
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
			if out.SessionsEnded, err = tx.Sessions().DeleteOfUser(u.ID, store.KindSession); err != nil {
				return err
			}
		}
		if hash != "" {
			if out.TokensRevoked, err = tx.Sessions().DeleteOfUser(u.ID, store.KindToken); err != nil {
				return err
			}
		}
		if out.User, err = UserView(tx, u); err != nil {
			return err
		}
		if hash == "" && SameJSON(before, out.User) {
			return nil
		}
		return Record(tx, who, "user.update", sub, before, userChange{User: out.User, PasswordChanged: hash != ""})
	})
	return out, err
}

// userChange is a user in the audit log: the API view, and whether the
// password changed (never the password or its hash).
type userChange struct {
	api.User
	PasswordChanged bool `json:"password_changed,omitempty"`
}

// DeleteUser deletes a user with everything that is theirs, in one
// transaction: sessions, tokens, owned resources, and every rule naming
// them.
func (s *Service) DeleteUser(ctx context.Context, who Actor, id uint64) error {
	return s.mutate(ctx, func(tx store.Tx) error {
		u, err := tx.Users().Get(id)
		if err != nil {
			return err
		}
		before, err := UserView(tx, u)
		if err != nil {
			return err
		}
		sub := rbac.UserSubject(id)
		if _, err := tx.Rules().RemoveReferencing(sub); err != nil {
			return err
		}
		if err := tx.Users().Delete(id); err != nil {
			return err
		}
		return Record(tx, who, "user.delete", sub, before, nil)
	})
}

// sessionsEnded is the audit record of ending a user's sessions.
type sessionsEnded struct {
	Sessions int `json:"sessions_ended"`
	Tokens   int `json:"tokens_revoked"`
}

// EndSessions ends every login session of a user and revokes their
// personal API tokens: what an admin does first when an account may be in
// the wrong hands.
func (s *Service) EndSessions(ctx context.Context, who Actor, id uint64) error {
	return s.db.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Users().Get(id); err != nil {
			return err
		}
		var ended sessionsEnded
		var err error
		if ended.Sessions, err = tx.Sessions().DeleteOfUser(id, store.KindSession); err != nil {
			return err
		}
		if ended.Tokens, err = tx.Sessions().DeleteOfUser(id, store.KindToken); err != nil {
			return err
		}
		return Record(tx, who, "user.sessions.end", rbac.UserSubject(id), nil, ended)
	})
}

// ResetSecondFactor turns off a user's second factor, for someone who lost
// their authenticator app. It also ends the user's login sessions but keep
// (the admin's own current one, or 0): a session that proved the lost
// factor would otherwise keep counting as verified, even once the user
// enrolls a new one, and whoever holds the lost device may hold such a
// session. Personal tokens stay: they never counted as a second factor.
func (s *Service) ResetSecondFactor(ctx context.Context, who Actor, id, keep uint64) error {
	return s.db.Update(ctx, func(tx store.Tx) error {
		u, err := tx.Users().Get(id)
		if err != nil {
			return err
		}
		before := map[string]any{"mfa_enabled": u.MFA.Enabled, "mfa_pending": u.MFA.Pending != ""}
		u.MFA = store.MFA{}
		if err := tx.Users().Update(&u); err != nil {
			return err
		}
		if err := EndSessionsExcept(tx, id, keep); err != nil {
			return err
		}
		after := map[string]any{"mfa_enabled": false, "mfa_pending": false, "sessions_ended": true}
		return Record(tx, who, "mfa.reset", rbac.UserSubject(id), before, after)
	})
}

// EndSessionsExcept ends a user's login sessions but keep (0 for none), in
// tx. Personal API tokens are revoked separately.
func EndSessionsExcept(tx store.Tx, userID, keep uint64) error {
	sessions, err := tx.Sessions().OfUser(userID, store.KindSession)
	if err != nil {
		return err
	}
	for _, sess := range sessions {
		if sess.ID == keep {
			continue
		}
		if err := tx.Sessions().Delete(sess.ID); err != nil {
			return err
		}
	}
	return nil
}

// setLinks makes member's g links to the roles (prefix "role:") or groups
// (prefix "group:") exactly names: links no longer named are removed and
// missing ones added. A role is any valid name; a group must exist.
func (s *Service) setLinks(tx store.Tx, member, prefix string, names []string) error {
	if prefix == groupPrefix {
		for _, name := range names {
			if _, err := tx.Groups().Get(name); errors.Is(err, store.ErrNotFound) {
				return invalid(map[string]string{"groups": fmt.Sprintf("there is no group %q: create it first", name)})
			} else if err != nil {
				return err
			}
		}
	}
	rules, err := tx.Rules().Referencing(member)
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
			if _, err := tx.Rules().Remove(r.ID); err != nil {
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

// roleChange is the audit record of one role given or taken.
type roleChange struct {
	Role string `json:"role"`
}

// ErrNoSuchRole refuses to take from a user a role they do not hold
// directly (a role held through a group is the group's).
var ErrNoSuchRole = fmt.Errorf("this user does not hold this role directly: %w", store.ErrNotFound)

// AddUserRole gives a user one role, sending only the change, so that two
// admins adding different roles both keep theirs. Giving it again changes
// nothing. ifMatch (when set) checks the user as read in the transaction.
// It returns the user as they are afterwards.
func (s *Service) AddUserRole(ctx context.Context, who Actor, id uint64, role string, ifMatch func(api.User) error) (api.User, error) {
	return s.changeUserRole(ctx, who, id, role, true, ifMatch)
}

// RemoveUserRole takes one role from a user; ErrNoSuchRole when they do
// not hold it directly.
func (s *Service) RemoveUserRole(ctx context.Context, who Actor, id uint64, role string, ifMatch func(api.User) error) (api.User, error) {
	return s.changeUserRole(ctx, who, id, role, false, ifMatch)
}

func (s *Service) changeUserRole(ctx context.Context, who Actor, id uint64, role string, add bool, ifMatch func(api.User) error) (api.User, error) {
	if !rbac.ValidName(role) {
		return api.User{}, fmt.Errorf("role %q: %w", role, store.ErrNotFound)
	}
	var out api.User
	err := s.mutateGranting(ctx, who, func(tx store.Tx) error {
		u, err := tx.Users().Get(id)
		if err != nil {
			return err
		}
		if ifMatch != nil {
			before, err := UserView(tx, u)
			if err != nil {
				return err
			}
			if err := ifMatch(before); err != nil {
				return err
			}
		}
		link := []string{rbac.UserSubject(u.ID), rolePrefix + role}
		r, err := tx.Rules().Find("g", link)
		switch {
		case add && errors.Is(err, store.ErrNotFound):
			if _, err := s.authz.AddRule(tx, "g", link); err != nil {
				return err
			}
			if err := Record(tx, who, "user.role.add", link[0], nil, roleChange{Role: role}); err != nil {
				return err
			}
		case !add && errors.Is(err, store.ErrNotFound):
			return ErrNoSuchRole
		case err != nil:
			return err
		case !add:
			if _, err := tx.Rules().Remove(r.ID); err != nil {
				return err
			}
			if err := Record(tx, who, "user.role.remove", link[0], roleChange{Role: role}, nil); err != nil {
				return err
			}
		}
		out, err = UserView(tx, u)
		return err
	})
	return out, err
}
