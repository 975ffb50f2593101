package app

import (
	"context"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// Bootstrap readies a new database (access.Service.Bootstrap): the seed
// policy when it has no rule, and the first admin when it has no user. With
// no password given it makes a random one and returns it, to be shown once.
func (s *Server) Bootstrap(ctx context.Context, seed []rbac.CSVRule, email, password string) (generated string, err error) {
	return s.access.Bootstrap(ctx, seed, email, password)
}

// UpgradePolicy replaces the rules of an older seed policy that the
// current one superseded (access.Service.UpgradePolicy), as one audited
// policy change, and returns what it replaced.
func (s *Server) UpgradePolicy(ctx context.Context) ([]access.PolicyUpgrade, error) {
	return s.access.UpgradePolicy(ctx)
}

// CreateUser creates an account holding roles (bare names) through the one
// account-creation path, recorded as made by the offline tools. For tools
// and tests that need accounts without going through the API.
func (s *Server) CreateUser(ctx context.Context, email, name, password string, roles []string) (store.User, error) {
	v, err := s.access.CreateUser(ctx, access.Offline, access.NewUser{Email: email, Name: name, Password: password, Roles: roles})
	if err != nil {
		return store.User{}, err
	}
	id, err := store.ParseID(v.ID)
	if err != nil {
		return store.User{}, err
	}
	var u store.User
	err = s.db.View(ctx, func(tx store.Tx) (err error) { u, err = tx.Users().Get(id); return err })
	return u, err
}
