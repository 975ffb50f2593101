package postgres

import (
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
)

// sessions implements store.Sessions over the sessions table, found by
// the hash of their secret.
type sessions struct{ *Tx }

const sessionColumns = `id, user_id, kind, name, read_only, mfa, created_at, expires_at`

func scanSession(r pgx.Row) (store.Session, error) {
	var s store.Session
	var expires *time.Time
	err := r.Scan(&s.ID, &s.UserID, &s.Kind, &s.Name, &s.ReadOnly, &s.MFA, &s.CreatedAt, &expires)
	s.CreatedAt = utc(s.CreatedAt)
	if expires != nil {
		s.ExpiresAt = utc(*expires)
	}
	return s, err
}

func (tx sessions) Create(s *store.Session, hash []byte) error {
	if _, err := (users{tx.Tx}).Get(s.UserID); err != nil {
		return err
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = tx.now
	}
	s.CreatedAt, s.ExpiresAt = micro(s.CreatedAt), micro(s.ExpiresAt)
	var expires *time.Time
	if !s.ExpiresAt.IsZero() {
		expires = &s.ExpiresAt
	}
	return tx.scanOne("create session", `INSERT INTO sessions (hash, user_id, kind, name, read_only, mfa, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		[]any{hash, s.UserID, s.Kind, s.Name, s.ReadOnly, s.MFA, s.CreatedAt, expires}, &s.ID)
}

func (tx sessions) ByHash(hash []byte) (store.Session, error) {
	s, err := scanSession(tx.tx.QueryRow(tx.ctx, "SELECT "+sessionColumns+" FROM sessions WHERE hash = $1", hash))
	return s, tx.rowErr("session", err)
}

func (tx sessions) Get(id uint64) (store.Session, error) {
	s, err := scanSession(tx.tx.QueryRow(tx.ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = $1", id))
	return s, tx.rowErr(fmt.Sprintf("session %d", id), err)
}

func (tx sessions) Delete(id uint64) error {
	n, err := tx.exec("delete session", "DELETE FROM sessions WHERE id = $1", id)
	if err == nil && n == 0 {
		err = fmt.Errorf("store: session %d: %w", id, store.ErrNotFound)
	}
	return err
}

func (tx sessions) OfUser(userID uint64, kind string) ([]store.Session, error) {
	return collect(tx.Tx, "sessions of user", "SELECT "+sessionColumns+` FROM sessions
		WHERE user_id = $1 AND ($2 = '' OR kind = $2) ORDER BY id`, []any{userID, kind}, scanSession)
}

func (tx sessions) DeleteOfUser(userID uint64, kind string) (int, error) {
	n, err := tx.exec("delete sessions of user", "DELETE FROM sessions WHERE user_id = $1 AND ($2 = '' OR kind = $2)", userID, kind)
	return int(n), err
}

func (tx sessions) DeleteExpired(now time.Time, max int) (int, error) {
	n, err := tx.exec("delete expired sessions", `DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2)`, now, max)
	return int(n), err
}
