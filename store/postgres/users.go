package postgres

import (
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
)

// users implements store.Users over the users table.
type users struct{ *Tx }

const userColumns = `id, email, name, password_hash, disabled, mfa_enabled, mfa_secret, mfa_pending, mfa_last_step, created_at, updated_at, issuer, subject`

func scanUser(r pgx.Row) (store.User, error) {
	var u store.User
	err := r.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &u.Disabled,
		&u.MFA.Enabled, &u.MFA.Secret, &u.MFA.Pending, &u.MFA.LastStep, &u.CreatedAt, &u.UpdatedAt, &u.Issuer, &u.Subject)
	u.CreatedAt, u.UpdatedAt = utc(u.CreatedAt), utc(u.UpdatedAt)
	return u, err
}

// emailTaken reports whether another user than id holds email.
func (tx users) emailTaken(email string, id uint64) error {
	var other uint64
	err := tx.scanOne("user by email", "SELECT id FROM users WHERE email_key = $1", []any{store.NormalizeEmail(email)}, &other)
	switch {
	case err == nil && other != id:
		return fmt.Errorf("store: email %s: %w", email, store.ErrConflict)
	case err == nil, isNotFound(err):
		return nil
	}
	return err
}

// identityTaken reports whether another user than id is linked to u's
// provider identity.
func (tx users) identityTaken(u *store.User, id uint64) error {
	if !u.Linked() {
		return nil
	}
	var other uint64
	err := tx.scanOne("user by identity", "SELECT id FROM users WHERE issuer = $1 AND subject = $2", []any{u.Issuer, u.Subject}, &other)
	switch {
	case err == nil && other != id:
		return fmt.Errorf("store: identity %s %s: %w", u.Issuer, u.Subject, store.ErrConflict)
	case err == nil, isNotFound(err):
		return nil
	}
	return err
}

func (tx users) Create(u *store.User) error {
	// The unique indexes decide a race; the checks first keep the usual
	// case from aborting the transaction.
	if err := tx.emailTaken(u.Email, 0); err != nil {
		return err
	}
	if err := tx.identityTaken(u, 0); err != nil {
		return err
	}
	u.CreatedAt, u.UpdatedAt = tx.now, tx.now
	return tx.scanOne("create user", `INSERT INTO users (email, email_key, email_lower, name, name_lower, password_hash,
		disabled, mfa_enabled, mfa_secret, mfa_pending, mfa_last_step, created_at, updated_at, issuer, subject)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14) RETURNING id`,
		[]any{u.Email, store.NormalizeEmail(u.Email), lower(u.Email), u.Name, lower(u.Name), u.PasswordHash,
			u.Disabled, u.MFA.Enabled, u.MFA.Secret, u.MFA.Pending, u.MFA.LastStep, tx.now, u.Issuer, u.Subject}, &u.ID)
}

func (tx users) ByIdentity(issuer, subject string) (store.User, error) {
	what := "identity " + issuer + " " + subject
	if issuer == "" && subject == "" {
		return store.User{}, fmt.Errorf("store: %s: %w", what, store.ErrNotFound)
	}
	u, err := scanUser(tx.tx.QueryRow(tx.ctx, "SELECT "+userColumns+" FROM users WHERE issuer = $1 AND subject = $2", issuer, subject))
	return u, tx.rowErr(what, err)
}

func (tx users) Get(id uint64) (store.User, error) {
	u, err := scanUser(tx.tx.QueryRow(tx.ctx, "SELECT "+userColumns+" FROM users WHERE id = $1", id))
	return u, tx.rowErr(fmt.Sprintf("user %d", id), err)
}

func (tx users) ByEmail(email string) (store.User, error) {
	u, err := scanUser(tx.tx.QueryRow(tx.ctx, "SELECT "+userColumns+" FROM users WHERE email_key = $1", store.NormalizeEmail(email)))
	return u, tx.rowErr("user "+email, err)
}

func (tx users) Update(u *store.User) error {
	if err := tx.emailTaken(u.Email, u.ID); err != nil {
		return err
	}
	if err := tx.identityTaken(u, u.ID); err != nil {
		return err
	}
	err := tx.scanOne(fmt.Sprintf("user %d", u.ID), `UPDATE users SET email = $2, email_key = $3, email_lower = $4,
		name = $5, name_lower = $6, password_hash = $7, disabled = $8, mfa_enabled = $9, mfa_secret = $10,
		mfa_pending = $11, mfa_last_step = $12, updated_at = $13, issuer = $14, subject = $15 WHERE id = $1 RETURNING created_at`,
		[]any{u.ID, u.Email, store.NormalizeEmail(u.Email), lower(u.Email), u.Name, lower(u.Name),
			u.PasswordHash, u.Disabled, u.MFA.Enabled, u.MFA.Secret, u.MFA.Pending, u.MFA.LastStep, tx.now, u.Issuer, u.Subject}, &u.CreatedAt)
	u.CreatedAt, u.UpdatedAt = utc(u.CreatedAt), tx.now
	return err
}

// Delete removes the user; their sessions, tokens and owned resources go
// with them (ON DELETE CASCADE).
func (tx users) Delete(id uint64) error {
	n, err := tx.exec("delete user", "DELETE FROM users WHERE id = $1", id)
	if err == nil && n == 0 {
		err = fmt.Errorf("store: user %d: %w", id, store.ErrNotFound)
	}
	return err
}

func (tx users) Count() (int, error) {
	var n int
	err := tx.scanOne("count users", "SELECT count(*) FROM users", nil, &n)
	return n, err
}

func (tx users) Any() (bool, error) {
	var any bool
	err := tx.scanOne("any user", "SELECT EXISTS (SELECT 1 FROM users)", nil, &any)
	return any, err
}

func (tx users) List(query string, p store.Page) ([]store.User, string, error) {
	after, err := p.ID()
	if err != nil {
		return nil, "", err
	}
	list, err := collect(tx.Tx, "list users", "SELECT "+userColumns+` FROM users
		WHERE id > $1 AND ($2 = '' OR strpos(email_lower, $2) > 0 OR strpos(name_lower, $2) > 0)
		ORDER BY id LIMIT $3`, []any{after, strings.ToLower(query), p.Size() + 1}, scanUser)
	if err != nil {
		return nil, "", err
	}
	list, next := page(list, p, func(u store.User) string { return store.IDCursor(u.ID) })
	return list, next, nil
}

// lower folds s as the list's search does (Go's rules, not the database
// locale's).
func lower(s string) string { return strings.ToLower(s) }
