package postgres

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
)

// addRule commits one rule in its own transaction and returns the
// version it committed as.
func addRule(t *testing.T, db *DB, sub string) uint64 {
	t.Helper()
	var v uint64
	err := db.Update(context.Background(), func(tx store.Tx) error {
		if _, err := tx.Rules().Add("p", []string{sub, "/api/x", "GET", "*"}); err != nil {
			return err
		}
		var err error
		v, err = tx.Rules().Version()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func changesSince(t *testing.T, db *DB, v uint64) ([]store.VersionedChange, bool) {
	t.Helper()
	var list []store.VersionedChange
	var ok bool
	err := db.View(context.Background(), func(tx store.Tx) (err error) {
		list, ok, err = tx.(store.PolicyLog).ChangesSince(v)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return list, ok
}

// Writers on many connections at once: versions come out gapless and in
// commit order, and the log replays them all.
func TestPolicyVersionsInCommitOrder(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	a, b := mustOpenURL(t, url), mustOpenURL(t, url)
	const n = 40
	var wg sync.WaitGroup
	for i := range n {
		db := a
		if i%2 == 1 {
			db = b
		}
		wg.Go(func() { addRule(t, db, fmt.Sprintf("user:%d", i+1)) })
	}
	wg.Wait()
	list, ok := changesSince(t, a, 0)
	if !ok || len(list) != n {
		t.Fatalf("ChangesSince(0) = %d changes, ok %v; want %d", len(list), ok, n)
	}
	for i, c := range list {
		if c.Version != uint64(i+1) || !c.Added {
			t.Fatalf("change %d: version %d added %v; want version %d added", i, c.Version, c.Added, i+1)
		}
	}
	if tail, ok := changesSince(t, b, n-3); !ok || len(tail) != 3 || tail[0].Version != n-2 {
		t.Fatalf("ChangesSince(%d) = %+v, %v", n-3, tail, ok)
	}
	if none, ok := changesSince(t, b, n); !ok || len(none) != 0 {
		t.Fatalf("ChangesSince(current) = %+v, %v; want nothing", none, ok)
	}
}

// A copied database starts at version 1 without a log: ChangesSince says
// the caller must load the whole policy.
func TestChangesSinceWithoutLog(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	addRule(t, db, "user:1")
	if _, err := db.pool.Exec(context.Background(), "DELETE FROM policy_changes"); err != nil {
		t.Fatal(err)
	}
	if _, ok := changesSince(t, db, 0); ok {
		t.Fatal("ChangesSince answered from a log that lost its versions")
	}
}

// The watcher reports announced versions, and a catch-up (0) each time its
// connection is made, also after the server killed it: a change committed
// while it was away is then found in the log.
func TestWatchPolicySurvivesALostConnection(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	events := make(chan uint64, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- db.WatchPolicy(ctx, 50*time.Millisecond, func(v uint64) { events <- v }, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchPolicy: %v", err)
		}
	}()
	next := func(want string) uint64 {
		t.Helper()
		select {
		case v := <-events:
			return v
		case <-time.After(30 * time.Second):
			t.Fatalf("no event within 30s, waiting for %s", want)
		}
		return 0
	}
	if v := next("the first catch-up"); v != 0 {
		t.Fatalf("first event %d, want the catch-up 0", v)
	}
	v1 := addRule(t, db, "user:1")
	if v := next("version 1"); v != v1 {
		t.Fatalf("event %d, want version %d", v, v1)
	}

	// Kill the listening connection, and commit a change before it is back.
	var killed int
	err := db.pool.QueryRow(context.Background(),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
		listenerName).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminate the listener: %d, %v", killed, err)
	}
	v2 := addRule(t, db, "user:2")
	// The notification of v2 may or may not reach the new connection; a
	// catch-up must come either way.
	for {
		v := next("the catch-up after the reconnection")
		if v == 0 {
			break
		}
		if v != v2 {
			t.Fatalf("event %d, want %d or a catch-up", v, v2)
		}
	}
	if list, ok := changesSince(t, db, v1); !ok || len(list) != 1 || list[0].Version != v2 {
		t.Fatalf("after the reconnection, ChangesSince(%d) = %+v, %v", v1, list, ok)
	}
}

// Adds and folds of failure records come back in write order from a mark,
// each once, with the latest content.
func TestFailuresChangedSince(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	var start uint64
	if err := db.View(ctx, func(tx store.Tx) (err error) { start, err = tx.(store.FailureFeed).LatestFailureMark(); return err }); err != nil {
		t.Fatal(err)
	}
	var first store.AuthFailure
	err := db.Update(ctx, func(tx store.Tx) error {
		for i := range 3 {
			f := store.AuthFailure{Count: 1, Status: 401, Reason: fmt.Sprint("r", i)}
			if err := tx.Failures().Add(&f); err != nil {
				return err
			}
			if i == 0 {
				first = f
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	first.Count = 5
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.Failures().Update(first) }); err != nil {
		t.Fatal(err)
	}
	var got []store.AuthFailure
	var mark uint64
	err = db.View(ctx, func(tx store.Tx) (err error) {
		got, mark, err = tx.(store.FailureFeed).FailuresChangedSince(start, 100)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, f := range got {
		order = append(order, fmt.Sprintf("%s:%d", f.Reason, f.Count))
	}
	if fmt.Sprint(order) != "[r1:1 r2:1 r0:5]" || mark != start+4 {
		t.Fatalf("written since %d: %v, mark %d; want [r1:1 r2:1 r0:5], mark %d", start, order, mark, start+4)
	}
}
