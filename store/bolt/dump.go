package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse/gatehouse/store"
	bbolt "go.etcd.io/bbolt"
)

var _ store.Dumper = (*DB)(nil)

// dataBuckets are the buckets Dump reads, in its order, with the record
// each holds; owned resources (docKinds) come after the sessions.
var dataBuckets = []struct {
	name []byte
	new  func() (store.Record, any)
}{
	{bucketUsers, func() (store.Record, any) { v := &store.User{}; return store.Record{User: v}, v }},
	{bucketGroups, func() (store.Record, any) { v := &store.Group{}; return store.Record{Group: v}, v }},
	{bucketRules, func() (store.Record, any) { v := &store.Rule{}; return store.Record{Rule: v}, v }},
	{bucketSessions, func() (store.Record, any) { v := &store.SessionRecord{}; return store.Record{Session: v}, &v.Session }},
	{nil, nil}, // the owned resources of every kind
	{bucketAudit, func() (store.Record, any) { v := &store.AuditRecord{}; return store.Record{Audit: v}, v }},
	{bucketAuthFailures, func() (store.Record, any) { v := &store.AuthFailure{}; return store.Record{Failure: v}, v }},
}

// Dump calls fn for every record from one read transaction. Sessions are
// keyed by hash, so they come in hash order.
func (db *DB) Dump(ctx context.Context, fn func(store.Record) error) error {
	return db.bolt.View(func(tx *bbolt.Tx) error {
		for _, b := range dataBuckets {
			if b.name == nil {
				if err := dumpDocs(ctx, tx, fn); err != nil {
					return err
				}
				continue
			}
			err := tx.Bucket(b.name).ForEach(func(k, v []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				rec, into := b.new()
				if err := json.Unmarshal(v, into); err != nil {
					return fmt.Errorf("store: %s %x: %w", b.name, k, err)
				}
				if rec.Session != nil {
					rec.Session.Hash = append([]byte(nil), k...)
				}
				return fn(rec)
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// docKinds are the kinds of owned resources the file holds: each has a
// bucket <kind>_by_owner.
func docKinds(tx *bbolt.Tx) []string {
	var kinds []string
	_ = tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		if kind, ok := strings.CutSuffix(string(name), ownerIndexSuffix); ok && store.CheckKind(kind) == nil && tx.Bucket([]byte(kind)) != nil {
			kinds = append(kinds, kind)
		}
		return nil
	})
	return kinds
}

// dumpDocs calls fn for the owned resources of every kind.
func dumpDocs(ctx context.Context, tx *bbolt.Tx, fn func(store.Record) error) error {
	for _, kind := range docKinds(tx) {
		err := tx.Bucket([]byte(kind)).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			d, err := read(kind, btoi(k), v)
			if err != nil {
				return err
			}
			return fn(store.Record{Doc: &store.DocRecord{Kind: kind, Doc: d}})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Empty reports whether no bucket holds a record.
func (db *DB) Empty(ctx context.Context) (bool, error) {
	empty := true
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		names := [][]byte{}
		for _, b := range dataBuckets {
			if b.name != nil {
				names = append(names, b.name)
			}
		}
		for _, kind := range docKinds(tx) {
			names = append(names, []byte(kind))
		}
		for _, name := range names {
			if k, _ := tx.Bucket(name).Cursor().First(); k != nil {
				empty = false
			}
		}
		return nil
	})
	return empty, err
}

// Load writes whole records with their indexes in one transaction, and
// moves each bucket's sequence to its largest id.
func (db *DB) Load(ctx context.Context, next func() (store.Record, error)) error {
	if empty, err := db.Empty(ctx); err != nil {
		return err
	} else if !empty {
		return fmt.Errorf("store: %s holds data: %w", db.path, store.ErrConflict)
	}
	return db.Update(ctx, func(stx store.Tx) error {
		tx := stx.(*Tx)
		rules := false
		for {
			rec, err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return err
			}
			rules = rules || rec.Rule != nil
			if err := tx.load(rec); err != nil {
				return err
			}
		}
		if rules {
			return tx.bucket(bucketMeta).Put(keyPolicyVersion, itob(1))
		}
		return nil
	})
}

// load puts one record and its index entries.
func (tx *Tx) load(rec store.Record) error {
	put := func(bucket []byte, id uint64, v any) error {
		b := tx.bucket(bucket)
		if id > b.Sequence() {
			if err := b.SetSequence(id); err != nil {
				return err
			}
		}
		return tx.putJSON(bucket, itob(id), v)
	}
	switch {
	case rec.User != nil:
		u := rec.User
		if err := tx.bucket(bucketUsersByEmail).Put([]byte(store.NormalizeEmail(u.Email)), itob(u.ID)); err != nil {
			return err
		}
		if u.Linked() {
			if err := tx.bucket(bucketUsersByIdentity).Put(identityKey(u), itob(u.ID)); err != nil {
				return err
			}
		}
		return put(bucketUsers, u.ID, u)
	case rec.Group != nil:
		return tx.putJSON(bucketGroups, []byte(rec.Group.Name), rec.Group)
	case rec.Rule != nil:
		r := rec.Rule
		if err := tx.bucket(bucketRulesByKey).Put([]byte(store.RuleKey(r.Type, r.Values)), itob(r.ID)); err != nil {
			return err
		}
		for _, v := range indexedValues(*r) {
			if err := tx.bucket(bucketRulesByValue).Put(refKey(v, r.ID), nil); err != nil {
				return err
			}
		}
		return put(bucketRules, r.ID, r)
	case rec.Session != nil:
		s := rec.Session
		b := tx.bucket(bucketSessions)
		if s.ID > b.Sequence() {
			if err := b.SetSequence(s.ID); err != nil {
				return err
			}
		}
		if err := tx.bucket(bucketSessionsByID).Put(itob(s.ID), s.Hash); err != nil {
			return err
		}
		if err := tx.bucket(bucketSessionsByUser).Put(concat(itob(s.UserID), itob(s.ID)), s.Hash); err != nil {
			return err
		}
		return tx.putJSON(bucketSessions, s.Hash, s.Session)
	case rec.Doc != nil:
		d := rec.Doc
		data, byOwner, err := (docs{tx}).buckets(d.Kind, true)
		if err != nil {
			return err
		}
		if d.ID > data.Sequence() {
			if err := data.SetSequence(d.ID); err != nil {
				return err
			}
		}
		if err := byOwner.Put(concat(itob(d.OwnerID), itob(d.ID)), nil); err != nil {
			return err
		}
		return data.Put(itob(d.ID), d.Data)
	case rec.Audit != nil:
		return put(bucketAudit, rec.Audit.ID, rec.Audit)
	case rec.Failure != nil:
		return put(bucketAuthFailures, rec.Failure.ID, rec.Failure)
	}
	return errors.New("store: an empty record")
}
