package store

// VersionedChange is one rule change with the policy version of the
// transaction that made it.
type VersionedChange struct {
	Version uint64
	RuleChange
}

// PolicyLog is a transaction of a store that keeps the rule changes of
// every policy version, so that a process holding the policy in memory at
// one version can bring it to the current one by the changes committed
// since, in commit order, however they reached it (several processes
// writing one database). Callers ask for it with a type assertion on a Tx;
// a store written by one process only needs none.
type PolicyLog interface {
	// ChangesSince returns the changes of every version after v up to the
	// transaction's Rules().Version(), in version order and in order within
	// a version. ok is false when the log no longer holds all of them (the
	// caller then loads the whole policy again).
	ChangesSince(v uint64) (changes []VersionedChange, ok bool, err error)
}
