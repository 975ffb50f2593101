package bolt

import (
	"context"
	"errors"
	"github.com/gatehouse/gatehouse/store"
	"path/filepath"
	"testing"
)

// FuzzListNotesCursor lists one owner's notes from any cursor, in a real
// database holding the notes of two owners. Whatever the cursor, the page
// holds only that owner's notes, in id order, and so does every page after
// it: a cursor can never lead out of the owner's part of the index.
func FuzzListNotesCursor(f *testing.F) {
	db, err := Open(filepath.Join(f.TempDir(), "g.db"), Options{NoSync: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	var owners [2]uint64
	err = db.Update(context.Background(), func(tx store.Tx) error {
		for i := range owners {
			u := store.User{Email: store.FormatID(uint64(i)) + "@example.com"}
			if err := tx.Users().Create(&u); err != nil {
				return err
			}
			owners[i] = u.ID
		}
		// Interleaved, so that the owners' keys sit side by side.
		for i := range 12 {
			if err := testNotes.Create(tx, &testNote{Owned: store.Owned{OwnerID: owners[i%2]}, Title: "t"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, first bool, cursor string, limit uint8) {
		owner := owners[0]
		if !first {
			owner = owners[1]
		}
		p := store.Page{Limit: int(limit%8) + 1, Cursor: cursor}
		err := db.View(context.Background(), func(tx store.Tx) error {
			var last uint64
			for pages := 0; ; pages++ {
				notes, next, err := testNotes.List(tx, owner, p)
				if err != nil {
					return err
				}
				if len(notes) > p.Limit || pages > 12 {
					t.Fatalf("cursor %q: %d notes on a page of %d, page %d", cursor, len(notes), p.Limit, pages)
				}
				for _, n := range notes {
					if n.OwnerID != owner || n.ID <= last {
						t.Fatalf("cursor %q: owner %d's list shows note %d of owner %d after note %d", cursor, owner, n.ID, n.OwnerID, last)
					}
					last = n.ID
				}
				if next == "" {
					return nil
				}
				p.Cursor = next
			}
		})
		if err != nil && !errors.Is(err, store.ErrInvalidCursor) {
			t.Fatalf("cursor %q: %v", cursor, err)
		}
	})
}
