package bolt

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/store"
	bbolt "go.etcd.io/bbolt"
)

// docs implements store.Docs. Each kind has two buckets, created on its
// first resource: <kind> (JSON objects by id, the store's fields merged
// in, so a file written before kinds existed reads the same) and
// <kind>_by_owner (owner id + id, for an owner's list and their deletion).
type docs struct{ *Tx }

// ownerIndexSuffix names the owner index bucket of a kind.
const ownerIndexSuffix = "_by_owner"

// kindBuckets checks kind and returns its two bucket names. A kind may not
// take the name of one of the store's own buckets.
func kindBuckets(kind string) (data, byOwner []byte, err error) {
	if err := store.CheckKind(kind); err != nil {
		return nil, nil, err
	}
	for _, b := range allBuckets {
		if name := string(b); name == kind || name == kind+ownerIndexSuffix {
			if kind == "notes" { // the example resource has had its buckets from the start
				break
			}
			return nil, nil, fmt.Errorf("store: %q is the name of one of the store's own buckets: choose another kind", kind)
		}
	}
	return []byte(kind), []byte(kind + ownerIndexSuffix), nil
}

// buckets returns the buckets of kind, creating them in a write
// transaction when create is set; nil buckets mean the kind has nothing.
func (tx docs) buckets(kind string, create bool) (data, byOwner *bbolt.Bucket, err error) {
	dn, on, err := kindBuckets(kind)
	if err != nil {
		return nil, nil, err
	}
	if !create {
		return tx.tx.Bucket(dn), tx.tx.Bucket(on), nil
	}
	if data, err = tx.tx.CreateBucketIfNotExists(dn); err != nil {
		return nil, nil, err
	}
	byOwner, err = tx.tx.CreateBucketIfNotExists(on)
	return data, byOwner, err
}

// merge writes the store's fields into the JSON object data.
func merge(data json.RawMessage, meta store.Owned) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &fields); err != nil {
			return nil, fmt.Errorf("store: a resource must be a JSON object: %w", err)
		}
	}
	m, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	var own map[string]json.RawMessage
	if err := json.Unmarshal(m, &own); err != nil {
		return nil, err
	}
	for k, v := range own {
		fields[k] = v
	}
	return json.Marshal(fields)
}

// read decodes a stored value.
func read(kind string, id uint64, v []byte) (store.Doc, error) {
	d := store.Doc{Data: append(json.RawMessage(nil), v...)}
	if err := json.Unmarshal(v, &d.Owned); err != nil {
		return d, fmt.Errorf("store: %s %d: %w", kind, id, err)
	}
	return d, nil
}

func (tx docs) Create(kind string, d *store.Doc) error {
	data, byOwner, err := tx.buckets(kind, true)
	if err != nil {
		return err
	}
	if _, err := (users{tx.Tx}).Get(d.OwnerID); err != nil {
		return err
	}
	id, err := data.NextSequence()
	if err != nil {
		return err
	}
	d.ID, d.CreatedAt, d.UpdatedAt = id, tx.now, tx.now
	v, err := merge(d.Data, d.Owned)
	if err != nil {
		return err
	}
	d.Data = v
	if err := byOwner.Put(concat(itob(d.OwnerID), itob(id)), nil); err != nil {
		return err
	}
	return data.Put(itob(id), v)
}

func (tx docs) Get(kind string, id uint64) (store.Doc, error) {
	// A kept record was read under a kind already checked.
	key := docKey{kind, id}
	if d, ok := tx.cache.docs.get(tx.tx, key); ok {
		d.Data = append(json.RawMessage(nil), d.Data...)
		return d, nil
	}
	data, _, err := tx.buckets(kind, false)
	if err != nil {
		return store.Doc{}, err
	}
	var v []byte
	if data != nil {
		v = data.Get(itob(id))
	}
	if v == nil {
		return store.Doc{}, fmt.Errorf("store: %s %d: %w", kind, id, store.ErrNotFound)
	}
	d, err := read(kind, id, v)
	if err != nil {
		return d, err
	}
	tx.cache.docs.put(tx.tx, key, d, len(v))
	// What is kept is never handed out: the caller may change its copy.
	d.Data = append(json.RawMessage(nil), d.Data...)
	return d, nil
}

func (tx docs) Update(kind string, d *store.Doc) error {
	old, err := tx.Get(kind, d.ID)
	if err != nil {
		return err
	}
	d.OwnerID, d.CreatedAt, d.UpdatedAt = old.OwnerID, old.CreatedAt, tx.now
	v, err := merge(d.Data, d.Owned)
	if err != nil {
		return err
	}
	d.Data = v
	return tx.tx.Bucket([]byte(kind)).Put(itob(d.ID), v)
}

func (tx docs) Delete(kind string, id uint64) error {
	d, err := tx.Get(kind, id)
	if err != nil {
		return err
	}
	data, byOwner, err := tx.buckets(kind, false)
	if err != nil {
		return err
	}
	if err := byOwner.Delete(concat(itob(d.OwnerID), itob(id))); err != nil {
		return err
	}
	return data.Delete(itob(id))
}

func (tx docs) List(kind string, owner uint64, p store.Page) ([]store.Doc, string, error) {
	data, byOwner, err := tx.buckets(kind, false)
	if err != nil {
		return nil, "", err
	}
	if _, err := p.ID(); err != nil {
		return nil, "", err
	}
	var out []store.Doc
	if data == nil {
		return out, "", nil
	}
	if owner == 0 {
		next, err := scan(data, nil, true, p, false, func(k, v []byte) (bool, error) {
			d, err := read(kind, btoi(k), v)
			out = append(out, d)
			return err == nil, err
		})
		return out, next, err
	}
	next, err := scan(byOwner, itob(owner), true, p, false, func(k, _ []byte) (bool, error) {
		d, err := tx.Get(kind, btoi(k[8:]))
		out = append(out, d)
		return err == nil, err
	})
	return out, next, err
}

// deleteOfOwner deletes an owner's resources of every kind: each bucket
// named <kind>_by_owner is a kind's index.
func (tx docs) deleteOfOwner(owner uint64) error {
	var kinds []string
	err := tx.tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
		if kind, ok := strings.CutSuffix(string(name), ownerIndexSuffix); ok && store.CheckKind(kind) == nil {
			kinds = append(kinds, kind)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, kind := range kinds {
		var ids []uint64
		c := tx.tx.Bucket([]byte(kind + ownerIndexSuffix)).Cursor()
		prefix := itob(owner)
		for k, _ := c.Seek(prefix); k != nil && len(k) == 16 && btoi(k[:8]) == owner; k, _ = c.Next() {
			ids = append(ids, btoi(k[8:]))
		}
		for _, id := range ids {
			if err := tx.Delete(kind, id); err != nil {
				return err
			}
		}
	}
	return nil
}
