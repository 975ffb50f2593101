package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Note is the example resource: a title and a body owned by one user.
type Note struct {
	ID        uint64    `json:"id"`
	OwnerID   uint64    `json:"owner_id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CreateNote stores a new note and sets its ID and timestamps.
func (tx *Tx) CreateNote(n *Note) error {
	if _, err := tx.User(n.OwnerID); err != nil {
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

// Note returns the note with id.
func (tx *Tx) Note(id uint64) (Note, error) {
	var n Note
	if err := tx.getJSON(bucketNotes, itob(id), &n); err != nil {
		return n, fmt.Errorf("store: note %d: %w", id, err)
	}
	return n, nil
}

// UpdateNote stores the title and body of n over the note with its ID. The
// owner of a note never changes.
func (tx *Tx) UpdateNote(n *Note) error {
	old, err := tx.Note(n.ID)
	if err != nil {
		return err
	}
	n.OwnerID, n.CreatedAt, n.UpdatedAt = old.OwnerID, old.CreatedAt, tx.now
	return tx.putJSON(bucketNotes, itob(n.ID), n)
}

// DeleteNote removes the note with id.
func (tx *Tx) DeleteNote(id uint64) error {
	n, err := tx.Note(id)
	if err != nil {
		return err
	}
	if err := tx.bucket(bucketNotesByOwner).Delete(concat(itob(n.OwnerID), itob(id))); err != nil {
		return err
	}
	return tx.bucket(bucketNotes).Delete(itob(id))
}

// ListNotes returns a page of notes in id order: all notes when owner is 0,
// else the owner's.
func (tx *Tx) ListNotes(owner uint64, p Page) ([]Note, string, error) {
	var out []Note
	if owner == 0 {
		next, err := scan(tx.bucket(bucketNotes), nil, p, false, func(_, v []byte) (bool, error) {
			var n Note
			if err := json.Unmarshal(v, &n); err != nil {
				return false, err
			}
			out = append(out, n)
			return true, nil
		})
		return out, next, err
	}
	next, err := scan(tx.bucket(bucketNotesByOwner), itob(owner), p, false, func(k, _ []byte) (bool, error) {
		n, err := tx.Note(btoi(k[8:]))
		if err != nil {
			return false, err
		}
		out = append(out, n)
		return true, nil
	})
	return out, next, err
}

func (tx *Tx) deleteUserNotes(owner uint64) error {
	var ids []uint64
	c := tx.bucket(bucketNotesByOwner).Cursor()
	prefix := itob(owner)
	for k, _ := c.Seek(prefix); k != nil && len(k) == 16 && btoi(k[:8]) == owner; k, _ = c.Next() {
		ids = append(ids, btoi(k[8:]))
	}
	for _, id := range ids {
		if err := tx.DeleteNote(id); err != nil {
			return err
		}
	}
	return nil
}
