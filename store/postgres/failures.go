package postgres

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
)

// failures implements store.Failures over the auth_failures table. IDs
// come from the auth_failures counter, whose row lock is held until
// commit: ids are gapless and in commit order, so an instance that
// follows the log by id misses no record committed by another.
type failures struct{ *Tx }

const failureColumns = `id, time, last_time, count, ip, method, path, route, status, reason, user_id,
	request_id, subject, object, action, explanation`

func scanFailure(r pgx.Row) (store.AuthFailure, error) {
	var f store.AuthFailure
	err := r.Scan(&f.ID, &f.Time, &f.LastTime, &f.Count, &f.IP, &f.Method, &f.Path, &f.Route, &f.Status,
		&f.Reason, &f.UserID, &f.RequestID, &f.Subject, &f.Object, &f.Action, &f.Explanation)
	f.Time, f.LastTime = utc(f.Time), utc(f.LastTime)
	return f, err
}

// clean makes a client-controlled string storable: PostgreSQL text holds
// neither NUL nor invalid UTF-8.
func clean(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// addrOf is the failure's client address for the network filter, as
// FailureFilter.Match reads it; nil when ip is not an address.
func addrOf(ip string) any {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return nil
	}
	return a.Unmap()
}

// args are the stored fields of f after its id, in failureColumns order,
// with the address column last.
func failureArgs(f *store.AuthFailure) []any {
	f.Time, f.LastTime = micro(f.Time), micro(f.LastTime)
	return []any{f.Time, f.LastTime, f.Count, clean(f.IP), clean(f.Method), clean(f.Path), clean(f.Route), f.Status,
		clean(f.Reason), f.UserID, clean(f.RequestID), clean(f.Subject), clean(f.Object), clean(f.Action),
		clean(f.Explanation), addrOf(f.IP)}
}

// FailureChannel is the notification channel on which a transaction that
// wrote auth-failure records announces it when it commits.
const FailureChannel = "gatehouse_failures"

// nextCounter takes the next value of a counter row, which stays locked
// until the transaction ends.
func (tx failures) nextCounter(name string) (uint64, error) {
	var v uint64
	err := tx.scanOne("counter "+name, "UPDATE counters SET value = value + 1 WHERE name = $1 RETURNING value", []any{name}, &v)
	return v, err
}

// written takes the change mark of a write, and announces the first write
// of the transaction on FailureChannel (sent at commit).
func (tx failures) written() (uint64, error) {
	if !tx.failuresNotified {
		if _, err := tx.exec("notify", "SELECT pg_notify($1, '')", FailureChannel); err != nil {
			return 0, err
		}
		tx.failuresNotified = true
	}
	return tx.nextCounter("auth_failure_changes")
}

func (tx failures) Add(f *store.AuthFailure) error {
	id, err := tx.nextCounter("auth_failures")
	if err != nil {
		return err
	}
	change, err := tx.written()
	if err != nil {
		return err
	}
	f.ID = id
	_, err = tx.exec("add auth failure", `INSERT INTO auth_failures (id, time, last_time, count, ip, method, path, route,
		status, reason, user_id, request_id, subject, object, action, explanation, addr, change)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
		append(append([]any{id}, failureArgs(f)...), change)...)
	return err
}

func (tx failures) Update(f store.AuthFailure) error {
	var exists bool
	if err := tx.scanOne("auth failure", "SELECT EXISTS (SELECT 1 FROM auth_failures WHERE id = $1)", []any{f.ID}, &exists); err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("store: auth failure %d: %w", f.ID, store.ErrNotFound)
	}
	change, err := tx.written()
	if err != nil {
		return err
	}
	_, err = tx.exec("update auth failure", `UPDATE auth_failures SET time = $2, last_time = $3, count = $4, ip = $5,
		method = $6, path = $7, route = $8, status = $9, reason = $10, user_id = $11, request_id = $12, subject = $13,
		object = $14, action = $15, explanation = $16, addr = $17, change = $18 WHERE id = $1`,
		append(append([]any{f.ID}, failureArgs(&f)...), change)...)
	return err
}

func (tx failures) Get(id uint64) (store.AuthFailure, error) {
	f, err := scanFailure(tx.tx.QueryRow(tx.ctx, "SELECT "+failureColumns+" FROM auth_failures WHERE id = $1", id))
	return f, tx.rowErr(fmt.Sprintf("auth failure %d", id), err)
}

func (tx failures) Count() (int, error) {
	var n int
	err := tx.scanOne("count auth failures", "SELECT count(*) FROM auth_failures", nil, &n)
	return n, err
}

// List reads newest first from the cursor, the id of the next record to
// read, over at most store.MaxFailureScan records; the filter is part of
// the query.
func (tx failures) List(filter store.FailureFilter, p store.Page) ([]store.AuthFailure, string, error) {
	from, err := p.ID()
	if err != nil {
		return nil, "", err
	}
	if from == 0 {
		from = 1<<63 - 1
	}
	// floor is the oldest id the page may read: MaxFailureScan records
	// from the cursor on.
	var floor uint64
	err = tx.scanOne("auth failures", "SELECT id FROM auth_failures WHERE id <= $1 ORDER BY id DESC OFFSET $2 LIMIT 1",
		[]any{from, store.MaxFailureScan - 1}, &floor)
	if err != nil && !isNotFound(err) {
		return nil, "", err
	}
	var within any
	if filter.Within.IsValid() {
		within = filter.Within.Masked()
	}
	out, err := collect(tx.Tx, "list auth failures", "SELECT "+failureColumns+` FROM auth_failures
		WHERE id <= $1 AND id >= $2 AND ($3 = '' OR reason = $3) AND ($4 = 0 OR user_id = $4)
		AND ($5::cidr IS NULL OR addr <<= $5::cidr)
		ORDER BY id DESC LIMIT $6`, []any{from, floor, filter.Reason, filter.UserID, within, p.Size()}, scanFailure)
	if err != nil {
		return nil, "", err
	}
	// The next page starts at the record after the last one read: after
	// the page's last item when the page is full, else after the floor.
	stop := floor
	if len(out) == p.Size() {
		stop = out[len(out)-1].ID
	} else if floor == 0 {
		return out, "", nil
	}
	var next uint64
	err = tx.scanOne("auth failures", "SELECT id FROM auth_failures WHERE id < $1 ORDER BY id DESC LIMIT 1", []any{stop}, &next)
	switch {
	case isNotFound(err):
		return out, "", nil
	case err != nil:
		return nil, "", err
	}
	return out, store.IDCursor(next), nil
}

func (tx failures) Prune(cutoff time.Time, keep, maxDeletes int) (int, error) {
	count, err := tx.Count()
	if err != nil || maxDeletes <= 0 {
		return 0, err
	}
	type entry struct {
		id   uint64
		time time.Time
	}
	oldest, err := collect(tx.Tx, "prune auth failures", "SELECT id, time FROM auth_failures ORDER BY id LIMIT $1",
		[]any{maxDeletes}, func(r pgx.Row) (entry, error) {
			var e entry
			return e, r.Scan(&e.id, &e.time)
		})
	if err != nil {
		return 0, err
	}
	// Delete from the oldest while over keep, or while older than cutoff.
	n := 0
	for _, e := range oldest {
		if count-n <= keep && (cutoff.IsZero() || !e.time.Before(cutoff)) {
			break
		}
		n++
	}
	if n == 0 {
		return 0, nil
	}
	_, err = tx.exec("prune auth failures", "DELETE FROM auth_failures WHERE id <= $1", oldest[n-1].id)
	return n, err
}

var (
	_ store.FailureFeed    = (*Tx)(nil)
	_ store.FailureWatcher = (*DB)(nil)
)

// FailuresChangedSince returns the records written after mark in commit
// order: the change marks come from a counter row locked until commit.
func (tx *Tx) FailuresChangedSince(mark uint64, max int) ([]store.AuthFailure, uint64, error) {
	type written struct {
		f      store.AuthFailure
		change uint64
	}
	list, err := collect(tx, "auth failures written", "SELECT "+failureColumns+`, change FROM auth_failures
		WHERE change > $1 ORDER BY change LIMIT $2`, []any{mark, max}, func(r pgx.Row) (written, error) {
		var w written
		f := &w.f
		err := r.Scan(&f.ID, &f.Time, &f.LastTime, &f.Count, &f.IP, &f.Method, &f.Path, &f.Route, &f.Status,
			&f.Reason, &f.UserID, &f.RequestID, &f.Subject, &f.Object, &f.Action, &f.Explanation, &w.change)
		f.Time, f.LastTime = utc(f.Time), utc(f.LastTime)
		return w, err
	})
	if err != nil {
		return nil, mark, err
	}
	out := make([]store.AuthFailure, len(list))
	for i, w := range list {
		out[i], mark = w.f, w.change
	}
	return out, mark, nil
}

// LatestFailureMark is the mark of the last committed write.
func (tx *Tx) LatestFailureMark() (uint64, error) {
	var v uint64
	err := tx.scanOne("auth failure mark", "SELECT value FROM counters WHERE name = 'auth_failure_changes'", nil, &v)
	return v, err
}

// WatchFailures calls written after each committed transaction that wrote
// auth-failure records (from notifications on FailureChannel), and after
// every (re)connection of its listening connection.
func (db *DB) WatchFailures(ctx context.Context, retryDelay time.Duration, written func(), logErr func(error)) error {
	return db.watch(ctx, FailureChannel, retryDelay, func(string, bool) error { written(); return nil }, logErr)
}
