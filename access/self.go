package access

import (
	"context"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// What signed-in users do to their own account.

// UserByEmail returns the account with email (compared as the store
// compares emails), for a sign-in.
func (s *Service) UserByEmail(ctx context.Context, email string) (store.User, error) {
	var u store.User
	err := s.db.View(ctx, func(tx store.Tx) (err error) { u, err = tx.Users().ByEmail(email); return err })
	return u, err
}

// VerifyPassword reports whether password is the one whose hash is
// encoded, in constant time. An empty encoded (no such account) is checked
// against a dummy hash, the same work, and never matches: an unknown email
// and a wrong password look alike.
func (s *Service) VerifyPassword(ctx context.Context, password, encoded string) (bool, error) {
	return s.hasher.verify(ctx, password, encoded)
}

// OwnChange is a change a user makes to their own account; nil fields stay.
// A new Password needs the CurrentPassword, which Prove checks.
type OwnChange struct {
	Name            *string
	Password        *string
	CurrentPassword *string
	// Prove checks that the current password is right, once the fields
	// are valid and before anything is hashed or stored. The API counts it
	// as a login guess (a stolen session guesses no faster than a login
	// form allows); nil checks it against the stored hash alone.
	Prove func(current string) error
}

// UpdateOwn changes the name or password of user (as read for the
// request); a new password ends every other login session of theirs at
// once, but keep (the session making the change), and is audited.
func (s *Service) UpdateOwn(ctx context.Context, user store.User, keep uint64, in OwnChange) (api.User, error) {
	problems := checkChange(in.Name, in.Password)
	if in.Password != nil && in.CurrentPassword == nil {
		problems["current_password"] = "is needed to change the password"
	}
	if err := invalid(problems); err != nil {
		return api.User{}, err
	}
	var newHash string
	if in.Password != nil {
		if in.Prove != nil {
			if err := in.Prove(*in.CurrentPassword); err != nil {
				return api.User{}, err
			}
		} else if ok, err := s.hasher.verify(ctx, *in.CurrentPassword, user.PasswordHash); err != nil {
			return api.User{}, err
		} else if !ok {
			return api.User{}, invalid(map[string]string{"current_password": "is wrong"})
		}
		var err error
		if newHash, err = s.hasher.hash(ctx, *in.Password); err != nil {
			return api.User{}, err
		}
	}
	var out api.User
	err := s.db.Update(ctx, func(tx store.Tx) error {
		u, err := tx.Users().Get(user.ID)
		if err != nil {
			return err
		}
		if in.Name != nil {
			u.Name = *in.Name
		}
		if newHash != "" {
			u.PasswordHash = newHash
			if err := EndSessionsExcept(tx, u.ID, keep); err != nil {
				return err
			}
			if err := Record(tx, UserActor(user), "password.change", rbac.UserSubject(u.ID), nil,
				map[string]any{"by": "self", "other_sessions_ended": true}); err != nil {
				return err
			}
		}
		if err := tx.Users().Update(&u); err != nil {
			return err
		}
		out, err = UserView(tx, u)
		return err
	})
	return out, err
}
