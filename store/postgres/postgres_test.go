package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
)

// Several instances opening one empty database at once create the schema
// once: the others wait on the advisory lock and find it done.
func TestOpenTogetherOnAnEmptyDatabase(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	const n = 4
	dbs := make([]*DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { dbs[i], errs[i] = Open(context.Background(), url, Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	var applied int
	if err := dbs[0].pool.QueryRow(context.Background(), "SELECT count(*) FROM gatehouse_schema").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	list, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(list) {
		t.Fatalf("schema rows = %d, want %d (one per migration)", applied, len(list))
	}
}

// A database whose schema is newer than the program is refused, not
// written to.
func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	db := mustOpenURL(t, url)
	if _, err := db.pool.Exec(context.Background(), "INSERT INTO gatehouse_schema (version, name) VALUES (9999, 'future.sql')"); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), url, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this program") {
		t.Fatalf("Open = %v, want a refusal of the newer schema", err)
	}
}

// Two processes are two pools: two admins demoting each other through
// two pools at once leave one admin.
func TestLastAdminAcrossPools(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	a, b := mustOpenURL(t, url), mustOpenURL(t, url)
	ctx := context.Background()
	var ids [2]uint64
	err := a.Update(ctx, func(tx store.Tx) error {
		for i := range ids {
			u := store.User{Email: []string{"a@x", "b@x"}[i]}
			if err := tx.Users().Create(&u); err != nil {
				return err
			}
			ids[i] = u.ID
			if _, err := tx.Rules().Add("g", []string{"user:" + store.FormatID(u.ID), "role:admin"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	errLast := errors.New("last admin")
	demote := func(db *DB, id uint64) error {
		return db.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.Rules().RemoveReferencing("user:" + store.FormatID(id)); err != nil {
				return err
			}
			admins, err := tx.Rules().Referencing("role:admin")
			if err != nil {
				return err
			}
			if len(admins) == 0 {
				return errLast
			}
			return nil
		})
	}
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		var errA, errB error
		wg.Go(func() { errA = demote(a, ids[0]) })
		wg.Go(func() { errB = demote(b, ids[1]) })
		wg.Wait()
		if (errA == nil) == (errB == nil) {
			t.Fatalf("round %d: demotions answered %v and %v; want exactly one refused", round, errA, errB)
		}
		for _, err := range []error{errA, errB} {
			if err != nil && !errors.Is(err, errLast) {
				t.Fatalf("round %d: refused with %v, want the last-admin refusal", round, err)
			}
		}
		// Make both admins again for the next round.
		err := a.Update(ctx, func(tx store.Tx) error {
			for _, id := range ids {
				if _, err := tx.Rules().Add("g", []string{"user:" + store.FormatID(id), "role:admin"}); err != nil && !errors.Is(err, store.ErrConflict) {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// Every rule change is logged with its version in the transaction that
// makes it, so another instance can replay versions in order.
func TestRuleChangesAreLoggedWithTheirVersion(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	var added store.Rule
	err := db.Update(ctx, func(tx store.Tx) error {
		var err error
		if added, err = tx.Rules().Add("p", []string{"role:x", "/a", "GET", ""}); err != nil {
			return err
		}
		_, err = tx.Rules().Add("g", []string{"user:1", "role:x"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(ctx, func(tx store.Tx) error { _, err := tx.Rules().Remove(added.ID); return err }); err != nil {
		t.Fatal(err)
	}
	rows, err := db.pool.Query(ctx, "SELECT version, seq, added, rule_id, type FROM policy_changes ORDER BY version, seq")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var v, seq, id int
		var add bool
		var typ string
		if err := rows.Scan(&v, &seq, &add, &id, &typ); err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.Join([]string{store.FormatID(uint64(v)), store.FormatID(uint64(seq + 1)), map[bool]string{true: "+", false: "-"}[add], typ}, " "))
	}
	want := []string{"1 1 + p", "1 2 + g", "2 1 - p"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("policy_changes = %q, want %q", got, want)
	}
}

// Client-controlled text that PostgreSQL cannot hold (NUL, invalid UTF-8)
// in a failure record is stored replaced, not refused: a hostile request
// must still be recorded.
func TestFailureWithUnstorableText(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	f := store.AuthFailure{IP: "10.0.0.1", Method: "GET", Path: "/api/\x00\xff", Status: 401, Reason: "x", Count: 1}
	if err := db.Update(context.Background(), func(tx store.Tx) error { return tx.Failures().Add(&f) }); err != nil {
		t.Fatalf("add: %v", err)
	}
	var got store.AuthFailure
	if err := db.View(context.Background(), func(tx store.Tx) (err error) { got, err = tx.Failures().Get(f.ID); return err }); err != nil {
		t.Fatal(err)
	}
	if got.Path != "/api/\uFFFD\uFFFD" {
		t.Fatalf("path = %q, want the unstorable bytes replaced", got.Path)
	}
}

// A server cut off (it keeps its connections and answers nothing) fails a
// transaction at Options.TxTimeout instead of holding it, and the store
// works again once the server answers.
func TestTxTimeoutWhenTheServerStopsAnswering(t *testing.T) {
	t.Parallel()
	pg := pgtest.New(t)
	url := pg.NewDatabase(t)
	db, err := Open(context.Background(), url, Options{TxTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	read := func() error {
		return db.View(context.Background(), func(tx store.Tx) error { _, err := tx.Users().Count(); return err })
	}
	if err := read(); err != nil {
		t.Fatal(err)
	}
	if err := pg.Freeze(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- read() }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("a read from a frozen server: %v, want the deadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a read from a frozen server hung for 30s despite TxTimeout")
	}
	if err := pg.Thaw(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for read() != nil {
		if time.Now().After(deadline) {
			t.Fatal("no read within 30s of the server answering again")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
