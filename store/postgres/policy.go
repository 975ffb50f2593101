package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

var _ store.PolicyLog = (*Tx)(nil)

// maxChangesBehind bounds how many versions ChangesSince replays: further
// behind, loading the whole policy again is cheaper.
const maxChangesBehind = 10000

// ChangesSince returns the rule changes of the versions after v, in
// version order, from policy_changes. Versions are in commit order (the
// policy row lock), so the changes read in one snapshot are a prefix of
// history with no hole: a transaction that sees version N sees every
// version before it.
func (tx *Tx) ChangesSince(v uint64) ([]store.VersionedChange, bool, error) {
	current, err := tx.Rules().Version()
	if err != nil {
		return nil, false, err
	}
	if current <= v {
		return nil, true, nil
	}
	if current-v > maxChangesBehind {
		return nil, false, nil
	}
	list, err := collect(tx, "policy changes", `SELECT version, added, rule_id, type, vals FROM policy_changes
		WHERE version > $1 AND version <= $2 ORDER BY version, seq`, []any{v, current}, func(r pgx.Row) (store.VersionedChange, error) {
		var c store.VersionedChange
		err := r.Scan(&c.Version, &c.Added, &c.Rule.ID, &c.Rule.Type, &c.Rule.Values)
		return c, err
	})
	if err != nil {
		return nil, false, err
	}
	// Every version that changed rules logged at least one change: count
	// the versions present to know the log is whole (a copied database
	// starts at version 1 without a log).
	seen := uint64(0)
	for i, c := range list {
		if i == 0 || c.Version != list[i-1].Version {
			seen++
		}
	}
	if seen != current-v {
		return nil, false, nil
	}
	return list, true, nil
}

// listenerName is the application_name of the listening connections, so
// that an operator (or a test) can find them in pg_stat_activity.
const listenerName = "gatehouse listener"

// WatchPolicy holds a dedicated connection listening on PolicyChannel until
// ctx ends, and calls changed with the version each committed policy change
// announces. Notifications sent while the connection is down are lost, so
// changed is also called with 0 each time the connection is (re)made and
// listening: the caller then catches up from the store. The connection is
// made again retryDelay after it fails. changed runs on the listener's
// goroutine, one call at a time; it should be quick.
func (db *DB) WatchPolicy(ctx context.Context, retryDelay time.Duration, changed func(version uint64), logErr func(error)) error {
	return db.watch(ctx, PolicyChannel, retryDelay, func(payload string, connected bool) error {
		if connected {
			changed(0)
			return nil
		}
		v, err := strconv.ParseUint(payload, 10, 64)
		if err != nil {
			return fmt.Errorf("policy notification %q: %w", payload, err)
		}
		changed(v)
		return nil
	}, logErr)
}

// watch holds a dedicated connection (jackc/pgxlisten) listening on
// channel until ctx ends: handle gets each notification's payload, and is
// called with connected set each time the connection is (re)made and
// listening, since notifications sent while it was down are lost.
func (db *DB) watch(ctx context.Context, channel string, retryDelay time.Duration, handle func(payload string, connected bool) error, logErr func(error)) error {
	cfg := db.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = listenerName
	l := &pgxlisten.Listener{
		Connect: func(ctx context.Context) (*pgx.Conn, error) {
			return pgx.ConnectConfig(ctx, cfg)
		},
		LogError: func(ctx context.Context, err error) {
			if logErr != nil && ctx.Err() == nil {
				logErr(err)
			}
		},
		ReconnectDelay: retryDelay,
	}
	l.Handle(channel, notifyHandler(handle))
	err := l.Listen(ctx)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}

// notifyHandler passes notifications on, and a connected call after each
// (re)connection for the catch-up.
type notifyHandler func(payload string, connected bool) error

func (h notifyHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	return h(n.Payload, false)
}

func (h notifyHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	return h("", true)
}
