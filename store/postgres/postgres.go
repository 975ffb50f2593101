// Package postgres is the PostgreSQL implementation of the storage contract
// of package store, for running several gatehouse instances on one
// database. It uses pgx's connection pool; the schema is embedded SQL
// applied at start-up under an advisory lock (migrate.go).
//
// Every Update runs at SERIALIZABLE isolation: PostgreSQL commits a
// transaction only if its outcome is as if it ran alone, and otherwise
// fails it with a serialization failure, which Update answers by running
// the function again on a fresh transaction. So the invariants the
// callers check inside a transaction (a last admin, unique emails, one
// first admin) hold across processes as they do in one. Transactions that
// change policy rules also take the row lock of the policy version, which
// puts the versions in commit order for other instances to follow.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// maxAttempts bounds how often Update runs a function that keeps losing
// serialization conflicts before it gives up; maxPause bounds the random
// pause before a retry, which grows with the attempts so that writers
// contending for one row (the policy version) spread out.
const (
	maxAttempts = 50
	maxPause    = 100 * time.Millisecond
)

// DB is an open gatehouse database on PostgreSQL.
type DB struct {
	pool *pgxpool.Pool
	opts Options
}

// Options tune Open.
type Options struct {
	// TxTimeout bounds each View and Update, retries included (zero: only
	// the caller's context does). A server that is down refuses
	// connections at once, but one cut off by the network answers nothing,
	// and a request would wait for the system to give up on the
	// connection: with a bound it fails within it instead (a server uses
	// ten seconds; a copy of a whole database none).
	TxTimeout time.Duration
}

// defaultMaxConns is the pool size when the URL sets none (pool_max_conns):
// pgx's own default, four on a small machine, would queue requests that
// each hold a connection for one short transaction.
const defaultMaxConns = 16

var (
	_ store.Store = (*DB)(nil)
	_ store.Tx    = (*Tx)(nil)
)

// Open connects to the database at url (a postgres:// URL or a key=value
// connection string), creates or upgrades its schema, and returns it. It
// fails if the database cannot be reached within ctx.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included: name no part.
		return nil, errors.New("store: the database URL is not a valid PostgreSQL connection string")
	}
	// A dead server must fail a request in seconds, not hang it.
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 5*time.Second {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, defaultMaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: connect: %w", err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &DB{pool: pool, opts: opts}, nil
}

// Close closes every connection of the pool.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// Pool exposes the connection pool, for what lives beside the store (the
// policy listener) and for tests.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// View runs fn in a read-only transaction on one snapshot of the database
// (REPEATABLE READ).
func (db *DB) View(ctx context.Context, fn func(tx store.Tx) error) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	pgtx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return unavailable("begin", err)
	}
	defer pgtx.Rollback(context.WithoutCancel(ctx))
	tx := newTx(ctx, pgtx)
	if err := fn(tx); err != nil {
		return err
	}
	return pgtx.Commit(ctx)
}

// Update runs fn in a SERIALIZABLE read-write transaction, committed when
// fn returns nil. When PostgreSQL refuses the transaction because of a
// concurrent one (a serialization failure or a deadlock), fn runs again on
// a new transaction, after a short random pause. A failure to store the
// change is store.ErrWriteFailed.
func (db *DB) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	ctx, cancel := db.bound(ctx)
	defer cancel()
	for attempt := 1; ; attempt++ {
		err := db.updateOnce(ctx, fn)
		if err == nil || !retryable(err) || attempt == maxAttempts || ctx.Err() != nil {
			return err
		}
		pause := time.Duration(rand.Int64N(int64(min(time.Millisecond<<min(attempt, 10), maxPause))))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
	}
}

func (db *DB) updateOnce(ctx context.Context, fn func(tx store.Tx) error) error {
	pgtx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable})
	if err != nil {
		return writeFailed(err)
	}
	defer pgtx.Rollback(context.WithoutCancel(ctx))
	tx := newTx(ctx, pgtx)
	err = fn(tx)
	// A statement that failed aborts the whole transaction, even when fn
	// went on without its answer: the first such failure decides.
	if tx.dbErr != nil && (err == nil || retryable(tx.dbErr)) {
		err = tx.dbErr
	}
	if err != nil {
		if retryable(err) || tx.dbErr != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
			return writeFailed(err)
		}
		return err
	}
	if err := pgtx.Commit(ctx); err != nil {
		return writeFailed(err)
	}
	return nil
}

// bound applies Options.TxTimeout to ctx.
func (db *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if db.opts.TxTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, db.opts.TxTimeout)
}

// writeFailed wraps err as store.ErrWriteFailed, keeping it for
// errors.Is/As (a retryable failure stays recognisable).
func writeFailed(err error) error {
	if errors.Is(err, store.ErrWriteFailed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("store: %w: %w", store.ErrWriteFailed, err)
}

// retryable reports whether err is PostgreSQL refusing a transaction for
// the sake of a concurrent one: running it again may succeed.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001", // serialization_failure
		"40P01": // deadlock_detected
		return true
	}
	return false
}

// pgCode is the SQLSTATE of err, or "" when it is no server error.
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Tx is one PostgreSQL transaction; it implements store.Tx. It records
// the rules it adds and removes, and the first statement that failed.
type Tx struct {
	ctx context.Context
	tx  pgx.Tx
	now time.Time
	// dbErr is the first failed statement: it aborted the transaction.
	dbErr   error
	changes []store.RuleChange
	// version is the policy version this transaction commits as, set on
	// its first rule change.
	version uint64
	// failuresNotified is set once the transaction announced its writes
	// to the auth-failure log.
	failuresNotified bool
}

func newTx(ctx context.Context, pgtx pgx.Tx) *Tx {
	// PostgreSQL keeps microseconds (store.Tx.Now).
	return &Tx{ctx: ctx, tx: pgtx, now: time.Now().UTC().Truncate(time.Microsecond)}
}

// Now is the time of the transaction, in UTC to the microsecond.
func (tx *Tx) Now() time.Time { return tx.now }

// Users are the users of the transaction.
func (tx *Tx) Users() store.Users { return users{tx} }

// Sessions are the sessions and tokens of the transaction.
func (tx *Tx) Sessions() store.Sessions { return sessions{tx} }

// Groups are the groups of the transaction.
func (tx *Tx) Groups() store.Groups { return groups{tx} }

// Rules are the policy rules of the transaction.
func (tx *Tx) Rules() store.Rules { return rules{tx} }

// Docs are the owned resources of the transaction.
func (tx *Tx) Docs() store.Docs { return docs{tx} }

// Audit is the audit log of the transaction.
func (tx *Tx) Audit() store.Audit { return audit{tx} }

// Failures are the auth-failure log of the transaction.
func (tx *Tx) Failures() store.Failures { return failures{tx} }

// failed records err as the transaction's first failed statement and
// returns it; a unique violation becomes store.ErrConflict.
func (tx *Tx) failed(what string, err error) error {
	if err == nil {
		return nil
	}
	if tx.dbErr == nil {
		tx.dbErr = err
	}
	if pgCode(err) == "23505" { // unique_violation
		return fmt.Errorf("store: %s: %w (%w)", what, store.ErrConflict, err)
	}
	return unavailable(what, err)
}

// unavailable wraps err as store.ErrUnavailable when it is no answer of
// the server (the connection failed or was lost), so that callers answer
// "try again" rather than "broken".
func unavailable(what string, err error) error {
	if !isUnreachable(err) {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return fmt.Errorf("store: %s: %w: %w", what, store.ErrUnavailable, err)
}

// isUnreachable reports whether err says the server cannot be reached or
// is going away: no answer at all, a connection error (SQLSTATE class 08),
// or a shutdown (57P01 to 57P03).
func isUnreachable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
}

// exec runs a statement and returns how many rows it touched.
func (tx *Tx) exec(what, sql string, args ...any) (int64, error) {
	tag, err := tx.tx.Exec(tx.ctx, sql, args...)
	if err != nil {
		return 0, tx.failed(what, err)
	}
	return tag.RowsAffected(), nil
}

// scanOne runs a query of at most one row and scans it into dest; no row
// is store.ErrNotFound.
func (tx *Tx) scanOne(what, sql string, args []any, dest ...any) error {
	return tx.rowErr(what, tx.tx.QueryRow(tx.ctx, sql, args...).Scan(dest...))
}

// rowErr is the error of reading one row: none is store.ErrNotFound.
func (tx *Tx) rowErr(what string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", what, store.ErrNotFound)
	}
	return tx.failed(what, err)
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

// collect runs a query and turns each row into a T with scan.
func collect[T any](tx *Tx, what, sql string, args []any, scan func(pgx.Row) (T, error)) ([]T, error) {
	rows, err := tx.tx.Query(tx.ctx, sql, args...)
	if err != nil {
		return nil, tx.failed(what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (T, error) { return scan(r) })
	if err != nil {
		return nil, tx.failed(what, err)
	}
	return out, nil
}

// page cuts a list read with one row more than the page holds: when that
// row exists, the next cursor names the last item of the page.
func page[T any](items []T, p store.Page, cursor func(T) string) ([]T, string) {
	if len(items) <= p.Size() {
		return items, ""
	}
	items = items[:p.Size()]
	return items, cursor(items[len(items)-1])
}

// utc reads a timestamp back in UTC, as the transaction wrote it.
func utc(t time.Time) time.Time { return t.UTC() }

// micro cuts t to the microseconds PostgreSQL keeps.
func micro(t time.Time) time.Time { return t.Truncate(time.Microsecond) }
