package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// Bootstrap readies a new database: the seed policy when it has no rule,
// and the first admin when it has no user. With no password given it makes
// a random one and returns it, to be shown once.
func (s *Server) Bootstrap(ctx context.Context, seed []rbac.CSVRule, email, password string) (generated string, err error) {
	if _, err := s.authz.Seed(ctx, seed); err != nil {
		return "", err
	}
	var hasUsers bool
	if err := s.db.View(ctx, func(tx *store.Tx) error { hasUsers = tx.HasUsers(); return nil }); err != nil {
		return "", err
	}
	if hasUsers {
		return "", nil
	}
	if password == "" {
		var b [18]byte
		_, _ = rand.Read(b[:])
		password = base64.RawURLEncoding.EncodeToString(b[:])
		generated = password
	}
	if p := checkEmail(email); p != "" {
		return "", fmt.Errorf("admin email %q %s", email, p)
	}
	if p := checkPassword(password); p != "" {
		return "", fmt.Errorf("admin password %s", p)
	}
	_, err = s.CreateUser(ctx, email, "Admin", password, []string{"admin"})
	return generated, err
}

// CreateUser creates a user holding roles (bare names), in one
// transaction with their role links.
func (s *Server) CreateUser(ctx context.Context, email, name, password string, roles []string) (store.User, error) {
	return s.createUser(ctx, email, name, password, roles, nil)
}

// createUser is CreateUser with audit (when not nil) called in the same
// transaction, once the user and their links exist.
func (s *Server) createUser(ctx context.Context, email, name, password string, roles []string, audit func(*store.Tx, store.User) error) (store.User, error) {
	hash, err := s.hasher.hash(ctx, password)
	if err != nil {
		return store.User{}, err
	}
	u := store.User{Email: email, Name: name, PasswordHash: hash}
	err = s.authz.Mutate(ctx, func(tx *store.Tx) error {
		if err := tx.CreateUser(&u); err != nil {
			return err
		}
		for _, role := range roles {
			if _, err := s.authz.AddRule(tx, "g", []string{rbac.UserSubject(u.ID), "role:" + role}); err != nil {
				return err
			}
		}
		if audit != nil {
			return audit(tx, u)
		}
		return nil
	})
	return u, err
}
