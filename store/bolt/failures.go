package bolt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// failures implements store.Failures over the auth_failures bucket, keyed
// by id. IDs come from the bucket's sequence, so the log is ordered oldest
// first and its IDs have no gaps (records are only ever pruned from the old
// end).
type failures struct{ *Tx }

func (tx failures) Add(f *store.AuthFailure) error {
	b := tx.bucket(bucketAuthFailures)
	id, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("store: auth failure: %w", err)
	}
	f.ID = id
	return tx.putJSON(bucketAuthFailures, itob(id), f)
}

func (tx failures) Update(f store.AuthFailure) error {
	if f.ID == 0 || tx.bucket(bucketAuthFailures).Get(itob(f.ID)) == nil {
		return fmt.Errorf("store: auth failure %d: %w", f.ID, store.ErrNotFound)
	}
	return tx.putJSON(bucketAuthFailures, itob(f.ID), f)
}

func (tx failures) Get(id uint64) (store.AuthFailure, error) {
	var f store.AuthFailure
	if err := tx.getJSON(bucketAuthFailures, itob(id), &f); err != nil {
		return f, fmt.Errorf("store: auth failure %d: %w", id, err)
	}
	return f, nil
}

// Count reads the number of records from the first and last keys (the IDs
// have no gaps), without walking the bucket.
func (tx failures) Count() (int, error) {
	c := tx.bucket(bucketAuthFailures).Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	if first == nil {
		return 0, nil
	}
	return int(btoi(last) - btoi(first) + 1), nil
}

// List reads newest first from the cursor, the key of the next record to
// read.
func (tx failures) List(filter store.FailureFilter, p store.Page) ([]store.AuthFailure, string, error) {
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	if after != nil && len(after) != 8 {
		return nil, "", store.ErrInvalidCursor
	}
	limit := p.Size()
	c := tx.bucket(bucketAuthFailures).Cursor()
	var k, v []byte
	if after == nil {
		k, v = c.Last()
	} else {
		// The cursor is the key of the next record to read.
		k, v = c.Seek(after)
		if k == nil {
			k, v = c.Last()
		}
		for k != nil && bytes.Compare(k, after) > 0 {
			k, v = c.Prev()
		}
	}
	out := []store.AuthFailure{}
	for read := 0; k != nil; k, v = c.Prev() {
		if len(out) == limit || read == store.MaxFailureScan {
			return out, store.KeyCursor(string(k)), nil
		}
		read++
		var f store.AuthFailure
		if err := json.Unmarshal(v, &f); err != nil {
			return nil, "", fmt.Errorf("store: auth failure %d: %w", btoi(k), err)
		}
		if filter.Match(&f) {
			out = append(out, f)
		}
	}
	return out, "", nil
}

func (tx failures) Prune(cutoff time.Time, keep, maxDeletes int) (int, error) {
	count, err := tx.Count()
	if err != nil {
		return 0, err
	}
	c := tx.bucket(bucketAuthFailures).Cursor()
	deleted := 0
	// Always delete the first key and seek it again: bbolt's cursor skips a
	// key when Next follows Delete.
	for k, v := c.First(); k != nil && deleted < maxDeletes; k, v = c.First() {
		if count-deleted <= keep {
			if cutoff.IsZero() {
				break
			}
			var f store.AuthFailure
			if err := json.Unmarshal(v, &f); err != nil {
				return deleted, fmt.Errorf("store: auth failure %d: %w", btoi(k), err)
			}
			if !f.Time.Before(cutoff) {
				break
			}
		}
		if err := c.Delete(); err != nil {
			return deleted, fmt.Errorf("store: prune auth failures: %w", err)
		}
		deleted++
	}
	return deleted, nil
}
