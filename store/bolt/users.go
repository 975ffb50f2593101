package bolt

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/store"
	"go.etcd.io/bbolt"
)

// users implements store.Users over the users bucket and its email and
// provider-identity indexes, kept in the same transaction.
type users struct{ *Tx }

// identityKey is the index key of a linked provider identity: both parts
// length-prefixed, so no issuer and subject can collide with another pair.
func identityKey(u *store.User) []byte {
	return []byte(store.RuleKey(u.Issuer, []string{u.Subject}))
}

// identityIndex is the identity index, nil in a file opened read-only that
// was made before the index existed (it then holds no linked user).
func (tx users) identityIndex() *bbolt.Bucket { return tx.bucket(bucketUsersByIdentity) }

func (tx users) Create(u *store.User) error {
	email := []byte(store.NormalizeEmail(u.Email))
	if tx.bucket(bucketUsersByEmail).Get(email) != nil {
		return fmt.Errorf("store: email %s: %w", u.Email, store.ErrConflict)
	}
	if u.Linked() && tx.identityIndex().Get(identityKey(u)) != nil {
		return fmt.Errorf("store: identity %s %s: %w", u.Issuer, u.Subject, store.ErrConflict)
	}
	id, err := tx.bucket(bucketUsers).NextSequence()
	if err != nil {
		return err
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, tx.now, tx.now
	if err := tx.bucket(bucketUsersByEmail).Put(email, itob(id)); err != nil {
		return err
	}
	if u.Linked() {
		if err := tx.identityIndex().Put(identityKey(u), itob(id)); err != nil {
			return err
		}
	}
	return tx.putJSON(bucketUsers, itob(id), u)
}

func (tx users) ByIdentity(issuer, subject string) (store.User, error) {
	var id []byte
	if idx := tx.identityIndex(); idx != nil && (issuer != "" || subject != "") {
		id = idx.Get(identityKey(&store.User{Issuer: issuer, Subject: subject}))
	}
	if id == nil {
		return store.User{}, fmt.Errorf("store: identity %s %s: %w", issuer, subject, store.ErrNotFound)
	}
	return tx.Get(btoi(id))
}

func (tx users) Get(id uint64) (store.User, error) {
	if u, ok := tx.cache.users.get(tx.tx, id); ok {
		return u, nil
	}
	var u store.User
	data := tx.bucket(bucketUsers).Get(itob(id))
	if data == nil {
		return u, fmt.Errorf("store: user %d: %w", id, store.ErrNotFound)
	}
	if err := json.Unmarshal(data, &u); err != nil {
		return u, fmt.Errorf("store: user %d: %w", id, err)
	}
	tx.cache.users.put(tx.tx, id, u, len(data))
	return u, nil
}

func (tx users) ByEmail(email string) (store.User, error) {
	id := tx.bucket(bucketUsersByEmail).Get([]byte(store.NormalizeEmail(email)))
	if id == nil {
		return store.User{}, fmt.Errorf("store: user %s: %w", email, store.ErrNotFound)
	}
	return tx.Get(btoi(id))
}

func (tx users) Update(u *store.User) error {
	old, err := tx.Get(u.ID)
	if err != nil {
		return err
	}
	if oldEmail, newEmail := store.NormalizeEmail(old.Email), store.NormalizeEmail(u.Email); oldEmail != newEmail {
		idx := tx.bucket(bucketUsersByEmail)
		if idx.Get([]byte(newEmail)) != nil {
			return fmt.Errorf("store: email %s: %w", u.Email, store.ErrConflict)
		}
		if err := idx.Delete([]byte(oldEmail)); err != nil {
			return err
		}
		if err := idx.Put([]byte(newEmail), itob(u.ID)); err != nil {
			return err
		}
	}
	if oldKey, newKey := identityKey(&old), identityKey(u); old.Linked() != u.Linked() || string(oldKey) != string(newKey) {
		idx := tx.identityIndex()
		if u.Linked() && idx.Get(newKey) != nil {
			return fmt.Errorf("store: identity %s %s: %w", u.Issuer, u.Subject, store.ErrConflict)
		}
		if old.Linked() {
			if err := idx.Delete(oldKey); err != nil {
				return err
			}
		}
		if u.Linked() {
			if err := idx.Put(newKey, itob(u.ID)); err != nil {
				return err
			}
		}
	}
	u.CreatedAt, u.UpdatedAt = old.CreatedAt, tx.now
	return tx.putJSON(bucketUsers, itob(u.ID), u)
}

func (tx users) Delete(id uint64) error {
	u, err := tx.Get(id)
	if err != nil {
		return err
	}
	if _, err := (sessions{tx.Tx}).DeleteOfUser(id, ""); err != nil {
		return err
	}
	if err := (docs{tx.Tx}).deleteOfOwner(id); err != nil {
		return err
	}
	if err := tx.bucket(bucketUsersByEmail).Delete([]byte(store.NormalizeEmail(u.Email))); err != nil {
		return err
	}
	if u.Linked() {
		if err := tx.identityIndex().Delete(identityKey(&u)); err != nil {
			return err
		}
	}
	return tx.bucket(bucketUsers).Delete(itob(id))
}

func (tx users) Count() (int, error) { return tx.bucket(bucketUsers).Stats().KeyN, nil }

func (tx users) Any() (bool, error) {
	k, _ := tx.bucket(bucketUsers).Cursor().First()
	return k != nil, nil
}

func (tx users) List(query string, p store.Page) ([]store.User, string, error) {
	query = strings.ToLower(query)
	var out []store.User
	next, err := scan(tx.bucket(bucketUsers), nil, true, p, false, func(_, v []byte) (bool, error) {
		var u store.User
		if err := json.Unmarshal(v, &u); err != nil {
			return false, err
		}
		if query != "" && !strings.Contains(strings.ToLower(u.Email), query) && !strings.Contains(strings.ToLower(u.Name), query) {
			return false, nil
		}
		out = append(out, u)
		return true, nil
	})
	return out, next, err
}
