package access

import (
	"context"
	"errors"

	"github.com/gatehouse/gatehouse/store"
)

// Users linked to an OpenID Connect provider. A verified token names its
// issuer and subject; the pair reaches one gatehouse user, made on the
// first use of such a token through the one account-creation path
// (createUserTx: role user, audited as user.link by the new user). Such a
// user has no password: they prove themselves with a token of the
// provider, and everything else (roles, groups, disabling, the last-admin
// guard, personal tokens) is as for any user. An email already held by
// another account is never linked to it: whoever controls an email at the
// provider must not take over a local account of that address.

// Identity is who a verified provider token names.
type Identity struct {
	Issuer, Subject string
	// Email and Name are those of the token at first use; later tokens
	// reach the same user whatever email they carry.
	Email, Name string
}

// ErrIdentityEmailTaken refuses a first use whose email belongs to another
// account.
var ErrIdentityEmailTaken = &Error{Kind: Conflict, Message: "the token's email belongs to another account, which is not linked to this identity"}

// LinkedUser returns the user linked to id, creating them on first use.
// The caller checks whether the user is disabled. Two first uses at once
// make one user: the store refuses a second user with the same identity,
// and the loser reads the winner's.
func (s *Service) LinkedUser(ctx context.Context, id Identity) (store.User, error) {
	u, err := s.linkedUser(ctx, id)
	if err == nil || !errors.Is(err, store.ErrNotFound) {
		return u, err
	}
	in := NewUser{Email: CanonicalEmail(id.Email), Name: id.Name, Roles: []string{"user"}}
	problems := map[string]string{}
	if p := CheckEmail(in.Email); p != "" {
		problems["email"] = p
	}
	if CheckName(in.Name) != "" {
		in.Name = ""
	}
	if err := invalid(problems); err != nil {
		return store.User{}, err
	}
	err = s.mutate(ctx, func(tx store.Tx) error {
		found, err := tx.Users().ByIdentity(id.Issuer, id.Subject)
		if err == nil {
			u = found
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		_, u, err = s.createUserTx(tx, Actor{}, "user.link", in, store.User{Issuer: id.Issuer, Subject: id.Subject})
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		// Another process linked the identity first, or the email is
		// taken by another account.
		if u, err := s.linkedUser(ctx, id); err == nil {
			return u, nil
		}
		return store.User{}, ErrIdentityEmailTaken
	}
	return u, err
}

// linkedUser reads the user linked to id. Like Authenticate, the same read
// brings the policy in memory up to the version it sees, so that when
// several instances share the store a provider token's request is never
// decided on a policy older than one committed before it began.
func (s *Service) linkedUser(ctx context.Context, id Identity) (store.User, error) {
	var u store.User
	err := s.db.View(ctx, func(tx store.Tx) (err error) {
		if u, err = tx.Users().ByIdentity(id.Issuer, id.Subject); err != nil || s.authz == nil {
			return err
		}
		return s.authz.CatchUp(tx)
	})
	return u, err
}
