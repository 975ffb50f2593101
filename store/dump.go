package store

import "context"

// Record is one stored record, whole, as a Dumper reads and writes it:
// exactly one field is set.
type Record struct {
	User    *User
	Session *SessionRecord
	Group   *Group
	Rule    *Rule
	Doc     *DocRecord
	Audit   *AuditRecord
	Failure *AuthFailure
}

// SessionRecord is a session with the hash of its secret, which is how it
// is found: a copy keeps every session and token working.
type SessionRecord struct {
	Session
	Hash []byte
}

// DocRecord is an owned resource with its kind.
type DocRecord struct {
	Kind string
	Doc
}

// Dumper is a store that reads and writes its records whole: ids, times,
// password hashes, second-factor secrets and session hashes exactly as
// stored, which the methods of Tx never do (they assign ids and times).
// gatehouse copy moves a database from one store to another through it;
// callers ask for it with a type assertion.
type Dumper interface {
	// Dump calls fn for every record, from one consistent read: users
	// first, then groups, rules, sessions, owned resources (by kind), the
	// audit log and the auth-failure log, each in id (or name) order.
	Dump(ctx context.Context, fn func(Record) error) error
	// Empty reports whether the store holds no record at all.
	Empty(ctx context.Context) (bool, error)
	// Load writes the records next returns, in Dump's order, into this
	// store in one transaction, until next returns io.EOF; any other
	// error of next rolls everything back. The store must be empty (else
	// ErrConflict). Ids made later continue after the largest loaded one,
	// and the policy version starts at 1 when rules were loaded.
	Load(ctx context.Context, next func() (Record, error)) error
}
