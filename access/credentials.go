package access

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/store"
)

// Credentials: login sessions and personal API tokens. A credential is a
// store.Session found by the SHA-256 of its secret; the secret itself is
// made and shown by the API (app) and never reaches the store.

// MaxTokensPerUser is how many live personal tokens one user may have.
const MaxTokensPerUser = 100

// Bounds of personal tokens.
const (
	maxTokenNameLen  = 100
	minTokenLifetime = time.Minute
	maxTokenLifetime = 10 * 365 * 24 * time.Hour
)

// Authenticate finds the live credential whose secret hashes to hash and
// its enabled user, and the resource doc when the request names one, all
// read in one go (store.CredentialReader: one read transaction on bbolt,
// one statement on PostgreSQL). An unknown, expired or disabled credential
// is store.ErrNotFound.
//
// The policy in memory is brought up to the version read with it
// (rbac.Authorizer.CatchUpTo): when several instances share the store, the
// request is never decided on a policy older than one committed before it
// began.
func (s *Service) Authenticate(ctx context.Context, hash []byte, doc store.DocRef) (store.Credential, error) {
	c, err := s.db.ReadCredential(ctx, hash, doc)
	if err != nil {
		return store.Credential{}, err
	}
	if c.Session.Expired(s.now()) || c.User.Disabled {
		return store.Credential{}, store.ErrNotFound
	}
	if s.authz != nil {
		if err := s.authz.CatchUpTo(ctx, c.Version); err != nil {
			return store.Credential{}, err
		}
	}
	return c, nil
}

// CatchUp brings the policy in memory up to the store's current version,
// for a request without credentials (Authenticate does it for the others)
// when several processes write the store. It reads one row.
func (s *Service) CatchUp(ctx context.Context) error {
	if s.authz == nil {
		return nil
	}
	return s.authz.Refresh(ctx)
}

// StartSession stores a login session of user under the hash of its
// secret, lasting ttl; mfa says the login proved the second factor.
func (s *Service) StartSession(ctx context.Context, user store.User, hash []byte, mfa bool, ttl time.Duration) (store.Session, error) {
	now := s.now().UTC()
	sess := store.Session{UserID: user.ID, Kind: store.KindSession, MFA: mfa, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	err := s.db.Update(ctx, func(tx store.Tx) error { return tx.Sessions().Create(&sess, hash) })
	return sess, err
}

// EndSession ends the login session with id (a sign-out); one that is gone
// already is not an error.
func (s *Service) EndSession(ctx context.Context, id uint64) error {
	err := s.db.Update(ctx, func(tx store.Tx) error { return tx.Sessions().Delete(id) })
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// Tokens returns the user's personal tokens that have not expired, in id
// order.
func (s *Service) Tokens(ctx context.Context, userID uint64) ([]store.Session, error) {
	var out []store.Session
	err := s.db.View(ctx, func(tx store.Tx) (err error) {
		out, err = liveTokens(tx, userID, s.now())
		return err
	})
	return out, err
}

func liveTokens(tx store.Tx, userID uint64, now time.Time) ([]store.Session, error) {
	all, err := tx.Sessions().OfUser(userID, store.KindToken)
	if err != nil {
		return nil, err
	}
	live := all[:0]
	for _, t := range all {
		if !t.Expired(now) {
			live = append(live, t)
		}
	}
	return live, nil
}

// NewToken is a personal API token to make.
type NewToken struct {
	Name     string
	ReadOnly bool
	// ExpiresIn is a duration like 720h; "" for a token that does not
	// expire.
	ExpiresIn string
	// Password is the account's password, which making a token needs;
	// Prove checks it once the fields are valid (the API counts it as a
	// login guess, so a stolen session cannot mint a credential that
	// outlives it). A user linked to an identity provider has none: Prove
	// then checks their fresh sign-in at the provider, and without Prove
	// the token is refused.
	Password string
	Prove    func(password string) error
	// Session is the login session making the token (0: none): the token
	// is made only while it still exists.
	Session uint64
}

// ErrTooManyTokens refuses a token to a user who has the most already.
var ErrTooManyTokens = &Error{Kind: Conflict, Message: "you have 100 tokens: revoke one first"}

// CreateToken makes a personal token for user under the hash of its secret,
// with its audit record, and returns it.
func (s *Service) CreateToken(ctx context.Context, user store.User, in NewToken, hash []byte) (store.Session, error) {
	problems := map[string]string{}
	name := strings.TrimSpace(in.Name)
	if n := utf8.RuneCountInString(name); n < 1 || n > maxTokenNameLen || CheckName(name) != "" {
		problems["name"] = "must be 1 to 100 printable characters"
	}
	if in.Password == "" && !user.Linked() {
		problems["password"] = "is required: making a token needs your password"
	}
	var lifetime time.Duration
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d < minTokenLifetime || d > maxTokenLifetime {
			problems["expires_in"] = "must be a duration like 720h, from 1m to 87600h (ten years); leave it out for a token that does not expire"
		}
		lifetime = d
	}
	if err := invalid(problems); err != nil {
		return store.Session{}, err
	}
	if in.Prove != nil {
		if err := in.Prove(in.Password); err != nil {
			return store.Session{}, err
		}
	} else if user.Linked() {
		// A provider-linked user has no password: only the caller can
		// check their proof (a fresh sign-in at the provider).
		return store.Session{}, invalid(map[string]string{"password": "cannot prove a user linked to an identity provider"})
	} else if ok, err := s.hasher.verify(ctx, in.Password, user.PasswordHash); err != nil {
		return store.Session{}, err
	} else if !ok {
		return store.Session{}, invalid(map[string]string{"password": "is wrong"})
	}
	now := s.now().UTC()
	t := store.Session{UserID: user.ID, Kind: store.KindToken, Name: name, ReadOnly: in.ReadOnly, CreatedAt: now}
	if lifetime > 0 {
		t.ExpiresAt = now.Add(lifetime)
	}
	err := s.db.Update(ctx, func(tx store.Tx) error {
		stored, err := tx.Users().Get(user.ID)
		if err != nil {
			return err
		}
		if err := stillCurrent(tx, user, stored, in.Session); err != nil {
			return err
		}
		live, err := liveTokens(tx, user.ID, now)
		if err != nil {
			return err
		}
		if len(live) >= MaxTokensPerUser {
			return ErrTooManyTokens
		}
		if err := tx.Sessions().Create(&t, hash); err != nil {
			return err
		}
		return Record(tx, UserActor(user), "token.create", tokenTarget(t), nil, tokenAuditState(t))
	})
	return t, err
}

// RevokeToken revokes one of user's tokens: the next request made with it
// is refused.
func (s *Service) RevokeToken(ctx context.Context, user store.User, t store.Session) error {
	return s.db.Update(ctx, func(tx store.Tx) error {
		if err := tx.Sessions().Delete(t.ID); err != nil {
			return err
		}
		return Record(tx, UserActor(user), "token.revoke", tokenTarget(t), tokenAuditState(t), nil)
	})
}

func tokenTarget(t store.Session) string { return "token:" + store.FormatID(t.ID) }

// tokenAuditState is what the audit log keeps of a token: never its secret
// or hash.
func tokenAuditState(t store.Session) map[string]any {
	state := map[string]any{"name": t.Name, "read_only": t.ReadOnly, "user_id": store.FormatID(t.UserID)}
	if !t.ExpiresAt.IsZero() {
		state["expires_at"] = t.ExpiresAt
	}
	return state
}
