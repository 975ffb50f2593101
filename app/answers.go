package app

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// answerMemo keeps the answer of GET /api/<resource>/:id for the stored
// documents it was computed from. That answer is a function of the stored
// document alone (decoded into the resource's type, shown by its View,
// encoded as JSON), so an entry is found by the document itself: the hash
// of its bytes and meta data, then compared in full. A changed document is
// other bytes and misses; nothing is invalidated, nothing can be stale,
// and the rules still decide on every request (the memo holds no
// decision, only the bytes an allowed request is answered with).
//
// It is bounded: at answerMemoBytes of documents and answers kept, it
// starts again empty.
type answerMemo struct {
	seed maphash.Seed
	m    sync.Map // key to memoEntry; read without a lock by every request
	mu   sync.Mutex
	size int
}

// answerMemoBytes bounds the bytes of documents and answers one memo keeps.
const answerMemoBytes = 4 << 20

type memoEntry struct {
	doc    store.Doc
	answer []byte
}

func newAnswerMemo() *answerMemo {
	return &answerMemo{seed: maphash.MakeSeed()}
}

func (m *answerMemo) key(d store.Doc) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	var b [32]byte
	for i, v := range []uint64{d.ID, d.OwnerID, uint64(d.CreatedAt.UnixNano()), uint64(d.UpdatedAt.UnixNano())} {
		for j := range 8 {
			b[i*8+j] = byte(v >> (8 * j))
		}
	}
	h.Write(b[:])
	h.Write(d.Data)
	return h.Sum64()
}

func sameDoc(a, b store.Doc) bool {
	return a.ID == b.ID && a.OwnerID == b.OwnerID && sameTime(a.CreatedAt, b.CreatedAt) &&
		sameTime(a.UpdatedAt, b.UpdatedAt) && bytes.Equal(a.Data, b.Data)
}

// sameTime: the same instant in the same location, so shown the same.
func sameTime(a, b time.Time) bool { return a.Equal(b) && a.Location() == b.Location() }

// answer returns the JSON answer for d (with the newline Echo's encoder
// ends it with), computing it with view the first time.
func (m *answerMemo) answer(d store.Doc, view func(store.Doc) (any, error)) ([]byte, error) {
	k := m.key(d)
	if v, ok := m.m.Load(k); ok {
		if e := v.(memoEntry); sameDoc(e.doc, d) {
			return e.answer, nil
		}
	}
	v, err := view(d)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	b = append(b, '\n')
	// The entry owns its copy of the document: the caller's may change.
	e := memoEntry{doc: d, answer: b}
	e.doc.Data = bytes.Clone(d.Data)
	m.mu.Lock()
	if m.size+len(e.doc.Data)+len(b) > answerMemoBytes {
		m.m.Clear()
		m.size = 0
	}
	if _, loaded := m.m.LoadOrStore(k, e); !loaded {
		m.size += len(e.doc.Data) + len(b)
	}
	m.mu.Unlock()
	return b, nil
}
