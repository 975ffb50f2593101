package store

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"
)

// FuzzParseID checks that ParseID takes exactly the ids FormatID writes:
// whatever it accepts is written back unchanged, whatever it refuses is
// ErrNotFound, and every id but 0 reads back as itself.
func FuzzParseID(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, n uint64) {
		id, err := ParseID(s)
		switch {
		case err != nil && !errors.Is(err, ErrNotFound):
			t.Fatalf("ParseID(%q): %v, want ErrNotFound", s, err)
		case err != nil && id != 0:
			t.Fatalf("ParseID(%q): id %d with an error", s, id)
		case err == nil && (id == 0 || FormatID(id) != s):
			t.Fatalf("ParseID(%q) = %d, which is written %q", s, id, FormatID(id))
		}
		got, err := ParseID(FormatID(n))
		if n == 0 {
			if err == nil {
				t.Fatalf("ParseID(%q) accepted the id 0", FormatID(n))
			}
			return
		}
		if err != nil || got != n {
			t.Fatalf("ParseID(FormatID(%d)) = %d, %v", n, got, err)
		}
	})
}

// FuzzDecodeCursor checks that a cursor decodes to a non-empty key of
// bounded size or is ErrInvalidCursor, and that every key the server may
// hand out as a cursor decodes back to itself.
func FuzzDecodeCursor(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string, key []byte) {
		b, err := DecodeCursor(s)
		switch {
		case err != nil && !errors.Is(err, ErrInvalidCursor):
			t.Fatalf("DecodeCursor(%q): %v, want ErrInvalidCursor", s, err)
		case err != nil && b != nil:
			t.Fatalf("DecodeCursor(%q): a key and an error", s)
		case err == nil && s == "" && b != nil:
			t.Fatalf("DecodeCursor(\"\") = %x, want the start of the list", b)
		case err == nil && s != "" && (len(b) == 0 || len(s) > maxCursorLen):
			t.Fatalf("DecodeCursor(%q) = %x", s, b)
		}
		if err == nil && s != "" {
			// Several texts may name one key (base64 ignores the unused low
			// bits of the last character); the key itself is what counts.
			if again, err := DecodeCursor(EncodeCursor(b)); err != nil || !bytes.Equal(again, b) {
				t.Fatalf("cursor %q: key %x re-encoded reads back as %x, %v", s, b, again, err)
			}
		}
		c := EncodeCursor(key)
		got, err := DecodeCursor(c)
		switch {
		case len(c) > maxCursorLen:
			if err == nil {
				t.Fatalf("a cursor of %d bytes was accepted", len(c))
			}
		case err != nil || !bytes.Equal(got, key) && len(key) > 0 || len(key) == 0 && got != nil:
			t.Fatalf("key %x: cursor %q reads back as %x, %v", key, c, got, err)
		}
	})
}

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
	err = db.Update(context.Background(), func(tx *Tx) error {
		for i := range owners {
			u := User{Email: FormatID(uint64(i)) + "@example.com"}
			if err := tx.CreateUser(&u); err != nil {
				return err
			}
			owners[i] = u.ID
		}
		// Interleaved, so that the owners' keys sit side by side.
		for i := range 12 {
			if err := tx.CreateNote(&Note{OwnerID: owners[i%2], Title: "t"}); err != nil {
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
		p := Page{Limit: int(limit%8) + 1, Cursor: cursor}
		err := db.View(context.Background(), func(tx *Tx) error {
			var last uint64
			for pages := 0; ; pages++ {
				notes, next, err := tx.ListNotes(owner, p)
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
		if err != nil && !errors.Is(err, ErrInvalidCursor) {
			t.Fatalf("cursor %q: %v", cursor, err)
		}
	})
}
