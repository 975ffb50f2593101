// Package api holds gatehouse's wire format: the JSON types of every request
// and answer, the error codes of the error contract, and a typed HTTP client.
//
// It imports only the standard library so that any Go program, the console
// among them, can speak to a gatehouse server without pulling in the server.
package api

import (
	"fmt"
	"time"
)

// Error codes of the error contract. Every error answer carries exactly one.
const (
	CodeInvalidJSON        = "invalid_json"
	CodeInvalidInput       = "invalid_input"
	CodeUnauthorized       = "unauthorized"
	CodeInvalidCredentials = "invalid_credentials"
	CodeMFARequired        = "mfa_required"
	CodeForbidden          = "forbidden"
	CodeCSRFFailed         = "csrf_failed"
	CodeNotFound           = "not_found"
	CodeMethodNotAllowed   = "method_not_allowed"
	CodeConflict           = "conflict"
	// CodePreconditionFailed answers a change sent with If-Match when the
	// object changed since the version it names (412).
	CodePreconditionFailed   = "precondition_failed"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeRateLimited          = "rate_limited"
	CodeInternal             = "internal"
	CodeUnavailable          = "unavailable"
	CodeNotImplemented       = "not_implemented"
)

// Error is the body of every error answer.
type Error struct {
	Status    int               `json:"-"`
	Code      string            `json:"error"`
	Message   string            `json:"message"`
	RequestID string            `json:"request_id,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
}

// Error returns the code and the message, as a person reads them.
func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
	}
	return e.Code + ": " + e.Message
}

// List is a page of a list answer. NextCursor is empty on the last page.
// Total is how many items the whole list holds, filters applied, when the
// server can tell without reading them all; absent otherwise.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
	Total      *int   `json:"total,omitempty"`
}

// Health is the answer of GET /api/health.
type Health struct {
	Status string `json:"status"`
}

// User is a user as the API shows it. It never holds a password or its hash.
type User struct {
	ID         string    `json:"id"`
	Email      string    `json:"email"`
	Name       string    `json:"name"`
	Roles      []string  `json:"roles"`
	Groups     []string  `json:"groups"`
	Disabled   bool      `json:"disabled"`
	MFAEnabled bool      `json:"mfa_enabled"`
	CreatedAt  time.Time `json:"created_at"`
	// Provider is the issuer of the OpenID Connect provider the user comes
	// from (linked on first use of its token); absent for a local user.
	Provider string `json:"provider,omitempty"`
	// ETag is the version of this view in the admin API (the ETag header of
	// GET /api/admin/users/:id), for If-Match; empty elsewhere.
	ETag string `json:"etag,omitempty"`
}

// Me is the answer of GET /api/auth/me: the caller; for a session that
// came with the session cookie its CSRF token (the one the gatehouse_csrf
// cookie holds), to send as X-CSRF-Token; and the admin routes the policy
// lets this caller use ("GET /api/admin/users"), as decided for this
// session or token (a read-only token lists only reads).
type Me struct {
	User
	CSRFToken string   `json:"csrf_token,omitempty"`
	May       []string `json:"may"`
}

// RegisterRequest is the body of POST /api/auth/register.
type RegisterRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

// LoginRequest is the body of POST /api/auth/login. OTP is needed once the
// user has enabled a second factor. Session chooses what the answer hands
// out: SessionBearer (the default) or SessionCookie.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	OTP      string `json:"otp,omitempty"`
	Session  string `json:"session,omitempty"`
}

// Kinds of sign-in a LoginRequest can ask for. Both set the session cookie
// and the CSRF cookie.
const (
	// SessionBearer: the answer also carries the session's secret as
	// Token, for clients that send it as a Bearer token.
	SessionBearer = "bearer"
	// SessionCookie: the answer carries no Token, so that no page script
	// ever sees the secret; the HttpOnly cookie is the only credential.
	SessionCookie = "cookie"
)

// LoginResponse is the answer of POST /api/auth/login. Token works as a
// Bearer token (absent for a cookie-only sign-in); CSRFToken must accompany
// unsafe requests made with the cookie.
type LoginResponse struct {
	Token     string    `json:"token,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
	CSRFToken string    `json:"csrf_token"`
	User      User      `json:"user"`
}

// UpdateMeRequest is the body of PATCH /api/auth/me. Password needs
// CurrentPassword.
type UpdateMeRequest struct {
	Name            *string `json:"name,omitempty"`
	Password        *string `json:"password,omitempty"`
	CurrentPassword *string `json:"current_password,omitempty"`
}

// MFASetup is the answer of POST /api/auth/mfa/setup: the secret to put in an
// authenticator app, also as an otpauth:// URI.
type MFASetup struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

// MFAEnableRequest is the body of POST /api/auth/mfa/enable: a code of the
// secret from setup, and the password, so that a stolen session cannot put
// its own authenticator on the account and lock the owner out.
type MFAEnableRequest struct {
	OTP      string `json:"otp"`
	Password string `json:"password"`
}

// MFADisableRequest is the body of DELETE /api/auth/mfa: a current code or
// the password.
type MFADisableRequest struct {
	OTP      string `json:"otp,omitempty"`
	Password string `json:"password,omitempty"`
}

// Token is a personal API token as listed. The secret is shown only once,
// in CreatedToken.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	ReadOnly  bool       `json:"read_only"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// UserSession is one live login session ("session") or personal API token
// ("token") of a user, as GET /api/admin/users/:id/sessions lists them:
// never the secret.
type UserSession struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	Name      string     `json:"name,omitempty"`
	ReadOnly  bool       `json:"read_only"`
	MFA       bool       `json:"mfa"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

// CreateTokenRequest is the body of POST /api/auth/tokens. ExpiresIn is a
// Go duration ("720h"); empty means the token does not expire.
type CreateTokenRequest struct {
	// Password is the account's password: a session alone, which may be
	// stolen, cannot mint a lasting credential.
	Password  string `json:"password"`
	Name      string `json:"name"`
	ExpiresIn string `json:"expires_in,omitempty"`
	ReadOnly  bool   `json:"read_only,omitempty"`
}

// CreatedToken is the answer of POST /api/auth/tokens: the only time the
// secret is shown.
type CreatedToken struct {
	Token
	Secret string `json:"token"`
}

// Note is the example resource.
type Note struct {
	ID        string    `json:"id"`
	OwnerID   string    `json:"owner_id"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NoteInput is the body of POST /api/notes and PATCH /api/notes/:id.
type NoteInput struct {
	Title *string `json:"title,omitempty"`
	Body  *string `json:"body,omitempty"`
}

// CreateUserRequest is the body of POST /api/admin/users. Roles and groups
// are bare names ("admin", "staff"); no roles means ["user"].
type CreateUserRequest struct {
	Email    string   `json:"email"`
	Name     string   `json:"name"`
	Password string   `json:"password"`
	Roles    []string `json:"roles,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// UpdateUserRequest is the body of PATCH /api/admin/users/:id. Absent fields
// are left as they are; Roles and Groups replace the whole list.
type UpdateUserRequest struct {
	Name     *string   `json:"name,omitempty"`
	Disabled *bool     `json:"disabled,omitempty"`
	Roles    *[]string `json:"roles,omitempty"`
	Groups   *[]string `json:"groups,omitempty"`
	Password *string   `json:"password,omitempty"`
}

// Group is a group with its roles and members (user ids).
type Group struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Roles       []string  `json:"roles"`
	Members     []string  `json:"members"`
	CreatedAt   time.Time `json:"created_at"`
	// ETag is the version of this view, for If-Match (see User.ETag).
	ETag string `json:"etag,omitempty"`
}

// CreateGroupRequest is the body of POST /api/admin/groups.
type CreateGroupRequest struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Roles       []string `json:"roles,omitempty"`
}

// UpdateGroupRequest is the body of PATCH /api/admin/groups/:name. Roles
// replaces the whole list.
type UpdateGroupRequest struct {
	Description *string   `json:"description,omitempty"`
	Roles       *[]string `json:"roles,omitempty"`
}

// Rule is one policy rule: Type is the model's section ("p" or "g") and Rule
// its values in the model's order.
type Rule struct {
	ID   string   `json:"id"`
	Type string   `json:"type"`
	Rule []string `json:"rule"`
}

// RuleInput is the body of POST /api/admin/policies.
type RuleInput struct {
	Type string   `json:"type"`
	Rule []string `json:"rule"`
}

// PolicyImport is the body of POST /api/admin/policies/import: CSV in the
// format of policy.csv. Replace drops every rule not in the CSV.
type PolicyImport struct {
	CSV     string `json:"csv"`
	Replace bool   `json:"replace,omitempty"`
}

// PolicyImportResult is the answer of a policy import.
type PolicyImportResult struct {
	Added   int `json:"added"`
	Removed int `json:"removed"`
}

// CheckRequest is the body of POST /api/admin/policies/check: would Subject
// be allowed Action on Object? Owner is the owner's subject ("user:7") for
// owner-only rules; MFA is "verified", "missing" or "none" (the default,
// meaning the user has no second factor).
type CheckRequest struct {
	Subject string `json:"subject"`
	Object  string `json:"object"`
	Action  string `json:"action"`
	Owner   string `json:"owner,omitempty"`
	MFA     string `json:"mfa,omitempty"`
	// Groups asks as a member of these groups for this request only, as
	// an identity provider's token makes a caller (bare names or
	// "group:name"; at most 100).
	Groups []string `json:"groups,omitempty"`
}

// CheckResult is the what-if answer: whether it is allowed, the rule that
// decided (empty when none did), and a sentence a person understands.
type CheckResult struct {
	Allowed     bool     `json:"allowed"`
	Matched     []string `json:"matched"`
	Explanation string   `json:"explanation"`
}

// AuthFailure is one recorded 401, 403 or 429 answer. Identical failures
// close in time are folded into one record: Count says how many, Time is the
// first and LastTime the last.
type AuthFailure struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	LastTime    time.Time `json:"last_time"`
	Count       int       `json:"count"`
	IP          string    `json:"ip"`
	Method      string    `json:"method"`
	Path        string    `json:"path"`
	Route       string    `json:"route"`
	Status      int       `json:"status"`
	Reason      string    `json:"reason"`
	UserID      string    `json:"user_id,omitempty"`
	RequestID   string    `json:"request_id"`
	Subject     string    `json:"subject,omitempty"`
	Object      string    `json:"object,omitempty"`
	Action      string    `json:"action,omitempty"`
	Explanation string    `json:"explanation,omitempty"`
}

// AuditEntry is one recorded admin change. Before and After are the changed
// thing as JSON, without secrets.
type AuditEntry struct {
	ID      string         `json:"id"`
	Time    time.Time      `json:"time"`
	ActorID string         `json:"actor_id"`
	Actor   string         `json:"actor"`
	Action  string         `json:"action"`
	Target  string         `json:"target"`
	Before  map[string]any `json:"before,omitempty"`
	After   map[string]any `json:"after,omitempty"`
}

// Route is one entry of the route inventory.
type Route struct {
	Method string   `json:"method"`
	Path   string   `json:"path"`
	Public bool     `json:"public"`
	Rules  []string `json:"rules"`
}

// RouteInventory is the answer of GET /api/admin/routes. DeadRules are rules
// that grant no route; Unguarded are routes no rule grants.
type RouteInventory struct {
	Routes    []Route  `json:"routes"`
	Unguarded []string `json:"unguarded"`
	DeadRules []string `json:"dead_rules"`
}
