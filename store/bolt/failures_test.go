package bolt

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/gatehouse/gatehouse/store"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
)

func mustFailureDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "failures.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The file must be consistent whatever the test did.
		err := db.bolt.View(func(tx *bbolt.Tx) error {
			var first error
			for err := range tx.Check() {
				first = cmp.Or(first, err)
			}
			return first
		})
		if err != nil {
			t.Errorf("consistency: %v", err)
		}
		db.Close()
	})
	return db
}

// addFailures appends n records, the i-th from 10.0.0.i at base+i minutes.
func addFailures(t *testing.T, db *DB, base time.Time, n int) {
	t.Helper()
	err := db.Update(context.Background(), func(tx store.Tx) error {
		for i := range n {
			at := base.Add(time.Duration(i) * time.Minute)
			f := store.AuthFailure{Time: at, LastTime: at, Count: 1, IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250), Status: 401, Reason: "unauthorized"}
			if err := tx.Failures().Add(&f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuthFailureLog(t *testing.T) {
	t.Parallel()
	db := mustFailureDB(t)
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	addFailures(t, db, base, 10)

	err := db.Update(context.Background(), func(tx store.Tx) error {
		if n, err := tx.Failures().Count(); err != nil || n != 10 {
			t.Fatalf("count %d", n)
		}
		f, err := tx.Failures().Get(4)
		if err != nil {
			return err
		}
		f.Count, f.LastTime = 7, base.Add(time.Hour)
		if err := tx.Failures().Update(f); err != nil {
			return err
		}
		if err := tx.Failures().Update(store.AuthFailure{ID: 99}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("update of a missing record: %v", err)
		}
		// Pages newest first, with and without a filter.
		var ids []uint64
		p := store.Page{Limit: 3}
		for {
			recs, next, err := tx.Failures().List(store.FailureFilter{}, p)
			if err != nil {
				return err
			}
			for _, r := range recs {
				ids = append(ids, r.ID)
			}
			if next == "" {
				break
			}
			p.Cursor = next
		}
		if fmt.Sprint(ids) != "[10 9 8 7 6 5 4 3 2 1]" {
			t.Fatalf("paged ids %v", ids)
		}
		// 10.0.0.0/31 holds the addresses of records 1 and 2; /29 those of
		// 1 to 8.
		within := store.FailureFilter{Within: netip.MustParsePrefix("10.0.0.0/29")}
		recs, next, err := tx.Failures().List(within, store.Page{Limit: 2})
		if err != nil || len(recs) != 2 || recs[0].ID != 8 || recs[1].ID != 7 || next == "" {
			t.Fatalf("filtered page %v %q %v", recs, next, err)
		}
		recs, next, err = tx.Failures().List(within, store.Page{Limit: 50, Cursor: next})
		if err != nil || len(recs) != 6 || recs[0].ID != 6 || recs[2].Count != 7 || next != "" {
			t.Fatalf("second filtered page %v %q %v", recs, next, err)
		}
		for _, bad := range []string{"!", store.KeyCursor("\x01\x02\x03")} {
			if _, _, err := tx.Failures().List(store.FailureFilter{}, store.Page{Cursor: bad}); !errors.Is(err, store.ErrInvalidCursor) {
				t.Fatalf("cursor %q: %v", bad, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestPruneAuthFailures(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name             string
		cutoff           time.Time
		keep, most       int
		deleted, firstID int
	}{
		{"by count", time.Time{}, 4, 100, 6, 7},
		{"by age", base.Add(3 * time.Minute), 100, 100, 3, 4},
		{"the tighter wins", base.Add(3 * time.Minute), 2, 100, 8, 9},
		{"bounded per call", time.Time{}, 0, 5, 5, 6},
		{"nothing to do", base, 10, 100, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := mustFailureDB(t)
			addFailures(t, db, base, 10)
			err := db.Update(context.Background(), func(tx store.Tx) error {
				n, err := tx.Failures().Prune(tc.cutoff, tc.keep, tc.most)
				if err != nil {
					return err
				}
				recs, _, err := tx.Failures().List(store.FailureFilter{}, store.Page{Limit: 100})
				if err != nil {
					return err
				}
				count, err := tx.Failures().Count()
				if err != nil {
					return err
				}
				if n != tc.deleted || count != 10-tc.deleted || len(recs) != 10-tc.deleted {
					t.Fatalf("deleted %d, count %d, listed %d; want %d deleted", n, count, len(recs), tc.deleted)
				}
				if len(recs) > 0 && recs[len(recs)-1].ID != uint64(tc.firstID) {
					t.Fatalf("oldest left %d, want %d", recs[len(recs)-1].ID, tc.firstID)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A filter that matches nothing reads a bounded number of records per
// page, and the pages still cover the whole log.
func TestListAuthFailuresScanIsBounded(t *testing.T) {
	t.Parallel()
	db := mustFailureDB(t)
	addFailures(t, db, time.Now(), store.MaxFailureScan+10)
	err := db.View(context.Background(), func(tx store.Tx) error {
		// The first page reads the newest MaxFailureScan records and stops
		// with the cursor of the next one to read, id 10.
		none := store.FailureFilter{Reason: "no such reason"}
		recs, next, err := tx.Failures().List(none, store.Page{Limit: 10})
		if err != nil || len(recs) != 0 || next != store.IDCursor(10) {
			t.Fatalf("first page: %d items, next %q, %v", len(recs), next, err)
		}
		recs, next, err = tx.Failures().List(none, store.Page{Limit: 10, Cursor: next})
		if err != nil || len(recs) != 0 || next != "" {
			t.Fatalf("second page: %d items, next %q, %v", len(recs), next, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
