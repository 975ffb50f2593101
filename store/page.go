package store

import (
	"bytes"
	"encoding/base64"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// ErrInvalidCursor means a list cursor was not one this server handed out.
var ErrInvalidCursor = errors.New("invalid cursor")

// maxCursorLen bounds a cursor so that a hostile one costs nothing to reject.
const maxCursorLen = 256

// Page selects a page of a list: at most Limit items after Cursor.
type Page struct {
	Limit  int
	Cursor string
}

// EncodeCursor makes an opaque cursor of a key suffix.
func EncodeCursor(key []byte) string {
	if len(key) == 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(key)
}

// DecodeCursor reads a cursor made by EncodeCursor; the empty cursor is the
// start of the list.
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

// scan walks the keys of b that start with prefix, after the cursor (a key
// suffix, so that a cursor can never leave the prefix), forward or newest
// first. visit says whether it took the item; scan stops after limit taken
// items and returns the cursor of the next page, empty on the last page.
func scan(b *bolt.Bucket, prefix []byte, p Page, reverse bool, visit func(k, v []byte) (bool, error)) (string, error) {
	after, err := DecodeCursor(p.Cursor)
	if err != nil {
		return "", err
	}
	limit := p.Limit
	if limit <= 0 {
		limit = 50
	}
	c := b.Cursor()
	var k, v []byte
	next := c.Next
	switch {
	case reverse:
		next = c.Prev
		if after == nil {
			k, v = seekLast(c, prefix)
		} else {
			start := concat(prefix, after)
			k, v = c.Seek(start)
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && bytes.Compare(k, start) >= 0 {
				k, v = c.Prev()
			}
		}
	case after == nil:
		k, v = c.Seek(prefix)
	default:
		start := concat(prefix, after)
		k, v = c.Seek(start)
		if bytes.Equal(k, start) {
			k, v = c.Next()
		}
	}
	taken := 0
	var lastTaken []byte
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = next() {
		if taken == limit {
			return EncodeCursor(lastTaken), nil
		}
		ok, err := visit(k, v)
		if err != nil {
			return "", err
		}
		if ok {
			taken++
			lastTaken = append(lastTaken[:0], k[len(prefix):]...)
		}
	}
	return "", nil
}

// seekLast positions c on the last key with prefix.
func seekLast(c *bolt.Cursor, prefix []byte) ([]byte, []byte) {
	if len(prefix) == 0 {
		return c.Last()
	}
	// Seek to the first key after every key with prefix, then step back.
	end := bytes.Clone(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			end = end[:i+1]
			if k, _ := c.Seek(end); k == nil {
				return c.Last()
			}
			return c.Prev()
		}
	}
	return c.Last()
}
