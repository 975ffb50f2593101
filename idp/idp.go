// Package idp verifies the tokens of an OpenID Connect identity provider
// (Keycloak, Auth0, Entra ID, Zitadel, ...): JWTs signed by the provider's
// keys, found through its discovery document and JWKS, for an audience
// this service names. It knows nothing of users or HTTP frameworks: it
// turns a token into an Identity or a refusal with a reason.
//
// Verification is github.com/coreos/go-oidc/v3's, with two things of our
// own: a key set that fetches the provider's keys again when an unknown key
// id appears but at most once per interval (go-oidc's RemoteKeySet fetches
// on every unknown key id, so a flood of made-up ids would be a flood of
// requests to the provider), and only asymmetric algorithms (none and HS*,
// including HS256 "signed" with the provider's public key, are refused
// before any key is looked at).
package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Reasons a token is refused, as the auth-failure log records them.
const (
	ReasonExpired     = "expired"
	ReasonNotYetValid = "not_yet_valid"
	ReasonBadAudience = "bad_audience"
	ReasonBadIssuer   = "bad_issuer"
	ReasonUnknownKey  = "unknown_key"
	// ReasonBadSignature covers a signature that does not verify, an
	// algorithm that is not asymmetric (none, HS*), and a token that is no
	// signed JWT at all.
	ReasonBadSignature = "bad_signature"
	// ReasonBadClaims is a verified token whose claims cannot be used: no
	// sub, no email, groups beyond the bounds.
	ReasonBadClaims = "bad_claims"
	// ReasonUnavailable is a token that could not be checked because the
	// provider's discovery document or keys could not be fetched.
	ReasonUnavailable = "provider_unavailable"
)

// Bounds of what a token may carry into gatehouse.
const (
	// MaxGroups is the most values the groups claim may hold.
	MaxGroups = 100
	// MaxGroupLen is the longest one value of the groups claim, in bytes.
	MaxGroupLen = 256
	// maxIdentityLen bounds sub and email.
	maxIdentityLen = 255
	// MaxTokenLen bounds a presented token: longer ones are refused unread.
	MaxTokenLen = 16 << 10
)

// Algorithms are the signature algorithms a token may use: asymmetric
// ones only.
var Algorithms = []string{
	oidc.RS256, oidc.RS384, oidc.RS512,
	oidc.ES256, oidc.ES384, oidc.ES512,
	oidc.PS256, oidc.PS384, oidc.PS512,
	oidc.EdDSA,
}

// Error is a refused token. Reason is one of the Reason constants; the
// error text is for logs, never for clients.
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string { return "idp: " + e.Reason + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

func refuse(reason string, err error) *Error { return &Error{Reason: reason, Err: err} }

// Config says which provider to trust and how to read its tokens.
type Config struct {
	// Issuer is the provider's issuer URL; its discovery document is at
	// Issuer + "/.well-known/openid-configuration".
	Issuer string
	// Audience must be one of a token's aud values.
	Audience string
	// GroupsClaim is the claim that holds the caller's groups, a dotted
	// path for a nested one ("realm_access.roles"); "" means "groups".
	GroupsClaim string
	// EmailClaim is the claim that holds the caller's email, also a path
	// (see ClaimPath); "" means "email".
	EmailClaim string
	// KeyRefreshInterval is the least time between two fetches of the
	// provider's keys (and of its discovery document while it could not be
	// read); zero means DefaultKeyRefreshInterval.
	KeyRefreshInterval time.Duration
	// HTTPClient fetches the discovery document and keys; nil means a
	// client with a 10 s timeout.
	HTTPClient *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultKeyRefreshInterval is the least time between two fetches of the
// provider's keys.
const DefaultKeyRefreshInterval = 10 * time.Second

// Check returns the problem with cfg, naming the setting, or nil.
func (cfg Config) Check() error {
	if err := CheckIssuer(cfg.Issuer); err != nil {
		return fmt.Errorf("issuer %q: %w", cfg.Issuer, err)
	}
	if strings.TrimSpace(cfg.Audience) == "" {
		return errors.New("audience: required with an issuer (the API's identifier at the provider, or its client id)")
	}
	for _, path := range []string{cfg.GroupsClaim, cfg.EmailClaim} {
		if err := CheckClaimPath(path); err != nil {
			return fmt.Errorf("claim %q: %w", path, err)
		}
	}
	return nil
}

// CheckIssuer returns the problem with an issuer URL, or nil.
func CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	switch {
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return errors.New("is not an absolute URL such as https://id.example.com/realms/acme")
	case u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())):
		return errors.New("must be https (http only for a provider on loopback)")
	}
	return nil
}

// CheckClaimPath returns the problem with a claim path, or nil; "" is the
// default claim.
func CheckClaimPath(path string) error {
	if len(path) > 256 || strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
		return errors.New("is not a claim name or names separated by single dots (realm_access.roles)")
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// Identity is what a verified token says about its caller.
type Identity struct {
	Issuer, Subject, Email, Name string
	// Groups are the values of the groups claim, checked against the
	// bounds, in the token's order without repeats.
	Groups []string
	// AuthTime is when the person last authenticated at the provider
	// (auth_time), zero when the token does not say.
	AuthTime time.Time
	// Expiry is when the token expires.
	Expiry time.Time
}

// Verifier verifies the tokens of one provider. It is safe for concurrent
// use. The provider is discovered on first need, not at construction, so a
// service starts while its provider is down and accepts tokens once the
// provider answers.
type Verifier struct {
	cfg    Config
	client *http.Client
	groups []string // GroupsClaim split at dots
	email  []string

	mu sync.Mutex
	// verifier is set once discovery succeeded.
	verifier *oidc.IDTokenVerifier
	keys     *keySet
	// lastDiscovery is when discovery was last tried, to try again at
	// most once per KeyRefreshInterval while the provider is down.
	lastDiscovery time.Time
	discoveryErr  error
}

// New returns a verifier for the provider cfg names; it checks cfg but does
// not contact the provider (Discover does, and so does the first Verify).
func New(cfg Config) (*Verifier, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	cfg.Issuer = strings.TrimSpace(cfg.Issuer)
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.EmailClaim == "" {
		cfg.EmailClaim = "email"
	}
	if cfg.KeyRefreshInterval <= 0 {
		cfg.KeyRefreshInterval = DefaultKeyRefreshInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Verifier{cfg: cfg, client: client, groups: ClaimPath(cfg.GroupsClaim), email: ClaimPath(cfg.EmailClaim)}, nil
}

// Issuer is the issuer this verifier trusts.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// ClaimPath splits a claim path at its dots. A claim whose own name holds
// dots (Auth0's namespaced "https://example.com/groups") is named whole
// when it is a URL: a path that starts with a scheme is one name.
func ClaimPath(path string) []string {
	if strings.Contains(path, "://") {
		return []string{path}
	}
	return strings.Split(path, ".")
}

// Discover fetches the provider's discovery document, unless that was done
// already or was tried less than KeyRefreshInterval ago. The keys are
// fetched with the first token.
func (v *Verifier) Discover(ctx context.Context) error {
	_, err := v.ready(ctx)
	return err
}

func (v *Verifier) ready(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.verifier != nil {
		return v.verifier, nil
	}
	now := v.cfg.Now()
	if !v.lastDiscovery.IsZero() && now.Sub(v.lastDiscovery) < v.cfg.KeyRefreshInterval {
		return nil, v.discoveryErr
	}
	v.lastDiscovery = now
	// The lock is held over the fetch so that requests arriving meanwhile
	// wait for its outcome instead of fetching too; the client's timeout
	// bounds the wait.
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, v.client), v.cfg.Issuer)
	if err != nil {
		v.discoveryErr = fmt.Errorf("discovery at %s: %w", v.cfg.Issuer, err)
		return nil, v.discoveryErr
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := p.Claims(&doc); err != nil || doc.JWKSURI == "" {
		v.discoveryErr = fmt.Errorf("discovery at %s: no jwks_uri", v.cfg.Issuer)
		return nil, v.discoveryErr
	}
	v.keys = newKeySet(doc.JWKSURI, v.client, v.cfg.KeyRefreshInterval, v.cfg.Now)
	v.verifier = oidc.NewVerifier(v.cfg.Issuer, v.keys, &oidc.Config{
		ClientID: v.cfg.Audience, SupportedSigningAlgs: Algorithms, Now: v.cfg.Now,
	})
	v.discoveryErr = nil
	return v.verifier, nil
}

// LooksLikeJWT reports whether s has the shape of a compact JWT (three
// base64url parts), so that callers can tell a provider token from other
// bearer secrets without trying to verify them.
func LooksLikeJWT(s string) bool {
	if len(s) > MaxTokenLen || strings.Count(s, ".") != 2 {
		return false
	}
	for _, r := range s {
		if !(r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Verify checks raw and returns who it names. A refusal is an *Error.
func (v *Verifier) Verify(ctx context.Context, raw string) (Identity, error) {
	if !LooksLikeJWT(raw) {
		return Identity{}, refuse(ReasonBadSignature, errors.New("not a compact JWT"))
	}
	verifier, err := v.ready(ctx)
	if err != nil {
		return Identity{}, refuse(ReasonUnavailable, err)
	}
	// The key set notes what it found, so that a refusal can be named:
	// go-oidc's errors are text.
	note := &verifyNote{}
	tok, err := verifier.Verify(context.WithValue(ctx, noteKey{}, note), raw)
	if err != nil {
		return Identity{}, v.classify(err, note)
	}
	return v.identity(tok)
}

// classify names the reason of a refusal. go-oidc checks, in order, the
// algorithm and signature (our key set notes the outcome), the issuer, the
// audience, then exp and nbf; the verified payload tells which of the
// latter failed.
func (v *Verifier) classify(err error, note *verifyNote) *Error {
	var expired *oidc.TokenExpiredError
	switch {
	case note.reason != "":
		return refuse(note.reason, err)
	case note.payload == nil:
		// Refused before any key was looked at: not a JWS, an algorithm
		// that is not asymmetric (none, HS256), or several signatures.
		return refuse(ReasonBadSignature, err)
	case errors.As(err, &expired):
		return refuse(ReasonExpired, err)
	}
	var c struct {
		Issuer   string          `json:"iss"`
		Audience json.RawMessage `json:"aud"`
	}
	if json.Unmarshal(note.payload, &c) != nil {
		return refuse(ReasonBadClaims, err)
	}
	switch {
	case c.Issuer != v.cfg.Issuer:
		return refuse(ReasonBadIssuer, err)
	case !hasAudience(c.Audience, v.cfg.Audience):
		return refuse(ReasonBadAudience, err)
	case strings.Contains(err.Error(), "nbf"):
		return refuse(ReasonNotYetValid, err)
	}
	return refuse(ReasonBadClaims, err)
}

func hasAudience(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == want {
				return true
			}
		}
	}
	return false
}

// identity reads the claims gatehouse uses from a verified token.
func (v *Verifier) identity(tok *oidc.IDToken) (Identity, error) {
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return Identity{}, refuse(ReasonBadClaims, err)
	}
	id := Identity{Issuer: tok.Issuer, Subject: tok.Subject, Expiry: tok.Expiry}
	if id.Subject == "" || len(id.Subject) > maxIdentityLen || !utf8.ValidString(id.Subject) {
		return Identity{}, refuse(ReasonBadClaims, errors.New("sub: missing or longer than 255 bytes"))
	}
	email, _ := lookup(claims, v.email).(string)
	if email == "" || len(email) > maxIdentityLen {
		return Identity{}, refuse(ReasonBadClaims, fmt.Errorf("%s: missing or longer than 255 bytes", v.cfg.EmailClaim))
	}
	id.Email = email
	if name, ok := claims["name"].(string); ok && len(name) <= maxIdentityLen {
		id.Name = name
	}
	if at, ok := claims["auth_time"].(float64); ok && at > 0 {
		id.AuthTime = time.Unix(int64(at), 0)
	}
	groups, err := groupValues(lookup(claims, v.groups))
	if err != nil {
		return Identity{}, refuse(ReasonBadClaims, fmt.Errorf("%s: %w", v.cfg.GroupsClaim, err))
	}
	id.Groups = groups
	return id, nil
}

// lookup follows path through nested objects; nil when a step is missing.
func lookup(claims map[string]any, path []string) any {
	var at any = claims
	for _, name := range path {
		obj, ok := at.(map[string]any)
		if !ok {
			return nil
		}
		at = obj[name]
	}
	return at
}

// groupValues reads a groups claim: absent, one string, or a list of
// strings, within MaxGroups values of MaxGroupLen bytes. A claim beyond
// the bounds refuses the token rather than being cut: which groups were
// dropped would decide access silently.
func groupValues(v any) ([]string, error) {
	var list []any
	switch v := v.(type) {
	case nil:
		return nil, nil
	case string:
		list = []any{v}
	case []any:
		list = v
	default:
		return nil, errors.New("want a string or a list of strings")
	}
	if len(list) > MaxGroups {
		return nil, fmt.Errorf("%d values, at most %d", len(list), MaxGroups)
	}
	out := make([]string, 0, len(list))
	for _, g := range list {
		s, ok := g.(string)
		switch {
		case !ok:
			return nil, errors.New("want a list of strings")
		case s == "" || len(s) > MaxGroupLen || !utf8.ValidString(s) || strings.ContainsFunc(s, unicode.IsControl):
			return nil, fmt.Errorf("a value empty, longer than %d bytes, or with control characters", MaxGroupLen)
		}
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
