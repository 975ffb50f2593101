// Package store is gatehouse's storage contract: the domain types, the
// small per-domain interfaces a transaction exposes (users, sessions and
// tokens, groups, rules, owned resources such as notes, the audit log, the
// auth-failure log), the errors callers match, and the opaque list cursors. It knows no database:
// store/bolt keeps everything in one bbolt file, and any other backend
// implements the same interfaces and passes the same conformance suite
// (store/storetest).
//
// Every change happens inside Store.Update, which runs its function as if
// no other writer existed (a serializable transaction): the invariants
// (unique emails, a last admin, one first admin at start-up) are checked
// inside the transaction that could break them, never by a lock held in
// one process, so several processes may write one database at once.
package store

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// Errors matched with errors.Is by callers. Backends wrap them with context.
var (
	// ErrNotFound means the thing asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the change clashes with what is stored (a taken
	// email, an existing group, a duplicate rule).
	ErrConflict = errors.New("conflict")
	// ErrWriteFailed means a change could not be stored (the disk is full,
	// the database is unreachable or closed). The change was not made; the
	// store is still usable and later writes succeed once the cause is gone.
	ErrWriteFailed = errors.New("the database could not store the change")
	// ErrInvalidCursor means a list cursor was not one this server handed
	// out.
	ErrInvalidCursor = errors.New("invalid cursor")
	// ErrUnavailable means the database could not be reached (a server
	// that is down or unreachable): nothing was read or changed, and the
	// same call may succeed later.
	ErrUnavailable = errors.New("the database is unavailable")
)

// Store is an open gatehouse database.
type Store interface {
	// View runs fn in a read-only transaction that sees one consistent
	// state of the database.
	View(ctx context.Context, fn func(tx Tx) error) error
	// Update runs fn in a read-write transaction, committed when fn returns
	// nil and rolled back, leaving nothing, when it returns an error. The
	// transaction is serializable: it commits only if the outcome is as if
	// no other transaction ran meanwhile. A backend that detects a conflict
	// with a concurrent writer may roll back and run fn again, so fn must
	// have no effect outside tx (compute hashes and such before Update).
	// A failure to store the change is ErrWriteFailed.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// CredentialReader reads a request's credential in one go.
	CredentialReader
	// Close releases the database.
	Close() error
}

// Tx is one transaction. Its methods run under the context given to View
// or Update. Values returned never alias the database's memory, and every
// method may be called while the results of another are in use: callers
// need no knowledge of the backend.
type Tx interface {
	// Now is the time of the transaction, used for the timestamps it
	// writes, in UTC at microsecond precision: what every backend can store
	// exactly, so a value reads back as it was written.
	Now() time.Time
	// Users are the accounts.
	Users() Users
	// Sessions are the login sessions and personal tokens.
	Sessions() Sessions
	// Groups are the groups of users.
	Groups() Groups
	// Rules are the policy.
	Rules() Rules
	// Docs are the owned resources of every kind (see Collection).
	Docs() Docs
	// Audit is the log of changes.
	Audit() Audit
	// Failures are the auth-failure log.
	Failures() Failures
}

// Users are the user accounts. Emails are unique under NormalizeEmail, and
// so are linked provider identities (Issuer and Subject together).
type Users interface {
	// Create stores a new user and sets its ID and timestamps. A taken
	// email, or a provider identity linked to another user, is ErrConflict.
	Create(u *User) error
	// Get returns the user with id.
	Get(id uint64) (User, error)
	// ByEmail returns the user with email, compared under NormalizeEmail.
	ByEmail(email string) (User, error)
	// ByIdentity returns the user linked to the provider identity (issuer,
	// subject), compared exactly.
	ByIdentity(issuer, subject string) (User, error)
	// Update stores u over the user with its ID and sets UpdatedAt. An
	// email taken by another user, or a provider identity linked to
	// another user, is ErrConflict.
	Update(u *User) error
	// Delete removes a user with their sessions, tokens and owned
	// resources. Their policy rules are the caller's to remove in the same
	// transaction.
	Delete(id uint64) error
	// Count returns how many users there are.
	Count() (int, error)
	// Any reports whether any user exists.
	Any() (bool, error)
	// List returns a page of users in id order. A non-empty query keeps
	// users whose email or name contains it, ignoring case.
	List(query string, p Page) ([]User, string, error)
}

// Sessions are login sessions and personal API tokens, found by the hash
// of their secret.
type Sessions interface {
	// Create stores s under the hash of its secret and sets its ID (and
	// CreatedAt, unless the caller set it by its own clock). An unknown
	// user is ErrNotFound.
	Create(s *Session, hash []byte) error
	// ByHash returns the session whose secret hashes to hash, expired or
	// not: the caller judges expiry by its own clock.
	ByHash(hash []byte) (Session, error)
	// Get returns the session with id, expired or not.
	Get(id uint64) (Session, error)
	// Delete removes the session with id.
	Delete(id uint64) error
	// OfUser returns a user's sessions of kind ("" for all kinds) in id
	// order.
	OfUser(userID uint64, kind string) ([]Session, error)
	// DeleteOfUser removes a user's sessions of kind ("" for all kinds,
	// tokens included) and returns how many it removed.
	DeleteOfUser(userID uint64, kind string) (int, error)
	// DeleteExpired removes sessions expired at now, at most max of them,
	// and returns how many it removed.
	DeleteExpired(now time.Time, max int) (int, error)
}

// Groups are named sets of users; their roles and members are rules.
type Groups interface {
	// Create stores a new group and sets CreatedAt; a taken name is
	// ErrConflict.
	Create(g *Group) error
	// Get returns the group called name.
	Get(name string) (Group, error)
	// Update stores the description of g.
	Update(g *Group) error
	// Delete removes the group called name. Its rules are the caller's to
	// remove in the same transaction.
	Delete(name string) error
	// List returns a page of groups in name order.
	List(p Page) ([]Group, string, error)
}

// Rules are the policy rules. Every transaction that adds or removes one
// moves the policy to the next version, so that the changes of committed
// transactions can be applied elsewhere in commit order.
type Rules interface {
	// Add stores a new rule; one with the same type and values is
	// ErrConflict.
	Add(typ string, values []string) (Rule, error)
	// Get returns the rule with id.
	Get(id uint64) (Rule, error)
	// Find returns the rule with this type and values.
	Find(typ string, values []string) (Rule, error)
	// Remove removes the rule with id and returns it.
	Remove(id uint64) (Rule, error)
	// Referencing returns the rules whose subject is value, and the role
	// links (rules of a type that starts with "g") that point at value, in
	// id order.
	Referencing(value string) ([]Rule, error)
	// RemoveReferencing removes every rule Referencing finds and returns
	// them.
	RemoveReferencing(value string) ([]Rule, error)
	// ForEach calls fn for every rule in id order. fn may use the
	// transaction, changes included; rules added during the walk may or may
	// not be visited.
	ForEach(fn func(Rule) error) error
	// Any reports whether any rule is stored.
	Any() (bool, error)
	// List returns a page of rules in id order.
	List(p Page) ([]Rule, string, error)
	// Version is the policy version: 0 for a new database (and for a file
	// written before versions were kept), one more for every committed
	// transaction that changed rules.
	// Inside a transaction that changed rules it is already the version
	// that transaction commits as.
	Version() (uint64, error)
	// Changes returns the rules added and removed so far in this
	// transaction, in order.
	Changes() []RuleChange
}

// Audit is the log of admin changes.
type Audit interface {
	// Append records rec and sets its ID and Time, so that the record
	// commits with the change it describes.
	Append(rec *AuditRecord) error
	// List returns a page of the log, newest first.
	List(p Page) ([]AuditRecord, string, error)
}

// MaxFailureScan bounds how many records one page of Failures.List reads,
// so that a filter matching nothing costs a bounded amount. A page that
// hits it is short and has a cursor to go on from.
const MaxFailureScan = 10000

// Failures are the auth-failure log, ordered oldest first by ID.
type Failures interface {
	// Add appends f and sets its ID, one more than the last.
	Add(f *AuthFailure) error
	// Update rewrites the record with f's ID (to fold more occurrences
	// into it). It is ErrNotFound when retention pruned the record
	// meanwhile; the caller then appends a new one.
	Update(f AuthFailure) error
	// Get returns the record with id.
	Get(id uint64) (AuthFailure, error)
	// Count is the number of records in the log.
	Count() (int, error)
	// List returns a page of the log, newest first, of the records the
	// filter accepts. It reads at most MaxFailureScan records; the next
	// cursor is empty only when the oldest record was read.
	List(filter FailureFilter, p Page) ([]AuthFailure, string, error)
	// Prune deletes the oldest records while there are more than keep, or
	// while their first occurrence is before cutoff (zero: no age limit),
	// at most maxDeletes in one call so that a transaction stays short; it
	// returns how many it deleted.
	Prune(cutoff time.Time, keep, maxDeletes int) (int, error)
}

// Snapshotter is a store that can write a consistent copy of itself as one
// file (bbolt). Callers ask for it with a type assertion; a store without it
// is backed up by its own tools.
type Snapshotter interface {
	// Snapshot writes a consistent copy of the database while writers go
	// on. begin is called with the exact size of the copy and returns where
	// to write it. Snapshot returns how many bytes it wrote.
	Snapshot(ctx context.Context, begin func(size int64) (io.Writer, error)) (int64, error)
}

// Checker is a store that can check its own consistency (bbolt's page
// check).
type Checker interface {
	// Check returns the first inconsistency found, or nil.
	Check() error
}

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

// NormalizeEmail is the form under which emails are unique: Unicode NFKC
// (compatibility look-alikes such as the Kelvin sign become the letters
// they stand for), then lower case, so emails compare case-insensitively
// and a look-alike is the same address. Every backend indexes this form.
func NormalizeEmail(email string) string {
	return strings.ToLower(norm.NFKC.String(strings.TrimSpace(email)))
}
