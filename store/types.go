package store

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"time"
)

// User is a stored user. Roles and group memberships are not here: they are
// policy rules, so that one source decides access.
type User struct {
	ID           uint64 `json:"id"`
	Email        string `json:"email"`
	Name         string `json:"name"`
	PasswordHash string `json:"password_hash"`
	// Issuer and Subject are the OpenID Connect identity the user is
	// linked to (the provider's issuer URL and its "sub" for the person),
	// both empty for a local user. A linked pair is unique: one identity
	// reaches one user.
	Issuer    string    `json:"issuer,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	Disabled  bool      `json:"disabled,omitempty"`
	MFA       MFA       `json:"mfa"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Linked reports whether the user is linked to a provider identity.
func (u User) Linked() bool { return u.Issuer != "" || u.Subject != "" }

// MFA is a user's second factor. Pending holds a secret set up but not yet
// confirmed; LastStep is the TOTP time step last accepted, so that a code is
// never accepted twice.
type MFA struct {
	Enabled  bool   `json:"enabled,omitempty"`
	Secret   string `json:"secret,omitempty"`
	Pending  string `json:"pending,omitempty"`
	LastStep int64  `json:"last_step,omitempty"`
}

// Session kinds.
const (
	KindSession = "session" // made by login
	KindToken   = "token"   // a personal API token
)

// Session is a login session or a personal API token. Only the SHA-256 of
// its secret is stored; the secret itself never touches the disk.
type Session struct {
	ID        uint64    `json:"id"`
	UserID    uint64    `json:"user_id"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name,omitempty"`
	ReadOnly  bool      `json:"read_only,omitempty"`
	MFA       bool      `json:"mfa,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"` // zero: never
}

// Expired reports whether the session has expired at now.
func (s Session) Expired(now time.Time) bool {
	return !s.ExpiresAt.IsZero() && !now.Before(s.ExpiresAt)
}

// Group is a named set of users. Its roles and members are policy rules.
type Group struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

// Rule is one policy rule: Type is the model section ("p", "g") and Values
// its fields in the model's order. A value may hold commas, quotes or
// anything else but NUL.
type Rule struct {
	ID     uint64   `json:"id"`
	Type   string   `json:"type"`
	Values []string `json:"values"`
}

// RuleChange is one rule added or removed by a transaction.
type RuleChange struct {
	Added bool
	Rule  Rule
}

// RuleKey is the identity of a rule's content: two rules are the same rule
// when their keys are equal. Fields are length-prefixed, so no choice of
// values can make two different rules collide.
func RuleKey(typ string, values []string) string {
	b := binary.AppendUvarint(nil, uint64(len(typ)))
	b = append(b, typ...)
	for _, s := range values {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return string(b)
}

// AuditRecord is one admin change: who did what to which thing, with the
// thing before and after. Callers never put secrets in Before or After.
type AuditRecord struct {
	ID      uint64          `json:"id"`
	Time    time.Time       `json:"time"`
	ActorID uint64          `json:"actor_id"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Target  string          `json:"target"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

// AuthFailure is one recorded 401, 403 or 429 answer. Identical failures
// close in time are folded into one record: Count says how many there were,
// Time is the first and LastTime the last; Path and RequestID are those of
// the first.
type AuthFailure struct {
	ID          uint64    `json:"id"`
	Time        time.Time `json:"time"`
	LastTime    time.Time `json:"last_time"`
	Count       int       `json:"count"`
	IP          string    `json:"ip"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Route       string    `json:"route,omitempty"`
	Status      int       `json:"status"`
	Reason      string    `json:"reason"`
	UserID      uint64    `json:"user_id,omitempty"`
	RequestID   string    `json:"request_id"`
	Subject     string    `json:"subject,omitempty"`
	Object      string    `json:"object,omitempty"`
	Action      string    `json:"action,omitempty"`
	Explanation string    `json:"explanation,omitempty"`
}

// FailureFilter selects auth failures; its zero value selects all. It is
// data, not code, so that a backend may turn it into a query.
type FailureFilter struct {
	// Reason keeps the failures with exactly this reason ("" for any).
	Reason string
	// UserID keeps the failures of this user (0 for any).
	UserID uint64
	// Within keeps the failures whose client address is in this prefix
	// (the zero prefix for any). IPv4-mapped IPv6 addresses count as IPv4.
	Within netip.Prefix
}

// Match reports whether the filter keeps f.
func (ff FailureFilter) Match(f *AuthFailure) bool {
	if ff.Reason != "" && f.Reason != ff.Reason || ff.UserID != 0 && f.UserID != ff.UserID {
		return false
	}
	if ff.Within.IsValid() {
		a, err := netip.ParseAddr(f.IP)
		return err == nil && ff.Within.Contains(a.Unmap())
	}
	return true
}
