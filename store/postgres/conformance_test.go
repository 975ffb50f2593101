package postgres

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
	"github.com/gatehouse/gatehouse/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// mustOpen opens a new, empty database on the test server, closed when t
// ends.
func mustOpen(t *testing.T) *DB {
	t.Helper()
	return mustOpenURL(t, pgtest.NewDatabase(t))
}

// mustOpenURL opens the database at url, closed when t ends.
func mustOpenURL(t *testing.T, url string) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestConformance runs the storage contract's suite on a real PostgreSQL
// server, a new database for each of its tests.
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return mustOpen(t) })
}
