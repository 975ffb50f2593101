package store

import (
	"encoding/base64"
	"encoding/binary"
)

// maxCursorLen bounds a cursor so that a hostile one costs nothing to reject.
const maxCursorLen = 256

// DefaultLimit is the page size when Page.Limit is not positive.
const DefaultLimit = 50

// Page selects a page of a list: at most Limit items after Cursor.
//
// A cursor is opaque to callers: they pass back the one a list returned.
// Inside, it holds the sort key of the place the list stopped: an id for
// lists in id order, a name for groups. Every backend writes and reads
// cursors with the functions of this file, so a cursor names a place in
// the data, not in one backend's files.
type Page struct {
	Limit  int
	Cursor string
}

// Size is the number of items the page may hold.
func (p Page) Size() int {
	if p.Limit <= 0 {
		return DefaultLimit
	}
	return p.Limit
}

// KeyCursor makes the cursor of a place named by a sort key; the empty key
// is the end of the list (no cursor).
func KeyCursor(key string) string {
	if key == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(key))
}

// IDCursor makes the cursor of a place named by an id.
func IDCursor(id uint64) string {
	return KeyCursor(string(binary.BigEndian.AppendUint64(nil, id)))
}

// Key reads the cursor as a sort key; the empty cursor is the start of the
// list, and anything this package did not write is ErrInvalidCursor.
func (p Page) Key() (string, error) {
	b, err := DecodeCursor(p.Cursor)
	return string(b), err
}

// ID reads the cursor as an id; the empty cursor (the start of the list)
// is 0, a cursor that holds no id is ErrInvalidCursor.
func (p Page) ID() (uint64, error) {
	b, err := DecodeCursor(p.Cursor)
	switch {
	case err != nil:
		return 0, err
	case b == nil:
		return 0, nil
	case len(b) != 8:
		return 0, ErrInvalidCursor
	}
	return binary.BigEndian.Uint64(b), nil
}

// DecodeCursor reads a cursor made by KeyCursor or IDCursor into the bytes
// of its key; the empty cursor is nil, the start of the list.
func DecodeCursor(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) > maxCursorLen {
		return nil, ErrInvalidCursor
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, ErrInvalidCursor
	}
	return b, nil
}
