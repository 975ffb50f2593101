// Package bolt is the bbolt implementation of the storage contract of
// package store: all of gatehouse's data in one file (users, groups,
// sessions and tokens, notes, policy rules, the audit log and the
// auth-failure log), with the indexes each needs kept in the same
// transaction.
//
// bbolt allows one writer at a time, so every Update is serializable by
// construction and runs its function once. Values are copied out of bbolt
// before a transaction ends: nothing returned by this package points into
// the memory map. Besides store.Store, a DB is a store.Snapshotter (file
// backups) and a store.Checker (bbolt's page check).
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/store"
	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Errors of opening a file, matched with errors.Is by the composition root.
// The errors of the contract (store.ErrNotFound, ...) are store's.
var (
	// ErrInUse means another process holds the database file.
	ErrInUse = errors.New("database is in use by another process")
	// ErrForeign means the file is not a gatehouse database.
	ErrForeign = errors.New("not a gatehouse database")
	// ErrCorrupt means the file is a bbolt database whose pages are damaged
	// (cut short, overwritten): reading it could crash the process, writing
	// it could spread the damage. It is left untouched.
	ErrCorrupt = errors.New("the database file is damaged")
)

// schemaVersion is written into the meta bucket of a new database. A file
// with buckets but without this marker is someone else's, and is refused.
const schemaVersion = "1"

var (
	bucketMeta         = []byte("meta")
	bucketUsers        = []byte("users")
	bucketUsersByEmail = []byte("users_by_email")
	// bucketUsersByIdentity maps a linked provider identity (issuer and
	// subject, length-prefixed) to its user. A file made before it
	// existed gets it on the next writable open.
	bucketUsersByIdentity = []byte("users_by_identity")
	bucketSessions        = []byte("sessions")
	bucketSessionsByID    = []byte("sessions_by_id")
	bucketSessionsByUser  = []byte("sessions_by_user")
	bucketNotes           = []byte("notes")
	bucketNotesByOwner    = []byte("notes_by_owner")
	bucketGroups          = []byte("groups")
	bucketRules           = []byte("rules")
	bucketRulesByKey      = []byte("rules_by_key")
	bucketRulesByValue    = []byte("rules_by_value")
	bucketAudit           = []byte("audit")
	bucketAuthFailures    = []byte("auth_failures")

	allBuckets = [][]byte{
		bucketMeta, bucketUsers, bucketUsersByEmail, bucketSessions,
		bucketSessionsByID, bucketSessionsByUser, bucketNotes, bucketNotesByOwner,
		bucketGroups, bucketRules, bucketRulesByKey, bucketRulesByValue,
		bucketAudit, bucketAuthFailures, bucketUsersByIdentity,
	}

	keySchema        = []byte("schema")
	keyPolicyVersion = []byte("policy_version")
)

// Options tune Open.
type Options struct {
	// LockTimeout is how long Open waits for another process to release the
	// file before it gives up with ErrInUse. Zero means one second.
	LockTimeout time.Duration
	// ReadOnly opens the file without write access (for backups and checks).
	ReadOnly bool
	// NoSync skips fsync on commit. Only for benchmarks and data generators:
	// a crash may lose acknowledged writes.
	NoSync bool
}

// DB is an open gatehouse database.
type DB struct {
	bolt *bbolt.DB
	path string
	// cache keeps decoded records per committed state (cache.go).
	cache *caches
	// committed is the id of the newest committed state of the file: this
	// process is its only writer (bbolt's lock), and Update sets it when
	// a commit succeeds, before Update returns.
	committed atomic.Int64
}

// Open opens (and on first use creates) the database at path, creating its
// folder. A second process on the same file gets ErrInUse after
// LockTimeout instead of waiting forever: bbolt takes an exclusive flock.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = time.Second
	}
	if !opts.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store: create folder of %s: %w", path, err)
		}
	}
	// A file with data is inspected, read-only, before it is opened for
	// writing: bbolt trusts its pages, and a damaged file can make it crash
	// or write over good data.
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		if err := inspect(path, opts.LockTimeout); err != nil {
			return nil, err
		}
	}
	b, err := openBolt(path, &bbolt.Options{
		Timeout:  opts.LockTimeout,
		ReadOnly: opts.ReadOnly,
		NoSync:   opts.NoSync,
	})
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: b, path: path, cache: &caches{}}
	if err := db.init(opts.ReadOnly); err != nil {
		b.Close()
		return nil, err
	}
	_ = b.View(func(tx *bbolt.Tx) error { db.committed.Store(int64(tx.ID())); return nil })
	return db, nil
}

// openBolt opens a bbolt file, naming what went wrong in our terms.
func openBolt(path string, opts *bbolt.Options) (*bbolt.DB, error) {
	b, err := bbolt.Open(path, 0o600, opts)
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("store: %s: %w", path, ErrInUse)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrChecksum):
		return nil, fmt.Errorf("store: %s: %w (%v)", path, ErrForeign, err)
	case err != nil && strings.HasPrefix(err.Error(), "file size too small"):
		// bbolt has no sentinel for a file shorter than its two meta pages.
		return nil, fmt.Errorf("store: %s: %w (%v: it was cut short)", path, ErrCorrupt, err)
	case err != nil:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return b, nil
}

// init creates the buckets of a new file and refuses a foreign one: a bbolt
// file that has buckets but no gatehouse schema marker is left untouched.
// A file that has everything already is not written to.
func (db *DB) init(readOnly bool) error {
	check := func(tx *bbolt.Tx) (fresh bool, err error) {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bbolt.Bucket) error { empty = false; return nil })
			if !empty {
				return false, fmt.Errorf("store: %s: %w (it has data but no gatehouse schema)", db.path, ErrForeign)
			}
			return true, nil
		}
		if v := meta.Get(keySchema); string(v) != schemaVersion {
			return false, fmt.Errorf("store: %s: %w (schema %q, want %q)", db.path, ErrForeign, v, schemaVersion)
		}
		return false, nil
	}
	complete := false
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		fresh, err := check(tx)
		if err != nil {
			return err
		}
		if fresh && readOnly {
			return fmt.Errorf("store: %s: %w (empty file)", db.path, ErrForeign)
		}
		complete = !fresh
		for _, name := range allBuckets {
			complete = complete && tx.Bucket(name) != nil
		}
		return nil
	})
	if err != nil || readOnly || complete {
		return err
	}
	return db.bolt.Update(func(tx *bbolt.Tx) error {
		if _, err := check(tx); err != nil {
			return err
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: create bucket %s: %w", name, err)
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, []byte(schemaVersion))
	})
}

// Close closes the database file.
func (db *DB) Close() error { return db.bolt.Close() }

// Path is the file the database lives in.
func (db *DB) Path() string { return db.path }

// Bolt exposes the underlying bbolt handle for consistency checks and
// statistics in tests and tools.
func (db *DB) Bolt() *bbolt.DB { return db.bolt }

// WriteTo writes a consistent copy of the whole database to w from one read
// transaction, while writers go on.
func (db *DB) WriteTo(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bbolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Tx is one bbolt transaction; it implements store.Tx. It records the
// policy rules it adds and removes so that the caller can bring in-memory
// state up to date after commit.
type Tx struct {
	tx      *bbolt.Tx
	now     time.Time
	cache   *caches
	changes []store.RuleChange
	// version is the policy version this transaction commits as, set on
	// its first rule change.
	version uint64
}

var (
	_ store.Store       = (*DB)(nil)
	_ store.Snapshotter = (*DB)(nil)
	_ store.Checker     = (*DB)(nil)
	_ store.Tx          = (*Tx)(nil)
)

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.View(func(btx *bbolt.Tx) error {
		return fn(&Tx{tx: btx, now: txTime(), cache: db.cache})
	})
}

// ReadCredential reads a request's credential: from the records kept for
// the newest committed state when they all are (cache.go), without opening
// a transaction, else in one read transaction (store.ReadCredentialIn).
// A commit sets the newest state before its Update returns, so a request
// that begins after a change was answered never gets records of before it.
func (db *DB) ReadCredential(ctx context.Context, hash []byte, doc store.DocRef) (c store.Credential, err error) {
	if err := ctx.Err(); err != nil {
		return c, err
	}
	if c, ok := db.cache.kept(int(db.committed.Load()), hash, doc); ok {
		return c, nil
	}
	err = db.View(ctx, func(tx store.Tx) error {
		c, err = store.ReadCredentialIn(tx, hash, doc)
		return err
	})
	return c, err
}

// Update runs fn in a read-write transaction, committed when fn returns nil.
// bbolt allows one writer at a time, so fn runs once and alone. When Update
// returns nil the change is on disk (fsynced, unless NoSync); a failure to
// begin or commit is store.ErrWriteFailed and nothing of the change is kept.
func (db *DB) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fnFailed := false
	err := db.bolt.Update(func(btx *bbolt.Tx) error {
		// The handler runs once the transaction is closed, when it no
		// longer knows its id.
		id := int64(btx.ID())
		btx.OnCommit(func() { db.committed.Store(id) })
		err := fn(&Tx{tx: btx, now: txTime(), cache: db.cache})
		fnFailed = err != nil
		return err
	})
	if err != nil && !fnFailed {
		return fmt.Errorf("store: %w: %w", store.ErrWriteFailed, err)
	}
	return err
}

// txTime is the time of a transaction starting now (store.Tx.Now).
func txTime() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Now is the time of the transaction, used for timestamps it writes.
func (tx *Tx) Now() time.Time { return tx.now }

// Users are the users of the transaction.
func (tx *Tx) Users() store.Users { return users{tx} }

// Sessions are the sessions and tokens of the transaction.
func (tx *Tx) Sessions() store.Sessions { return sessions{tx} }

// Groups are the groups of the transaction.
func (tx *Tx) Groups() store.Groups { return groups{tx} }

// Rules are the policy rules of the transaction.
func (tx *Tx) Rules() store.Rules { return rules{tx} }

// Docs are the owned resources of the transaction.
func (tx *Tx) Docs() store.Docs { return docs{tx} }

// Audit is the audit log of the transaction.
func (tx *Tx) Audit() store.Audit { return audit{tx} }

// Failures are the auth-failure log of the transaction.
func (tx *Tx) Failures() store.Failures { return failures{tx} }

// itob encodes an id as a big-endian key so that keys sort by id.
func itob(id uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, id)
	return b
}

func btoi(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

func (tx *Tx) bucket(name []byte) *bbolt.Bucket { return tx.tx.Bucket(name) }

// getJSON decodes the value at key into v, or returns ErrNotFound.
func (tx *Tx) getJSON(bucket, key []byte, v any) error {
	data := tx.bucket(bucket).Get(key)
	if data == nil {
		return store.ErrNotFound
	}
	return json.Unmarshal(data, v)
}

func (tx *Tx) putJSON(bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.bucket(bucket).Put(key, data)
}

// concat joins byte slices into a new one.
func concat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

// Check runs bbolt's consistency check over the whole file and returns the
// first problem it finds.
func (db *DB) Check() error {
	return db.bolt.View(func(tx *bbolt.Tx) error {
		// The channel is drained to its end: bbolt's checking goroutine
		// reads the file's pages and must be done before the transaction
		// ends (and the memory map may move).
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = fmt.Errorf("store: check %s: %w", db.path, err)
			}
		}
		return first
	})
}
