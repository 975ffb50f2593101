package store

import (
	"bytes"
	"errors"
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
			if again, err := DecodeCursor(KeyCursor(string(b))); err != nil || !bytes.Equal(again, b) {
				t.Fatalf("cursor %q: key %x re-encoded reads back as %x, %v", s, b, again, err)
			}
		}
		c := KeyCursor(string(key))
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
