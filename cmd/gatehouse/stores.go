package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/postgres"
)

// Where a store lives: a bbolt file path, or a PostgreSQL database named
// by a postgres:// URL (GATEHOUSE_DATABASE_URL, or --db for the offline
// tools). Only this package chooses the backend.

// connectTimeout bounds how long opening a PostgreSQL store may take.
const connectTimeout = 30 * time.Second

// isDatabaseURL reports whether target names a PostgreSQL database rather
// than a file.
func isDatabaseURL(target string) bool {
	return strings.HasPrefix(target, "postgres://") || strings.HasPrefix(target, "postgresql://")
}

// displayName is target fit to print: a URL without its password.
func displayName(target string) string {
	if !isDatabaseURL(target) {
		return target
	}
	u, err := url.Parse(target)
	if err != nil {
		return "the PostgreSQL database"
	}
	return u.Redacted()
}

// serveTxTimeout bounds each transaction of a server on PostgreSQL: a
// database cut off by the network fails requests with 503 within it.
const serveTxTimeout = 10 * time.Second

// openPostgres opens the PostgreSQL store at dbURL, creating or upgrading
// its schema, with a message that says what to do.
func openPostgres(ctx context.Context, dbURL string, opts postgres.Options) (*postgres.DB, error) {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	db, err := postgres.Open(ctx, dbURL, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", displayName(dbURL), err)
	}
	return db, nil
}

// pgDumpHint is what the file backup says on PostgreSQL.
const pgDumpHint = "the store is PostgreSQL: back it up with pg_dump (for example pg_dump --format=custom --file=gatehouse.dump DATABASE_URL)"

// errNotOneFile refuses a file backup of a store that is not one file.
var errNotOneFile = errors.New(pgDumpHint)

var _ store.Dumper = (*postgres.DB)(nil)

// policyRetryDelay is how soon the policy listener connects again after
// losing its connection.
const policyRetryDelay = 250 * time.Millisecond

// watchPolicy keeps authz current with the changes other instances commit
// to pg: each announced version, and a catch-up whenever the listening
// connection is made again (notifications sent while it was away are
// lost). Requests catch up by themselves too (with their credentials), so
// the listener only makes the others' changes arrive sooner. The returned
// function stops it and waits for it to end.
func watchPolicy(ctx context.Context, log *slog.Logger, pg *postgres.DB, authz *rbac.Authorizer) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	// failing makes an outage one log line, not one per retry.
	var failing atomic.Bool
	go func() {
		defer close(done)
		err := pg.WatchPolicy(ctx, policyRetryDelay, func(version uint64) {
			if version == 0 && failing.Swap(false) {
				log.Info("policy listener connected again")
			}
			if version != 0 && version <= authz.Version() {
				return
			}
			if err := authz.Refresh(ctx); err != nil && ctx.Err() == nil {
				log.Warn("policy catch-up failed", "error", err.Error())
			}
		}, func(err error) {
			if !failing.Swap(true) {
				log.Warn("policy listener lost its connection and retries; requests catch up by themselves meanwhile", "error", err.Error())
			}
		})
		if err != nil {
			log.Error("policy listener stopped", "error", err.Error())
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
