package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// AuthFailure is one recorded 401, 403 or 429 answer. Identical failures
// close in time are folded into one record: Count says how many there were,
// Time is the first and LastTime the last; Path and RequestID are those of
// the first.
type AuthFailure struct {
	ID          uint64    `json:"id"`
	Time        time.Time `json:"time"`
	LastTime    time.Time `json:"last_time"`
	Count       int       `json:"count"`
	IP          string    `json:"ip"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Route       string    `json:"route,omitempty"`
	Status      int       `json:"status"`
	Reason      string    `json:"reason"`
	UserID      uint64    `json:"user_id,omitempty"`
	RequestID   string    `json:"request_id"`
	Subject     string    `json:"subject,omitempty"`
	Object      string    `json:"object,omitempty"`
	Action      string    `json:"action,omitempty"`
	Explanation string    `json:"explanation,omitempty"`
}

// AddAuthFailure appends f to the auth-failure log and sets its ID. IDs
// come from the bucket's sequence, so the log is ordered oldest first and
// its IDs have no gaps (records are only ever pruned from the old end).
func (tx *Tx) AddAuthFailure(f *AuthFailure) error {
	b := tx.bucket(bucketAuthFailures)
	id, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("store: auth failure: %w", err)
	}
	f.ID = id
	return tx.putJSON(bucketAuthFailures, itob(id), f)
}

// UpdateAuthFailure rewrites the stored record with f's ID (to fold more
// occurrences into it). It returns ErrNotFound when retention has pruned
// the record meanwhile; the caller then appends a new one.
func (tx *Tx) UpdateAuthFailure(f AuthFailure) error {
	if f.ID == 0 || tx.bucket(bucketAuthFailures).Get(itob(f.ID)) == nil {
		return fmt.Errorf("store: auth failure %d: %w", f.ID, ErrNotFound)
	}
	return tx.putJSON(bucketAuthFailures, itob(f.ID), f)
}

// AuthFailure returns the record with id.
func (tx *Tx) AuthFailure(id uint64) (AuthFailure, error) {
	var f AuthFailure
	if err := tx.getJSON(bucketAuthFailures, itob(id), &f); err != nil {
		return f, fmt.Errorf("store: auth failure %d: %w", id, err)
	}
	return f, nil
}

// CountAuthFailures is the number of records in the log, read from its
// first and last keys (the IDs have no gaps), without walking the bucket.
func (tx *Tx) CountAuthFailures() int {
	c := tx.bucket(bucketAuthFailures).Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	if first == nil {
		return 0
	}
	return int(btoi(last) - btoi(first) + 1)
}

// MaxAuthFailureScan bounds how many records one page of ListAuthFailures
// reads, so that a filter matching nothing costs a bounded amount. A page
// that hits it is short and has a cursor to go on from.
const MaxAuthFailureScan = 10000

// ListAuthFailures returns a page of the log, newest first, of the records
// match accepts (nil accepts all). It reads at most MaxAuthFailureScan
// records; the next cursor is empty only when the oldest record was read.
func (tx *Tx) ListAuthFailures(match func(*AuthFailure) bool, p Page) ([]AuthFailure, string, error) {
	after, err := DecodeCursor(p.Cursor)
	if err != nil {
		return nil, "", err
	}
	if after != nil && len(after) != 8 {
		return nil, "", ErrInvalidCursor
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
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
	out := []AuthFailure{}
	for read := 0; k != nil; k, v = c.Prev() {
		if len(out) == limit || read == MaxAuthFailureScan {
			return out, EncodeCursor(k), nil
		}
		read++
		var f AuthFailure
		if err := json.Unmarshal(v, &f); err != nil {
			return nil, "", fmt.Errorf("store: auth failure %d: %w", btoi(k), err)
		}
		if match == nil || match(&f) {
			out = append(out, f)
		}
	}
	return out, "", nil
}

// PruneAuthFailures deletes the oldest records while there are more than
// keep, or while their first occurrence is before cutoff (zero: no age
// limit), at most maxDeletes in one call so that a transaction stays short;
// it returns how many it deleted.
func (tx *Tx) PruneAuthFailures(cutoff time.Time, keep, maxDeletes int) (int, error) {
	count := tx.CountAuthFailures()
	c := tx.bucket(bucketAuthFailures).Cursor()
	deleted := 0
	// Always delete the first key and seek it again: bbolt's cursor skips a
	// key when Next follows Delete.
	for k, v := c.First(); k != nil && deleted < maxDeletes; k, v = c.First() {
		if count-deleted <= keep {
			if cutoff.IsZero() {
				break
			}
			var f AuthFailure
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
