// Package store keeps all of gatehouse's data in one bbolt file: users,
// groups, sessions and tokens, notes, policy rules, the audit log and the
// auth-failure log, with the indexes each needs kept in the same transaction.
//
// Every exported method of DB opens one transaction. Composite changes use
// DB.Update with the methods of Tx, so that several changes commit or fail
// together. Values are copied out of bbolt before a transaction ends: nothing
// returned by this package points into the memory map.
package store

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
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Errors matched with errors.Is by callers.
var (
	// ErrNotFound means the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the change clashes with what is stored (a taken
	// email, an existing group, a duplicate rule).
	ErrConflict = errors.New("conflict")
	// ErrInUse means another process holds the database file.
	ErrInUse = errors.New("database is in use by another process")
	// ErrForeign means the file is not a gatehouse database.
	ErrForeign = errors.New("not a gatehouse database")
	// ErrCorrupt means the file is a bbolt database whose pages are damaged
	// (cut short, overwritten): reading it could crash the process, writing
	// it could spread the damage. It is left untouched.
	ErrCorrupt = errors.New("the database file is damaged")
	// ErrWriteFailed means a change could not be written to the file (the
	// disk is full, the file system became read-only, the database is
	// closed). The change was not made; the database is still usable and
	// later writes succeed once the cause is gone.
	ErrWriteFailed = errors.New("the database could not store the change")
)

// schemaVersion is written into the meta bucket of a new database. A file
// with buckets but without this marker is someone else's, and is refused.
const schemaVersion = "1"

var (
	bucketMeta           = []byte("meta")
	bucketUsers          = []byte("users")
	bucketUsersByEmail   = []byte("users_by_email")
	bucketSessions       = []byte("sessions")
	bucketSessionsByID   = []byte("sessions_by_id")
	bucketSessionsByUser = []byte("sessions_by_user")
	bucketNotes          = []byte("notes")
	bucketNotesByOwner   = []byte("notes_by_owner")
	bucketGroups         = []byte("groups")
	bucketRules          = []byte("rules")
	bucketRulesByKey     = []byte("rules_by_key")
	bucketRulesByValue   = []byte("rules_by_value")
	bucketAudit          = []byte("audit")
	bucketAuthFailures   = []byte("auth_failures")

	allBuckets = [][]byte{
		bucketMeta, bucketUsers, bucketUsersByEmail, bucketSessions,
		bucketSessionsByID, bucketSessionsByUser, bucketNotes, bucketNotesByOwner,
		bucketGroups, bucketRules, bucketRulesByKey, bucketRulesByValue,
		bucketAudit, bucketAuthFailures,
	}

	keySchema = []byte("schema")
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
	bolt *bolt.DB
	path string
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
	b, err := openBolt(path, &bolt.Options{
		Timeout:  opts.LockTimeout,
		ReadOnly: opts.ReadOnly,
		NoSync:   opts.NoSync,
	})
	if err != nil {
		return nil, err
	}
	db := &DB{bolt: b, path: path}
	if err := db.init(opts.ReadOnly); err != nil {
		b.Close()
		return nil, err
	}
	return db, nil
}

// openBolt opens a bbolt file, naming what went wrong in our terms.
func openBolt(path string, opts *bolt.Options) (*bolt.DB, error) {
	b, err := bolt.Open(path, 0o600, opts)
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
	check := func(tx *bolt.Tx) (fresh bool, err error) {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
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
	err := db.bolt.View(func(tx *bolt.Tx) error {
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
	return db.bolt.Update(func(tx *bolt.Tx) error {
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
func (db *DB) Bolt() *bolt.DB { return db.bolt }

// WriteTo writes a consistent copy of the whole database to w from one read
// transaction, while writers go on.
func (db *DB) WriteTo(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(w)
		return err
	})
	return n, err
}

// Tx is one transaction. It records the policy rules it adds and removes so
// that the caller can bring in-memory state up to date after commit.
type Tx struct {
	tx      *bolt.Tx
	now     time.Time
	changes []RuleChange
}

// View runs fn in a read-only transaction.
func (db *DB) View(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return db.bolt.View(func(btx *bolt.Tx) error {
		return fn(&Tx{tx: btx, now: time.Now().UTC()})
	})
}

// Update runs fn in a read-write transaction, committed when fn returns nil.
// bbolt allows one writer at a time and no nested transactions: fn must not
// call other DB methods. When Update returns nil the change is on disk
// (fsynced, unless NoSync); a failure to begin or commit is ErrWriteFailed
// and nothing of the change is kept.
func (db *DB) Update(ctx context.Context, fn func(tx *Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fnFailed := false
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		err := fn(&Tx{tx: btx, now: time.Now().UTC()})
		fnFailed = err != nil
		return err
	})
	if err != nil && !fnFailed {
		return fmt.Errorf("store: %w: %w", ErrWriteFailed, err)
	}
	return err
}

// Changes returns the rule changes made so far in this transaction.
func (tx *Tx) Changes() []RuleChange { return tx.changes }

// Now is the time of the transaction, used for timestamps it writes.
func (tx *Tx) Now() time.Time { return tx.now }

// itob encodes an id as a big-endian key so that keys sort by id.
func itob(id uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, id)
	return b
}

func btoi(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// FormatID renders an id as it appears in the API.
func FormatID(id uint64) string { return strconv.FormatUint(id, 10) }

// ParseID reads an id from the API. Anything but a positive decimal number
// of at most 20 digits is ErrNotFound: no such id can exist.
func ParseID(s string) (uint64, error) {
	if len(s) == 0 || len(s) > 20 || s[0] == '0' {
		return 0, ErrNotFound
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, ErrNotFound
	}
	return id, nil
}

func (tx *Tx) bucket(name []byte) *bolt.Bucket { return tx.tx.Bucket(name) }

// getJSON decodes the value at key into v, or returns ErrNotFound.
func (tx *Tx) getJSON(bucket, key []byte, v any) error {
	data := tx.bucket(bucket).Get(key)
	if data == nil {
		return ErrNotFound
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
	return db.bolt.View(func(tx *bolt.Tx) error {
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
