package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
)

// credentialQuery reads a request's credential in one statement, so in one
// round trip and one snapshot: the session of a hash, its user, the policy
// version and, when $2 names a kind, the resource $3 of it (no row of docs
// when there is none: the columns are NULL). pgx prepares it once per
// connection.
var credentialQuery = `SELECT s.id, s.user_id, s.kind, s.name, s.read_only, s.mfa, s.created_at, s.expires_at,
	u.id, u.email, u.name, u.password_hash, u.disabled, u.mfa_enabled, u.mfa_secret, u.mfa_pending, u.mfa_last_step,
	u.created_at, u.updated_at, u.issuer, u.subject,
	p.version,
	d.id, d.owner_id, d.data::text, d.created_at, d.updated_at
FROM sessions s
JOIN users u ON u.id = s.user_id
CROSS JOIN policy p
LEFT JOIN docs d ON d.kind = $2 AND d.id = $3
WHERE s.hash = $1`

// ReadCredential reads a request's credential, its user, the policy
// version and the resource doc names with one statement (store.Credential).
func (db *DB) ReadCredential(ctx context.Context, hash []byte, doc store.DocRef) (store.Credential, error) {
	if doc.Kind != "" {
		if err := checkKind(doc.Kind); err != nil {
			return store.Credential{}, err
		}
	}
	ctx, cancel := db.bound(ctx)
	defer cancel()
	var c store.Credential
	s, u := &c.Session, &c.User
	var expires *time.Time
	var docID, owner *uint64
	var data *string
	var docCreated, docUpdated *time.Time
	err := db.pool.QueryRow(ctx, credentialQuery, hash, doc.Kind, doc.ID).Scan(
		&s.ID, &s.UserID, &s.Kind, &s.Name, &s.ReadOnly, &s.MFA, &s.CreatedAt, &expires,
		&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Disabled, &u.MFA.Enabled, &u.MFA.Secret, &u.MFA.Pending, &u.MFA.LastStep,
		&u.CreatedAt, &u.UpdatedAt, &u.Issuer, &u.Subject,
		&c.Version,
		&docID, &owner, &data, &docCreated, &docUpdated)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return store.Credential{}, fmt.Errorf("store: session: %w", store.ErrNotFound)
	case err != nil:
		return store.Credential{}, unavailable("credential", err)
	}
	s.CreatedAt = utc(s.CreatedAt)
	if expires != nil {
		s.ExpiresAt = utc(*expires)
	}
	u.CreatedAt, u.UpdatedAt = utc(u.CreatedAt), utc(u.UpdatedAt)
	switch {
	case doc.Kind == "":
	case docID == nil:
		c.DocErr = fmt.Errorf("store: %s %d: %w", doc.Kind, doc.ID, store.ErrNotFound)
	default:
		c.Doc = store.Doc{
			Owned: store.Owned{ID: *docID, OwnerID: *owner, CreatedAt: utc(*docCreated), UpdatedAt: utc(*docUpdated)},
			Data:  json.RawMessage(*data),
		}
	}
	return c, nil
}
