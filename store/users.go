package store

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// User is a stored user. Roles and group memberships are not here: they are
// policy rules, so that one source decides access.
type User struct {
	ID           uint64    `json:"id"`
	Email        string    `json:"email"`
	Name         string    `json:"name"`
	PasswordHash string    `json:"password_hash"`
	Disabled     bool      `json:"disabled,omitempty"`
	MFA          MFA       `json:"mfa"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// MFA is a user's second factor. Pending holds a secret set up but not yet
// confirmed; LastStep is the TOTP time step last accepted, so that a code is
// never accepted twice.
type MFA struct {
	Enabled  bool   `json:"enabled,omitempty"`
	Secret   string `json:"secret,omitempty"`
	Pending  string `json:"pending,omitempty"`
	LastStep int64  `json:"last_step,omitempty"`
}

// NormalizeEmail is the form under which emails are unique: Unicode NFKC
// (compatibility look-alikes such as the Kelvin sign become the letters
// they stand for), then lower case, so emails compare case-insensitively
// and a look-alike is the same address.
func NormalizeEmail(email string) string {
	return strings.ToLower(norm.NFKC.String(strings.TrimSpace(email)))
}

// CreateUser stores a new user and sets its ID and timestamps. A taken email
// is ErrConflict.
func (tx *Tx) CreateUser(u *User) error {
	email := []byte(NormalizeEmail(u.Email))
	if tx.bucket(bucketUsersByEmail).Get(email) != nil {
		return fmt.Errorf("store: email %s: %w", u.Email, ErrConflict)
	}
	id, err := tx.bucket(bucketUsers).NextSequence()
	if err != nil {
		return err
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, tx.now, tx.now
	if err := tx.bucket(bucketUsersByEmail).Put(email, itob(id)); err != nil {
		return err
	}
	return tx.putJSON(bucketUsers, itob(id), u)
}

// User returns the user with id.
func (tx *Tx) User(id uint64) (User, error) {
	var u User
	if err := tx.getJSON(bucketUsers, itob(id), &u); err != nil {
		return u, fmt.Errorf("store: user %d: %w", id, err)
	}
	return u, nil
}

// UserByEmail returns the user with email, compared case-insensitively.
func (tx *Tx) UserByEmail(email string) (User, error) {
	id := tx.bucket(bucketUsersByEmail).Get([]byte(NormalizeEmail(email)))
	if id == nil {
		return User{}, fmt.Errorf("store: user %s: %w", email, ErrNotFound)
	}
	return tx.User(btoi(id))
}

// UpdateUser stores u over the user with its ID, keeping the email index.
func (tx *Tx) UpdateUser(u *User) error {
	old, err := tx.User(u.ID)
	if err != nil {
		return err
	}
	if oldEmail, newEmail := NormalizeEmail(old.Email), NormalizeEmail(u.Email); oldEmail != newEmail {
		idx := tx.bucket(bucketUsersByEmail)
		if idx.Get([]byte(newEmail)) != nil {
			return fmt.Errorf("store: email %s: %w", u.Email, ErrConflict)
		}
		if err := idx.Delete([]byte(oldEmail)); err != nil {
			return err
		}
		if err := idx.Put([]byte(newEmail), itob(u.ID)); err != nil {
			return err
		}
	}
	u.CreatedAt, u.UpdatedAt = old.CreatedAt, tx.now
	return tx.putJSON(bucketUsers, itob(u.ID), u)
}

// DeleteUser removes a user with their sessions, tokens and notes. Their
// policy rules are the caller's to remove in the same transaction.
func (tx *Tx) DeleteUser(id uint64) error {
	u, err := tx.User(id)
	if err != nil {
		return err
	}
	if _, err := tx.DeleteUserSessions(id, ""); err != nil {
		return err
	}
	if err := tx.deleteUserNotes(id); err != nil {
		return err
	}
	if err := tx.bucket(bucketUsersByEmail).Delete([]byte(NormalizeEmail(u.Email))); err != nil {
		return err
	}
	return tx.bucket(bucketUsers).Delete(itob(id))
}

// CountUsers returns how many users there are.
func (tx *Tx) CountUsers() int { return tx.bucket(bucketUsers).Stats().KeyN }

// HasUsers reports whether any user exists.
func (tx *Tx) HasUsers() bool {
	k, _ := tx.bucket(bucketUsers).Cursor().First()
	return k != nil
}

// ListUsers returns a page of users in id order. A non-empty query keeps
// users whose email or name contains it, case-insensitively.
func (tx *Tx) ListUsers(query string, p Page) ([]User, string, error) {
	query = strings.ToLower(query)
	var out []User
	next, err := scan(tx.bucket(bucketUsers), nil, p, false, func(_, v []byte) (bool, error) {
		var u User
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
