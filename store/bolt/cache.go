package bolt

import (
	"crypto/sha256"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/gatehouse/gatehouse/store"
	bbolt "go.etcd.io/bbolt"
)

// Decoded records of the request path (a credential, its user, an owned
// resource) are kept for the committed state of the file they were read
// from, so that a request does not decode the same JSON again and again.
//
// bbolt numbers the states of a file: every commit, by this process or any
// other, increments the transaction id of its meta page, and a read
// transaction sees exactly the state of its id. An entry is only ever
// served to a read transaction of the id it was decoded in, so it is what
// decoding the stored bytes again would give: a revocation, a disable, a
// role or password change is a commit, and the first read transaction
// after it finds nothing kept. There is nothing to invalidate by hand and
// nothing can be stale. Write transactions never use it (they see their
// own uncommitted changes).
type caches struct {
	sessions readCache[[sha256.Size]byte, store.Session]
	users    readCache[uint64, store.User]
	docs     readCache[docKey, store.Doc]
	// version is the policy version of the state (one entry).
	version readCache[struct{}, uint64]
}

// docKey names one owned resource.
type docKey struct {
	kind string
	id   uint64
}

// cacheBytes bounds the stored bytes of the records one readCache keeps for
// one state of the file; records beyond it are decoded every time.
const cacheBytes = 4 << 20

// readCache holds the records decoded in one state of the file.
type readCache[K comparable, V any] struct {
	cur atomic.Pointer[cacheState[K, V]]
}

// cacheState is what was decoded in the state with id txid; size counts the
// stored bytes of its records. Reads take no lock (a sync.Map: records are
// put once and read by every request, from both CPUs at once).
type cacheState[K comparable, V any] struct {
	txid int
	m    sync.Map // K to V
	mu   sync.Mutex
	size int
}

// state returns what is kept for tx's state of the file: nil for a write
// transaction, or a read transaction older than the newest state seen (it
// decodes as before). A newer state replaces the kept one, empty.
func (c *readCache[K, V]) state(tx *bbolt.Tx) *cacheState[K, V] {
	if tx.Writable() {
		return nil
	}
	id := tx.ID()
	for {
		s := c.cur.Load()
		switch {
		case s != nil && s.txid == id:
			return s
		case s != nil && s.txid > id:
			return nil
		}
		fresh := &cacheState[K, V]{txid: id}
		if c.cur.CompareAndSwap(s, fresh) {
			return fresh
		}
	}
}

// get returns the record of k decoded in tx's state of the file.
func (c *readCache[K, V]) get(tx *bbolt.Tx, k K) (V, bool) {
	s := c.state(tx)
	if s == nil {
		var zero V
		return zero, false
	}
	return s.load(k)
}

// load returns the record of k kept in s.
func (s *cacheState[K, V]) load(k K) (V, bool) {
	v, ok := s.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

// getAt returns the record of k kept for the state with id txid, without a
// transaction (DB.ReadCredential, which knows the newest committed state).
func (c *readCache[K, V]) getAt(txid int, k K) (V, bool) {
	s := c.cur.Load()
	if s == nil || s.txid != txid {
		var zero V
		return zero, false
	}
	return s.load(k)
}

// kept returns a request's credential as kept for the state with id txid,
// when every record of it is kept there.
func (c *caches) kept(txid int, hash []byte, doc store.DocRef) (store.Credential, bool) {
	var cred store.Credential
	var key [sha256.Size]byte
	if len(hash) != len(key) {
		return cred, false
	}
	copy(key[:], hash)
	var ok bool
	if cred.Session, ok = c.sessions.getAt(txid, key); !ok {
		return cred, false
	}
	if cred.User, ok = c.users.getAt(txid, cred.Session.UserID); !ok {
		return cred, false
	}
	if cred.Version, ok = c.version.getAt(txid, struct{}{}); !ok {
		return cred, false
	}
	if doc.Kind != "" {
		if cred.Doc, ok = c.docs.getAt(txid, docKey{doc.Kind, doc.ID}); !ok {
			return cred, false
		}
		cred.Doc.Data = append(json.RawMessage(nil), cred.Doc.Data...)
	}
	return cred, true
}

// put keeps v, decoded from size stored bytes in tx's state of the file,
// while the state's records stay within cacheBytes.
func (c *readCache[K, V]) put(tx *bbolt.Tx, k K, v V, size int) {
	s := c.state(tx)
	if s == nil {
		return
	}
	s.mu.Lock()
	if _, ok := s.m.Load(k); !ok && s.size+size <= cacheBytes {
		s.m.Store(k, v)
		s.size += size
	}
	s.mu.Unlock()
}
