package bolt

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// sessions implements store.Sessions: sessions are stored under the hash
// of their secret, indexed by id and by user.
type sessions struct{ *Tx }

func (tx sessions) Create(s *store.Session, hash []byte) error {
	if _, err := (users{tx.Tx}).Get(s.UserID); err != nil {
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

func (tx sessions) ByHash(hash []byte) (store.Session, error) {
	var key [sha256.Size]byte
	cacheable := len(hash) == len(key)
	if cacheable {
		copy(key[:], hash)
		if s, ok := tx.cache.sessions.get(tx.tx, key); ok {
			return s, nil
		}
	}
	var s store.Session
	data := tx.bucket(bucketSessions).Get(hash)
	if data == nil {
		return s, fmt.Errorf("store: session: %w", store.ErrNotFound)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("store: session: %w", err)
	}
	if cacheable {
		tx.cache.sessions.put(tx.tx, key, s, len(data))
	}
	return s, nil
}

func (tx sessions) Get(id uint64) (store.Session, error) {
	var s store.Session
	hash := tx.bucket(bucketSessionsByID).Get(itob(id))
	if hash == nil {
		return s, fmt.Errorf("store: session %d: %w", id, store.ErrNotFound)
	}
	err := tx.getJSON(bucketSessions, hash, &s)
	return s, err
}

func (tx sessions) Delete(id uint64) error {
	hash := tx.bucket(bucketSessionsByID).Get(itob(id))
	if hash == nil {
		return fmt.Errorf("store: session %d: %w", id, store.ErrNotFound)
	}
	var s store.Session
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

func (tx sessions) OfUser(userID uint64, kind string) ([]store.Session, error) {
	var out []store.Session
	c := tx.bucket(bucketSessionsByUser).Cursor()
	prefix := itob(userID)
	for k, hash := c.Seek(prefix); k != nil && len(k) == 16 && btoi(k[:8]) == userID; k, hash = c.Next() {
		var s store.Session
		if err := tx.getJSON(bucketSessions, hash, &s); err != nil {
			return nil, err
		}
		if kind == "" || s.Kind == kind {
			out = append(out, s)
		}
	}
	return out, nil
}

func (tx sessions) DeleteOfUser(userID uint64, kind string) (int, error) {
	list, err := tx.OfUser(userID, kind)
	if err != nil {
		return 0, err
	}
	for _, s := range list {
		if err := tx.Delete(s.ID); err != nil {
			return 0, err
		}
	}
	return len(list), nil
}

func (tx sessions) DeleteExpired(now time.Time, max int) (int, error) {
	var expired []uint64
	c := tx.bucket(bucketSessions).Cursor()
	for k, v := c.First(); k != nil && len(expired) < max; k, v = c.Next() {
		var s store.Session
		if err := json.Unmarshal(v, &s); err != nil {
			return 0, err
		}
		if s.Expired(now) {
			expired = append(expired, s.ID)
		}
	}
	for _, id := range expired {
		if err := tx.Delete(id); err != nil {
			return 0, err
		}
	}
	return len(expired), nil
}
