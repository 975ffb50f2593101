package store

import (
	"context"
	"time"
)

// FailureFeed is a transaction of a store that several processes write:
// it reads the auth-failure records written (added, or updated to fold
// more occurrences) after a mark, in commit order, so that every process
// can show the failures of all of them. Callers ask for it with a type
// assertion on a Tx.
type FailureFeed interface {
	// FailuresChangedSince returns at most max records written after mark,
	// oldest write first, and the mark of the last one (mark itself when
	// there is none). Mark 0 is the start of the log; LatestFailureMark is
	// the mark of now.
	FailuresChangedSince(mark uint64, max int) ([]AuthFailure, uint64, error)
	// LatestFailureMark is the mark of the last write committed.
	LatestFailureMark() (uint64, error)
}

// FailureWatcher is a store that tells when other processes wrote
// auth-failure records.
type FailureWatcher interface {
	// WatchFailures calls written after each committed transaction that
	// wrote auth-failure records, and whenever it may have missed some (its
	// connection was made again), until ctx ends. It retries a lost
	// connection after retryDelay; logErr hears what went wrong.
	WatchFailures(ctx context.Context, retryDelay time.Duration, written func(), logErr func(error)) error
}
