package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
)

var _ store.Dumper = (*DB)(nil)

// dumpChunk is how many records Dump reads per query: no query is open
// while fn runs.
const dumpChunk = 1000

// dumpTable reads a table in key order, chunk by chunk, and calls fn for
// each record.
func dumpTable[T any](tx *Tx, query string, scan func(pgx.Row) (T, error), key func(T) []any, first []any, fn func(T) error) error {
	after := first
	for {
		chunk, err := collect(tx, "dump", query, append(append([]any{}, after...), dumpChunk), scan)
		if err != nil {
			return err
		}
		for _, v := range chunk {
			if err := fn(v); err != nil {
				return err
			}
		}
		if len(chunk) < dumpChunk {
			return nil
		}
		after = key(chunk[len(chunk)-1])
	}
}

// Dump calls fn for every record, from one snapshot.
func (db *DB) Dump(ctx context.Context, fn func(store.Record) error) error {
	return db.View(ctx, func(stx store.Tx) error {
		tx := stx.(*Tx)
		id := func(v uint64) []any { return []any{v} }
		zero := []any{0}
		steps := []func() error{
			func() error {
				return dumpTable(tx, "SELECT "+userColumns+" FROM users WHERE id > $1 ORDER BY id LIMIT $2", scanUser,
					func(u store.User) []any { return id(u.ID) }, zero, func(u store.User) error { return fn(store.Record{User: &u}) })
			},
			func() error {
				return dumpTable(tx, "SELECT name, description, created_at FROM groups WHERE name > $1 ORDER BY name LIMIT $2", scanGroup,
					func(g store.Group) []any { return []any{g.Name} }, []any{""}, func(g store.Group) error { return fn(store.Record{Group: &g}) })
			},
			func() error {
				return dumpTable(tx, "SELECT id, type, vals FROM rules WHERE id > $1 ORDER BY id LIMIT $2", scanRule,
					func(r store.Rule) []any { return id(r.ID) }, zero, func(r store.Rule) error { return fn(store.Record{Rule: &r}) })
			},
			func() error {
				scan := func(r pgx.Row) (store.SessionRecord, error) {
					var s store.SessionRecord
					var expires *time.Time
					err := r.Scan(&s.ID, &s.UserID, &s.Kind, &s.Name, &s.ReadOnly, &s.MFA, &s.CreatedAt, &expires, &s.Hash)
					s.CreatedAt = utc(s.CreatedAt)
					if expires != nil {
						s.ExpiresAt = utc(*expires)
					}
					return s, err
				}
				return dumpTable(tx, "SELECT "+sessionColumns+", hash FROM sessions WHERE id > $1 ORDER BY id LIMIT $2", scan,
					func(s store.SessionRecord) []any { return id(s.ID) }, zero, func(s store.SessionRecord) error { return fn(store.Record{Session: &s}) })
			},
			func() error {
				type kindDoc struct {
					kind string
					doc  store.Doc
				}
				scan := func(r pgx.Row) (kindDoc, error) {
					var k kindDoc
					var data string
					err := r.Scan(&k.kind, &k.doc.ID, &k.doc.OwnerID, &data, &k.doc.CreatedAt, &k.doc.UpdatedAt)
					k.doc.Data = []byte(data)
					k.doc.CreatedAt, k.doc.UpdatedAt = utc(k.doc.CreatedAt), utc(k.doc.UpdatedAt)
					return k, err
				}
				return dumpTable(tx, "SELECT kind, "+docColumns+" FROM docs WHERE (kind, id) > ($1::text, $2::bigint) ORDER BY kind, id LIMIT $3",
					scan, func(k kindDoc) []any { return []any{k.kind, k.doc.ID} }, []any{"", 0},
					func(k kindDoc) error { return fn(store.Record{Doc: &store.DocRecord{Kind: k.kind, Doc: k.doc}}) })
			},
			func() error {
				return dumpTable(tx, "SELECT id, time, actor_id, actor, action, target, before::text, after::text FROM audit WHERE id > $1 ORDER BY id LIMIT $2", scanAudit,
					func(r store.AuditRecord) []any { return id(r.ID) }, zero, func(r store.AuditRecord) error { return fn(store.Record{Audit: &r}) })
			},
			func() error {
				return dumpTable(tx, "SELECT "+failureColumns+" FROM auth_failures WHERE id > $1 ORDER BY id LIMIT $2", scanFailure,
					func(f store.AuthFailure) []any { return id(f.ID) }, zero, func(f store.AuthFailure) error { return fn(store.Record{Failure: &f}) })
			},
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Empty reports whether no table holds a record.
func (db *DB) Empty(ctx context.Context) (bool, error) {
	var any bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM groups)
		OR EXISTS (SELECT 1 FROM rules) OR EXISTS (SELECT 1 FROM sessions) OR EXISTS (SELECT 1 FROM docs)
		OR EXISTS (SELECT 1 FROM audit) OR EXISTS (SELECT 1 FROM auth_failures)`).Scan(&any)
	return !any, err
}

// Load inserts whole records, ids included, in one transaction, then moves
// every id sequence past the largest id.
func (db *DB) Load(ctx context.Context, next func() (store.Record, error)) error {
	// next is read once: a serialization retry could not read it again.
	// An empty database has no concurrent writer worth waiting for, so the
	// transaction takes a lock on the policy row instead of retrying.
	pgtx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted})
	if err != nil {
		return writeFailed(err)
	}
	defer pgtx.Rollback(context.WithoutCancel(ctx))
	tx := newTx(ctx, pgtx)
	if _, err := tx.exec("lock", "LOCK TABLE users, groups, rules, sessions, docs, audit, auth_failures, policy IN EXCLUSIVE MODE"); err != nil {
		return err
	}
	if empty, err := db.emptyTx(tx); err != nil {
		return err
	} else if !empty {
		return fmt.Errorf("store: the database holds data: %w", store.ErrConflict)
	}
	rules := false
	for {
		rec, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		rules = rules || rec.Rule != nil
		if err := tx.load(rec); err != nil {
			return err
		}
	}
	for _, table := range []string{"users", "rules", "sessions", "audit"} {
		if _, err := tx.exec("sequence of "+table, fmt.Sprintf(
			"SELECT setval(pg_get_serial_sequence('%[1]s', 'id'), coalesce(max(id), 0) + 1, false) FROM %[1]s", table)); err != nil {
			return err
		}
	}
	if _, err := tx.exec("resource ids", "SELECT setval('docs_id_seq', coalesce(max(id), 0) + 1, false) FROM docs"); err != nil {
		return err
	}
	if _, err := tx.exec("failure counters", `UPDATE counters SET value = (SELECT coalesce(max(id), 0) FROM auth_failures)
		WHERE name IN ('auth_failures', 'auth_failure_changes')`); err != nil {
		return err
	}
	if rules {
		if _, err := tx.exec("policy version", "UPDATE policy SET version = 1"); err != nil {
			return err
		}
	}
	if err := pgtx.Commit(ctx); err != nil {
		return writeFailed(err)
	}
	return nil
}

func (db *DB) emptyTx(tx *Tx) (bool, error) {
	var any bool
	err := tx.scanOne("empty", `SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM groups)
		OR EXISTS (SELECT 1 FROM rules) OR EXISTS (SELECT 1 FROM sessions) OR EXISTS (SELECT 1 FROM docs)
		OR EXISTS (SELECT 1 FROM audit) OR EXISTS (SELECT 1 FROM auth_failures)`, nil, &any)
	return !any, err
}

// load inserts one record as it is.
func (tx *Tx) load(rec store.Record) error {
	var err error
	switch {
	case rec.User != nil:
		u := rec.User
		_, err = tx.exec("load user", `INSERT INTO users (id, email, email_key, email_lower, name, name_lower, password_hash,
			disabled, mfa_enabled, mfa_secret, mfa_pending, mfa_last_step, created_at, updated_at, issuer, subject)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			u.ID, u.Email, store.NormalizeEmail(u.Email), lower(u.Email), u.Name, lower(u.Name), u.PasswordHash,
			u.Disabled, u.MFA.Enabled, u.MFA.Secret, u.MFA.Pending, u.MFA.LastStep, u.CreatedAt, u.UpdatedAt, u.Issuer, u.Subject)
	case rec.Group != nil:
		g := rec.Group
		_, err = tx.exec("load group", "INSERT INTO groups (name, description, created_at) VALUES ($1, $2, $3)", g.Name, g.Description, g.CreatedAt)
	case rec.Rule != nil:
		r := rec.Rule
		_, err = tx.exec("load rule", "INSERT INTO rules (id, type, vals, rule_key, refs) VALUES ($1, $2, $3, $4, $5)",
			r.ID, r.Type, r.Values, []byte(store.RuleKey(r.Type, r.Values)), refs(r.Type, r.Values))
	case rec.Session != nil:
		s := rec.Session
		var expires *time.Time
		if !s.ExpiresAt.IsZero() {
			expires = &s.ExpiresAt
		}
		_, err = tx.exec("load session", `INSERT INTO sessions (id, hash, user_id, kind, name, read_only, mfa, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, s.ID, s.Hash, s.UserID, s.Kind, s.Name, s.ReadOnly, s.MFA, s.CreatedAt, expires)
	case rec.Doc != nil:
		d := rec.Doc
		if err := checkKind(d.Kind); err != nil {
			return err
		}
		_, err = tx.exec("load "+d.Kind, `INSERT INTO docs (kind, id, owner_id, data, created_at, updated_at)
			VALUES ($1, $2, $3, $4::text::json, $5, $6)`, d.Kind, d.ID, d.OwnerID, string(d.Data), d.CreatedAt, d.UpdatedAt)
	case rec.Audit != nil:
		r := rec.Audit
		_, err = tx.exec("load audit", `INSERT INTO audit (id, time, actor_id, actor, action, target, before, after)
			VALUES ($1, $2, $3, $4, $5, $6, $7::text::json, $8::text::json)`,
			r.ID, r.Time, r.ActorID, r.Actor, r.Action, r.Target, jsonArg(r.Before), jsonArg(r.After))
	case rec.Failure != nil:
		f := *rec.Failure
		_, err = tx.exec("load auth failure", `INSERT INTO auth_failures (id, time, last_time, count, ip, method, path, route,
			status, reason, user_id, request_id, subject, object, action, explanation, addr, change)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $1)`,
			append([]any{f.ID}, failureArgs(&f)...)...)
	default:
		err = errors.New("store: an empty record")
	}
	return err
}
