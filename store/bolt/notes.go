package bolt

import (
	"encoding/json"
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// notes implements store.Notes: notes by id, indexed by owner.
type notes struct{ *Tx }

func (tx notes) Create(n *store.Note) error {
	if _, err := (users{tx.Tx}).Get(n.OwnerID); err != nil {
		return err
	}
	id, err := tx.bucket(bucketNotes).NextSequence()
	if err != nil {
		return err
	}
	n.ID, n.CreatedAt, n.UpdatedAt = id, tx.now, tx.now
	if err := tx.bucket(bucketNotesByOwner).Put(concat(itob(n.OwnerID), itob(id)), nil); err != nil {
		return err
	}
	return tx.putJSON(bucketNotes, itob(id), n)
}

func (tx notes) Get(id uint64) (store.Note, error) {
	var n store.Note
	if err := tx.getJSON(bucketNotes, itob(id), &n); err != nil {
		return n, fmt.Errorf("store: note %d: %w", id, err)
	}
	return n, nil
}

func (tx notes) Update(n *store.Note) error {
	old, err := tx.Get(n.ID)
	if err != nil {
		return err
	}
	n.OwnerID, n.CreatedAt, n.UpdatedAt = old.OwnerID, old.CreatedAt, tx.now
	return tx.putJSON(bucketNotes, itob(n.ID), n)
}

func (tx notes) Delete(id uint64) error {
	n, err := tx.Get(id)
	if err != nil {
		return err
	}
	if err := tx.bucket(bucketNotesByOwner).Delete(concat(itob(n.OwnerID), itob(id))); err != nil {
		return err
	}
	return tx.bucket(bucketNotes).Delete(itob(id))
}

func (tx notes) List(owner uint64, p store.Page) ([]store.Note, string, error) {
	var out []store.Note
	if owner == 0 {
		next, err := scan(tx.bucket(bucketNotes), nil, true, p, false, func(_, v []byte) (bool, error) {
			var n store.Note
			if err := json.Unmarshal(v, &n); err != nil {
				return false, err
			}
			out = append(out, n)
			return true, nil
		})
		return out, next, err
	}
	next, err := scan(tx.bucket(bucketNotesByOwner), itob(owner), true, p, false, func(k, _ []byte) (bool, error) {
		n, err := tx.Get(btoi(k[8:]))
		if err != nil {
			return false, err
		}
		out = append(out, n)
		return true, nil
	})
	return out, next, err
}

func (tx notes) deleteOfOwner(owner uint64) error {
	var ids []uint64
	c := tx.bucket(bucketNotesByOwner).Cursor()
	prefix := itob(owner)
	for k, _ := c.Seek(prefix); k != nil && len(k) == 16 && btoi(k[:8]) == owner; k, _ = c.Next() {
		ids = append(ids, btoi(k[8:]))
	}
	for _, id := range ids {
		if err := tx.Delete(id); err != nil {
			return err
		}
	}
	return nil
}
