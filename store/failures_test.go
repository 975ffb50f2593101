package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func mustFailureDB(t *testing.T) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "failures.db"), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The file must be consistent whatever the test did.
		err := db.bolt.View(func(tx *bolt.Tx) error {
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
	err := db.Update(context.Background(), func(tx *Tx) error {
		for i := range n {
			at := base.Add(time.Duration(i) * time.Minute)
			f := AuthFailure{Time: at, LastTime: at, Count: 1, IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250), Status: 401, Reason: "unauthorized"}
			if err := tx.AddAuthFailure(&f); err != nil {
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

	err := db.Update(context.Background(), func(tx *Tx) error {
		if n := tx.CountAuthFailures(); n != 10 {
			t.Fatalf("count %d", n)
		}
		f, err := tx.AuthFailure(4)
		if err != nil {
			return err
		}
		f.Count, f.LastTime = 7, base.Add(time.Hour)
		if err := tx.UpdateAuthFailure(f); err != nil {
			return err
		}
		if err := tx.UpdateAuthFailure(AuthFailure{ID: 99}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("update of a missing record: %v", err)
		}
		// Pages newest first, with and without a filter.
		var ids []uint64
		p := Page{Limit: 3}
		for {
			recs, next, err := tx.ListAuthFailures(nil, p)
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
		even := func(f *AuthFailure) bool { return f.ID%2 == 0 }
		recs, next, err := tx.ListAuthFailures(even, Page{Limit: 2})
		if err != nil || len(recs) != 2 || recs[0].ID != 10 || recs[1].ID != 8 || next == "" {
			t.Fatalf("filtered page %v %q %v", recs, next, err)
		}
		recs, next, err = tx.ListAuthFailures(even, Page{Limit: 50, Cursor: next})
		if err != nil || len(recs) != 3 || recs[0].ID != 6 || recs[1].Count != 7 || next != "" {
			t.Fatalf("second filtered page %v %q %v", recs, next, err)
		}
		for _, bad := range []string{"!", EncodeCursor([]byte{1, 2, 3})} {
			if _, _, err := tx.ListAuthFailures(nil, Page{Cursor: bad}); !errors.Is(err, ErrInvalidCursor) {
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
			err := db.Update(context.Background(), func(tx *Tx) error {
				n, err := tx.PruneAuthFailures(tc.cutoff, tc.keep, tc.most)
				if err != nil {
					return err
				}
				recs, _, err := tx.ListAuthFailures(nil, Page{Limit: 100})
				if err != nil {
					return err
				}
				if n != tc.deleted || tx.CountAuthFailures() != 10-tc.deleted || len(recs) != 10-tc.deleted {
					t.Fatalf("deleted %d, count %d, listed %d; want %d deleted", n, tx.CountAuthFailures(), len(recs), tc.deleted)
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
	addFailures(t, db, time.Now(), MaxAuthFailureScan+10)
	err := db.View(context.Background(), func(tx *Tx) error {
		reads := 0
		none := func(*AuthFailure) bool { reads++; return false }
		recs, next, err := tx.ListAuthFailures(none, Page{Limit: 10})
		if err != nil || len(recs) != 0 || next == "" || reads != MaxAuthFailureScan {
			t.Fatalf("first page: %d items, next %q, %d reads, %v", len(recs), next, reads, err)
		}
		reads = 0
		recs, next, err = tx.ListAuthFailures(none, Page{Limit: 10, Cursor: next})
		if err != nil || len(recs) != 0 || next != "" || reads != 10 {
			t.Fatalf("second page: %d items, next %q, %d reads, %v", len(recs), next, reads, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
