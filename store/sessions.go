package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Session kinds.
const (
	KindSession = "session" // made by login
	KindToken   = "token"   // a personal API token
)

// Session is a login session or a personal API token. Only the SHA-256 of
// its secret is stored; the secret itself never touches the disk.
type Session struct {
	ID        uint64    `json:"id"`
	UserID    uint64    `json:"user_id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name,omitempty"`
	ReadOnly  bool      `json:"read_only,omitempty"`
	MFA       bool      `json:"mfa,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"` // zero: never
}

// Expired reports whether the session has expired at now.
func (s Session) Expired(now time.Time) bool {
	return !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt)
}

// CreateSession stores s under the hash of its secret and sets its ID (and
// CreatedAt, unless the caller set it by its own clock).
func (tx *Tx) CreateSession(s *Session, hash []byte) error {
	if _, err := tx.User(s.UserID); err != nil {
		return err
	}
	id, err := tx.bucket(bucketSessions).NextSequence()
	if err != nil {
		return err
	}
	s.ID = id
	if s.CreatedAt.IsZero() {
		s.CreatedAt = tx.now
	}
	if err := tx.bucket(bucketSessionsByID).Put(itob(id), hash); err != nil {
		return err
	}
	if err := tx.bucket(bucketSessionsByUser).Put(concat(itob(s.UserID), itob(id)), hash); err != nil {
		return err
	}
	return tx.putJSON(bucketSessions, hash, s)
}

// SessionByHash returns the session whose secret hashes to hash, expired
// or not: the caller judges expiry by its own clock.
func (tx *Tx) SessionByHash(hash []byte) (Session, error) {
	var s Session
	if err := tx.getJSON(bucketSessions, hash, &s); err != nil {
		return s, fmt.Errorf("store: session: %w", err)
	}
	return s, nil
}

// Session returns the session with id, expired or not.
func (tx *Tx) Session(id uint64) (Session, error) {
	var s Session
	hash := tx.bucket(bucketSessionsByID).Get(itob(id))
	if hash == nil {
		return s, fmt.Errorf("store: session %d: %w", id, ErrNotFound)
	}
	err := tx.getJSON(bucketSessions, hash, &s)
	return s, err
}

// DeleteSession removes the session with id.
func (tx *Tx) DeleteSession(id uint64) error {
	hash := tx.bucket(bucketSessionsByID).Get(itob(id))
	if hash == nil {
		return fmt.Errorf("store: session %d: %w", id, ErrNotFound)
	}
	var s Session
	if err := tx.getJSON(bucketSessions, hash, &s); err != nil {
		return err
	}
	hash = append([]byte(nil), hash...)
	if err := tx.bucket(bucketSessionsByUser).Delete(concat(itob(s.UserID), itob(id))); err != nil {
		return err
	}
	if err := tx.bucket(bucketSessionsByID).Delete(itob(id)); err != nil {
		return err
	}
	return tx.bucket(bucketSessions).Delete(hash)
}

// UserSessions returns a user's sessions of kind ("" for all kinds).
func (tx *Tx) UserSessions(userID uint64, kind string) ([]Session, error) {
	var out []Session
	c := tx.bucket(bucketSessionsByUser).Cursor()
	prefix := itob(userID)
	for k, hash := c.Seek(prefix); k != nil && len(k) == 16 && btoi(k[:8]) == userID; k, hash = c.Next() {
		var s Session
		if err := tx.getJSON(bucketSessions, hash, &s); err != nil {
			return nil, err
		}
		if kind == "" || s.Kind == kind {
			out = append(out, s)
		}
	}
	return out, nil
}

// DeleteUserSessions removes a user's sessions of kind ("" for all kinds,
// tokens included) and returns how many it removed.
func (tx *Tx) DeleteUserSessions(userID uint64, kind string) (int, error) {
	sessions, err := tx.UserSessions(userID, kind)
	if err != nil {
		return 0, err
	}
	for _, s := range sessions {
		if err := tx.DeleteSession(s.ID); err != nil {
			return 0, err
		}
	}
	return len(sessions), nil
}

// DeleteExpiredSessions removes sessions expired at now, at most max of
// them, and returns how many it removed.
func (tx *Tx) DeleteExpiredSessions(now time.Time, max int) (int, error) {
	var expired []uint64
	c := tx.bucket(bucketSessions).Cursor()
	for k, v := c.First(); k != nil && len(expired) < max; k, v = c.Next() {
		var s Session
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, err
		}
		if s.Expired(now) {
			expired = append(expired, s.ID)
		}
	}
	for _, id := range expired {
		if err := tx.DeleteSession(id); err != nil {
			return 0, err
		}
	}
	return len(expired), nil
}
