// Package access carries out gatehouse's business operations: who has an
// account and how it changes, how a user's sessions end, who may do what
// (roles, groups, the policy), and the audit log that records it all. Each
// operation lives in one place, used alike by the HTTP handlers of app, the
// offline tools of cmd/gatehouse and the start-up of a new database: it
// checks its input, hashes passwords, runs one store transaction that keeps
// the invariants, and records the change in the audit log of that same
// transaction.
//
// It knows no HTTP framework: refusals a client may see are *Error values,
// which app turns into answers and the command line into one line of text.
// It does build the views of app/api (wire types, standard library only):
// the audit log records each thing as the API shows it, so the one view
// builder serves answers and audit records alike.
package access

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// Service runs the operations over one store and its policy.
type Service struct {
	db     store.Store
	authz  *rbac.Authorizer
	hasher *hasher
	now    func() time.Time
}

// Config tunes a Service.
type Config struct {
	// HashConcurrency bounds how many password hashes run at once; each
	// takes about 19 MiB. Zero means the number of CPUs.
	HashConcurrency int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// New returns the service over db, whose policy authz holds. authz may be
// nil for a tool that changes no policy (the operations that need it then
// fail).
func New(db store.Store, authz *rbac.Authorizer, cfg Config) (*Service, error) {
	h, err := newHasher(cfg.HashConcurrency)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{db: db, authz: authz, hasher: h, now: cfg.Now}, nil
}

// Actor is who makes a change, as the audit log names them: a user (ID and
// email), or a tool with ID 0 and its name.
type Actor struct {
	ID   uint64
	Name string
	// MayGrant decides whether the actor may make a change that gives an
	// enabled user the admin role by another way than a policy rule (a
	// user's roles, a group's roles, a membership, re-enabling an admin):
	// such a change is a policy change, and the API decides it as its
	// policy route (app). nil lets the change through: the offline tools
	// and start-up act for the operator.
	MayGrant func() error
}

// anonymous reports whether who names nobody (a sign-up acts as the new
// user).
func (who Actor) anonymous() bool { return who.ID == 0 && who.Name == "" }

// Actors that are not users.
var (
	// Offline is the offline tools of the command line.
	Offline = Actor{Name: "offline"}
	// Startup is the server readying a new database.
	Startup = Actor{Name: "bootstrap"}
)

// UserActor is the user u acting.
func UserActor(u store.User) Actor { return Actor{ID: u.ID, Name: u.Email} }

// Kind is the kind of a refusal.
type Kind int

// Kinds of refusal.
const (
	// Invalid: the input has problems, named by field in Details.
	Invalid Kind = iota + 1
	// Conflict: the change clashes with what is stored.
	Conflict
)

// Error is a refusal a client may be shown: its Message says why, and for
// Invalid its Details say what is wrong with each field.
type Error struct {
	Kind    Kind
	Message string
	Details map[string]string
}

// Error is the message with the problem of each field, for a log or the
// command line.
func (e *Error) Error() string {
	if len(e.Details) == 0 {
		return e.Message
	}
	keys := slices.Sorted(maps.Keys(e.Details))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + e.Details[k]
	}
	return e.Message + ": " + strings.Join(parts, "; ")
}

// invalid refuses input with problems by field, or is nil when there are
// none.
func invalid(problems map[string]string) error {
	if len(problems) == 0 {
		return nil
	}
	return &Error{Kind: Invalid, Message: "the request has invalid fields", Details: problems}
}

// ErrEmailTaken refuses an account for an email another account has.
var ErrEmailTaken = &Error{Kind: Conflict, Message: "an account with this email exists"}

// Unwrap makes a Conflict match store.ErrConflict.
func (e *Error) Unwrap() error {
	if e.Kind == Conflict {
		return store.ErrConflict
	}
	return nil
}

// mutateGranting is mutate that refuses (rolling back) a change after which
// an enabled user reaches role:admin who did not before, unless who may
// grant it (Actor.MayGrant).
func (s *Service) mutateGranting(ctx context.Context, who Actor, fn func(tx store.Tx) error) error {
	return s.mutate(ctx, func(tx store.Tx) error {
		before, err := rbac.AdminUsers(tx)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			return err
		}
		if who.MayGrant == nil {
			return nil
		}
		after, err := rbac.AdminUsers(tx)
		if err != nil {
			return err
		}
		for id := range after {
			if !before[id] {
				return who.MayGrant()
			}
		}
		return nil
	})
}

// mutate runs fn in one policy-aware transaction (rbac.Authorizer.Mutate):
// rules fn changes reach the decisions once it commits, and a change that
// leaves no enabled admin is refused.
func (s *Service) mutate(ctx context.Context, fn func(tx store.Tx) error) error {
	if s.authz == nil {
		return errors.New("access: this change touches the policy, and no policy was loaded")
	}
	return s.authz.Mutate(ctx, fn)
}
