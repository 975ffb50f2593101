package bolt

import (
	"bytes"

	"github.com/gatehouse/gatehouse/store"
	bbolt "go.etcd.io/bbolt"
)

// scan walks the keys of b that start with prefix, after the cursor (a key
// suffix, so that a cursor can never leave the prefix), forward or newest
// first. When byID is set, the suffixes are ids and a cursor that holds no
// id is store.ErrInvalidCursor. visit says whether it took the item; scan stops after limit taken
// items and returns the cursor of the next page, empty on the last page.
func scan(b *bbolt.Bucket, prefix []byte, byID bool, p store.Page, reverse bool, visit func(k, v []byte) (bool, error)) (string, error) {
	after, err := store.DecodeCursor(p.Cursor)
	if err != nil {
		return "", err
	}
	if byID && after != nil && len(after) != 8 {
		return "", store.ErrInvalidCursor
	}
	limit := p.Size()
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
			return store.KeyCursor(string(lastTaken)), nil
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
func seekLast(c *bbolt.Cursor, prefix []byte) ([]byte, []byte) {
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
