package app

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// testAudience is the audience the test provider's tokens are made for.
const testAudience = "https://api.gatehouse.test"

// testProvider is a real OpenID Connect provider (mockoidc) on a loopback
// port: its discovery document, JWKS, authorization and token endpoints
// are the library's own. Tests sign tokens with its current key, rotate
// the key, and count how often its keys were fetched.
type testProvider struct {
	m *mockoidc.MockOIDC
	// mu is held (shared) by every request the provider serves and
	// (exclusive) while its key is swapped, so that a rotation never races
	// a request reading the key.
	mu sync.RWMutex
	// jwksFetches counts requests for the provider's keys.
	jwksFetches atomic.Int64
}

// mustProvider starts a provider for the test's lifetime.
func mustProvider(t testing.TB) *testProvider {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &testProvider{m: m}
	if _, err := m.Keypair.KeyID(); err != nil { // computed once, before any reader
		t.Fatal(err)
	}
	err = m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == mockoidc.JWKSEndpoint {
				p.jwksFetches.Add(1)
			}
			p.mu.RLock()
			defer p.mu.RUnlock()
			next.ServeHTTP(w, r)
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(l, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return p
}

func (p *testProvider) issuer() string { return p.m.Issuer() }

// keypair is the provider's current key.
func (p *testProvider) keypair() *mockoidc.Keypair {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.m.Keypair
}

// rotate replaces the provider's signing key with a new one (with a new
// key id): from now on its JWKS serves only the new key.
func (p *testProvider) rotate(t *testing.T) *mockoidc.Keypair {
	t.Helper()
	kp := mustKeypair(t, "")
	p.mu.Lock()
	p.m.Keypair = kp
	p.mu.Unlock()
	return kp
}

// mustKeypair is a fresh RSA key with kid (or the key's thumbprint id).
func mustKeypair(t testing.TB, kid string) *mockoidc.Keypair {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := mockoidc.NewKeypair(key)
	if err != nil {
		t.Fatal(err)
	}
	kp.Kid = kid
	if _, err := kp.KeyID(); err != nil {
		t.Fatal(err)
	}
	return kp
}

// claims are a valid token's claims for sub at now: issued by the
// provider for testAudience, signed in at the provider just now, with
// groups (none when nil).
func (p *testProvider) claims(now time.Time, sub, email string, groups ...string) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": p.issuer(), "aud": []string{testAudience, "another-api"}, "sub": sub, "email": email,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "auth_time": now.Unix(),
	}
	if groups != nil {
		c["groups"] = groups
	}
	return c
}

// sign signs claims with the provider's current key.
func (p *testProvider) sign(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	return mustSign(t, p.keypair(), c)
}

func mustSign(t testing.TB, kp *mockoidc.Keypair, c jwt.MapClaims) string {
	t.Helper()
	tok, err := kp.SignJWT(c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsignedToken is c with alg none and an empty signature.
func unsignedToken(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	head := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	body, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return head + "." + base64.RawURLEncoding.EncodeToString(body) + "."
}

// publicKeyHS256 is c "signed" with HS256 using the provider's public key
// (PEM, as it is published) as the shared secret, under the provider's key
// id: the classic algorithm-confusion forgery.
func (p *testProvider) publicKeyHS256(t *testing.T, c jwt.MapClaims) string {
	t.Helper()
	kp := p.keypair()
	der, err := x509.MarshalPKIXPublicKey(kp.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, c)
	tok.Header["kid"] = kp.Kid
	s, err := tok.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// codeFlowIDToken signs user in through the provider's own authorization
// and token endpoints (the authorization code flow a web app runs) and
// returns the ID token the provider issued, whose audience is the
// provider's client id.
func (p *testProvider) codeFlowIDToken(t *testing.T, user *mockoidc.MockUser) string {
	t.Helper()
	p.m.QueueUser(user)
	const redirect = "http://127.0.0.1/callback"
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	q := url.Values{"scope": {"openid email groups"}, "state": {"s"}, "client_id": {p.m.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect}}
	resp, err := client.Get(p.m.AuthorizationEndpoint() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %s, Location %q", resp.Status, resp.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "client_id": {p.m.ClientID},
		"client_secret": {p.m.ClientSecret}, "redirect_uri": {redirect}}
	resp, err = client.Post(p.m.TokenEndpoint(), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.IDToken == "" {
		t.Fatalf("token endpoint: %s, %v", resp.Status, err)
	}
	return out.IDToken
}

// mustProviderServer is a live server that takes p's tokens, on clock.
func mustProviderServer(t *testing.T, p *testProvider, clock *testClock, configure func(*Config)) *liveServer {
	t.Helper()
	return mustLiveServer(t, func(c *Config) {
		c.Now = clock.Now
		c.OIDC.Issuer = p.issuer()
		c.OIDC.Audience = testAudience
		if configure != nil {
			configure(c)
		}
	})
}
