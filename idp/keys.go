package idp

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxJWKSBytes bounds the provider's key set document.
const maxJWKSBytes = 1 << 20

// noteKey is the context key under which Verify hands the key set a
// verifyNote. It never leaves this package: go-oidc passes the context
// through to VerifySignature, and the note is how the key set tells Verify
// what it found, which go-oidc's error text does not carry reliably.
type noteKey struct{}

// verifyNote is what the key set found for one token.
type verifyNote struct {
	// reason is set when the key set refused the token.
	reason string
	// payload is the verified payload, set when the signature held.
	payload []byte
}

// keySet is the provider's public keys, fetched from its JWKS: at first
// need, and again when a token names a key id not in the set (the provider
// rotated its keys), but never twice within interval. A token with an
// unknown key id within the interval is refused as unknown_key without any
// request: a flood of made-up key ids costs the provider at most one fetch
// per interval.
type keySet struct {
	url      string
	client   *http.Client
	interval time.Duration
	now      func() time.Time

	// fetch serializes fetches: a request that finds one running waits
	// for it, then sees its keys.
	fetch sync.Mutex
	mu    sync.RWMutex
	keys  []jose.JSONWebKey
	// fetched is when the keys were last fetched (or tried).
	fetched time.Time
	// fetches counts requests to the provider, for tests.
	fetches int
}

func newKeySet(url string, client *http.Client, interval time.Duration, now func() time.Time) *keySet {
	return &keySet{url: url, client: client, interval: interval, now: now}
}

// VerifySignature implements oidc.KeySet.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	note, _ := ctx.Value(noteKey{}).(*verifyNote)
	if note == nil {
		note = &verifyNote{}
	}
	jws, err := jose.ParseSigned(raw, asymmetric)
	if err != nil || len(jws.Signatures) != 1 {
		note.reason = ReasonBadSignature
		return nil, fmt.Errorf("not a JWS with one asymmetric signature: %v", err)
	}
	kid := jws.Signatures[0].Header.KeyID
	cached, at := k.cached()
	candidates := matching(cached, kid)
	if len(candidates) == 0 {
		// An unknown key id: the provider may have rotated its keys.
		if cached, err = k.refresh(ctx, at); err != nil {
			note.reason = ReasonUnavailable
			return nil, err
		}
		candidates = matching(cached, kid)
	}
	if len(candidates) == 0 {
		note.reason = ReasonUnknownKey
		return nil, fmt.Errorf("no key with id %q", kid)
	}
	for _, key := range candidates {
		if payload, err := jws.Verify(&key); err == nil {
			note.payload = payload
			return payload, nil
		}
	}
	// A known key id whose key does not verify: a forgery or a broken
	// token, not a rotation, so nothing is fetched.
	note.reason = ReasonBadSignature
	return nil, errors.New("signature does not verify")
}

var asymmetric = func() []jose.SignatureAlgorithm {
	out := make([]jose.SignatureAlgorithm, len(Algorithms))
	for i, a := range Algorithms {
		out[i] = jose.SignatureAlgorithm(a)
	}
	return out
}()

// matching are the keys a token with key id kid may be verified with: the
// key with that id, or every key when the token names none.
func matching(keys []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	if kid == "" {
		return keys
	}
	for _, key := range keys {
		if key.KeyID == kid {
			return []jose.JSONWebKey{key}
		}
	}
	return nil
}

func (k *keySet) cached() ([]jose.JSONWebKey, time.Time) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys, k.fetched
}

// refresh fetches the keys unless they were fetched (or tried) after seen
// or within the interval, and returns the keys as they then are.
func (k *keySet) refresh(ctx context.Context, seen time.Time) ([]jose.JSONWebKey, error) {
	k.fetch.Lock()
	defer k.fetch.Unlock()
	keys, at := k.cached()
	if at != seen || !at.IsZero() && k.now().Sub(at) < k.interval {
		// Another request fetched meanwhile, or the last fetch is too
		// recent: answer from what is known.
		return keys, nil
	}
	fresh, err := k.download(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fetched = k.now()
	k.fetches++
	if err != nil {
		return k.keys, err
	}
	k.keys = fresh
	return fresh, nil
}

// Fetches is how many times the keys were requested from the provider.
func (k *keySet) Fetches() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.fetches
}

// download reads the JWKS, keeping only public asymmetric signing keys: a
// symmetric ("oct") key in a provider's set is never a verification key
// here.
func (k *keySet) download(ctx context.Context) ([]jose.JSONWebKey, error) {
	// The fetch outlives a cancelled request so that its result serves
	// the requests waiting on it, bounded by the client's timeout.
	req, err := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("keys: %s answered %s", k.url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("keys: %s answered more than %d bytes", k.url, maxJWKSBytes)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	var out []jose.JSONWebKey
	for _, raw := range doc.Keys {
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) != nil || !key.IsPublic() || (key.Use != "" && key.Use != "sig") {
			continue // a key type go-jose does not know, or not for signatures
		}
		switch key.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
			out = append(out, key)
		}
	}
	return out, nil
}
