package app

import (
	"context"
	"errors"
)

// What the offline tools of cmd/gatehouse (user create, user passwd) need
// of the server's rules, so that an account made on the database file is
// exactly like one made through the API.

// HashPassword checks a new password against the server's rules (12 to 128
// characters) and returns its argon2id hash, as the server stores it.
func HashPassword(ctx context.Context, password string) (string, error) {
	if p := checkPassword(password); p != "" {
		return "", errors.New("password " + p)
	}
	h := &hasher{slots: make(chan struct{}, 1)}
	return h.hash(ctx, password)
}

// CanonicalEmail is the form the server keeps an email in (trimmed, NFKC):
// the offline tools store and look up the same form.
func CanonicalEmail(email string) string { return canonicalEmail(email) }

// CheckEmail returns an error saying what is wrong with an email address
// for an account, or nil.
func CheckEmail(email string) error {
	if p := checkEmail(email); p != "" {
		return errors.New("email " + p)
	}
	return nil
}
