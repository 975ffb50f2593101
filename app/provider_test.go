package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/idp"
	"github.com/gatehouse/gatehouse/store"
	"github.com/oauth2-proxy/mockoidc"
	"github.com/pquerna/otp/totp"
)

// mustGroupRule grants GET /api/admin/routes (which role:user does not
// have) to the provider group engineering.
func mustGroupRule(t *testing.T, ls *liveServer) {
	t.Helper()
	if _, err := ls.srv.Access().AddRule(context.Background(), access.Offline, "p", []string{"group:engineering", "/api/admin/routes", "GET", "*"}); err != nil {
		t.Fatal(err)
	}
}

// meOf answers GET /api/auth/me with a provider token.
func meOf(t *testing.T, ls *liveServer, token string) api.Me {
	t.Helper()
	a := ls.do(t, request{method: http.MethodGet, path: "/api/auth/me", headers: []string{bearer(token)}})
	wantStatus(t, a, http.StatusOK)
	var me api.Me
	if err := json.Unmarshal(a.body, &me); err != nil {
		t.Fatal(err)
	}
	return me
}

// wantReason checks the one failure recorded for ip.
func wantReason(t *testing.T, ls *liveServer, ip, reason string) {
	t.Helper()
	ls.flush(t)
	recs := ls.failures(t, ip)
	if len(recs) != 1 || recs[0].Reason != reason || recs[0].Status != http.StatusUnauthorized {
		t.Fatalf("failures of %s: %+v, want one 401 with reason %s", ip, recs, reason)
	}
}

// TestProviderTokens: a provider token with the group passes a group: rule
// and fails without it; every kind of bad token is 401 unauthorized,
// recorded with its reason.
func TestProviderTokens(t *testing.T) {
	t.Parallel()
	p := mustProvider(t)
	clock := &testClock{now: time.Now()}
	ls := mustProviderServer(t, p, clock, nil)
	mustGroupRule(t, ls)
	now := clock.Now()
	routes := func(token, ip string) answer {
		return ls.do(t, request{method: http.MethodGet, path: "/api/admin/routes", headers: []string{bearer(token), xff(ip)}})
	}

	wantStatus(t, routes(p.sign(t, p.claims(now, "ada", "ada@example.com", "design", "engineering")), "192.0.2.1"), http.StatusOK)
	// GET /api/auth/me lists the admin routes the token's groups open.
	if me := meOf(t, ls, p.sign(t, p.claims(now, "ada", "ada@example.com", "engineering"))); !slices.Contains(me.May, "GET /api/admin/routes") {
		t.Fatalf("may %v: want GET /api/admin/routes through group:engineering", me.May)
	}
	if me := meOf(t, ls, p.sign(t, p.claims(now, "ada", "ada@example.com"))); slices.Contains(me.May, "GET /api/admin/routes") {
		t.Fatalf("may %v without the group", me.May)
	}
	wantError(t, routes(p.sign(t, p.claims(now, "ada", "ada@example.com", "design")), "192.0.2.2"), http.StatusForbidden, api.CodeForbidden)
	wantError(t, routes(p.sign(t, p.claims(now, "ada", "ada@example.com")), "192.0.2.3"), http.StatusForbidden, api.CodeForbidden)
	// A single string is one group.
	one := p.claims(now, "ada", "ada@example.com")
	one["groups"] = "engineering"
	wantStatus(t, routes(p.sign(t, one), "192.0.2.4"), http.StatusOK)

	mod := func(change func(c map[string]any)) map[string]any {
		c := p.claims(now, "ada", "ada@example.com", "engineering")
		change(c)
		return c
	}
	foreign := mustKeypair(t, "")
	cases := []struct {
		name, token, reason string
	}{
		{"expired", p.sign(t, mod(func(c map[string]any) { c["exp"] = now.Add(-time.Second).Unix() })), idp.ReasonExpired},
		{"not yet valid", p.sign(t, mod(func(c map[string]any) { c["nbf"] = now.Add(10 * time.Minute).Unix() })), idp.ReasonNotYetValid},
		{"another audience", p.sign(t, mod(func(c map[string]any) { c["aud"] = "https://other.example.com" })), idp.ReasonBadAudience},
		{"no audience", p.sign(t, mod(func(c map[string]any) { delete(c, "aud") })), idp.ReasonBadAudience},
		{"another issuer", p.sign(t, mod(func(c map[string]any) { c["iss"] = "https://id.example.com" })), idp.ReasonBadIssuer},
		{"alg none", unsignedToken(t, mod(func(map[string]any) {})), idp.ReasonBadSignature},
		{"HS256 with the public key", p.publicKeyHS256(t, mod(func(map[string]any) {})), idp.ReasonBadSignature},
		{"an unknown key", mustSign(t, foreign, mod(func(map[string]any) {})), idp.ReasonUnknownKey},
		{"another key under the provider's key id", mustSign(t, &mockoidc.Keypair{PrivateKey: foreign.PrivateKey, PublicKey: foreign.PublicKey, Kid: p.keypair().Kid}, mod(func(map[string]any) {})), idp.ReasonBadSignature},
		{"too many groups", p.sign(t, mod(func(c map[string]any) { c["groups"] = make([]string, idp.MaxGroups+1) })), idp.ReasonBadClaims},
		{"no email", p.sign(t, mod(func(c map[string]any) { delete(c, "email") })), idp.ReasonBadClaims},
	}
	for i, tc := range cases {
		ip := fmt.Sprintf("198.51.100.%d", i+1)
		a := routes(tc.token, ip)
		if a.status != http.StatusUnauthorized || a.err.Code != api.CodeUnauthorized {
			t.Fatalf("%s: %d %s, want 401 unauthorized", tc.name, a.status, a.body)
		}
		wantReason(t, ls, ip, tc.reason)
	}
}

// TestProviderKeyRotation: keys are fetched again when a new key id
// appears, at most once per interval however many unknown key ids arrive.
func TestProviderKeyRotation(t *testing.T) {
	t.Parallel()
	p := mustProvider(t)
	clock := &testClock{now: time.Now()}
	ls := mustProviderServer(t, p, clock, nil)
	old := p.keypair()
	oldToken := p.sign(t, p.claims(clock.Now(), "ada", "ada@example.com"))
	_ = meOf(t, ls, oldToken)
	if n := p.jwksFetches.Load(); n != 1 {
		t.Fatalf("%d key fetches after the first token, want 1", n)
	}

	// A flood of made-up key ids right after a fetch: no fetch at all;
	// once the interval has passed: one.
	foreign := mustKeypair(t, "")
	flood := func(round int) {
		for i := range 50 {
			kp := *foreign
			kp.Kid = fmt.Sprintf("made-up-%d-%d", round, i)
			a := ls.do(t, request{method: http.MethodGet, path: "/api/auth/me", headers: []string{bearer(mustSign(t, &kp, p.claims(clock.Now(), "ada", "ada@example.com")))}})
			wantError(t, a, http.StatusUnauthorized, api.CodeUnauthorized)
		}
	}
	flood(1)
	if n := p.jwksFetches.Load(); n != 1 {
		t.Fatalf("%d key fetches after 50 unknown key ids within the interval, want still 1", n)
	}
	clock.Advance(idp.DefaultKeyRefreshInterval + time.Second)
	flood(2)
	if n := p.jwksFetches.Load(); n != 2 {
		t.Fatalf("%d key fetches after 50 unknown key ids past the interval, want 2", n)
	}

	// The provider rotates: a token under the new key is taken once the
	// interval allows a fetch; the old key is gone from the set.
	p.rotate(t)
	if p.keypair().Kid == old.Kid {
		t.Fatal("rotation kept the key id")
	}
	clock.Advance(idp.DefaultKeyRefreshInterval + time.Second)
	me := meOf(t, ls, p.sign(t, p.claims(clock.Now(), "ada", "ada@example.com")))
	if n := p.jwksFetches.Load(); n != 3 {
		t.Fatalf("%d key fetches after the rotation, want 3", n)
	}
	if me.Email != "ada@example.com" {
		t.Fatalf("after rotation: %+v", me)
	}
	a := ls.do(t, request{method: http.MethodGet, path: "/api/auth/me", headers: []string{bearer(mustSign(t, old, p.claims(clock.Now(), "ada", "ada@example.com"))), xff("203.0.113.9")}})
	wantError(t, a, http.StatusUnauthorized, api.CodeUnauthorized)
	wantReason(t, ls, "203.0.113.9", idp.ReasonUnknownKey)
}

// TestProviderUsers: the first use of an identity makes one user (also
// when several requests bring it at once); later tokens reach that user
// whatever email they carry; admins see where users come from; disabling
// the user refuses their next token; an email another account holds is
// never linked to it.
func TestProviderUsers(t *testing.T) {
	t.Parallel()
	p := mustProvider(t)
	clock := &testClock{now: time.Now()}
	ls := mustProviderServer(t, p, clock, nil)
	_, admin := mustUser(t, ls.srv, "root@example.com", "admin")
	now := clock.Now()

	first := meOf(t, ls, p.sign(t, p.claims(now, "sub-ada", "Ada@Example.com")))
	if first.Email != "Ada@Example.com" || first.Provider != p.issuer() || len(first.Roles) != 1 || first.Roles[0] != "user" {
		t.Fatalf("first use: %+v", first.User)
	}
	again := meOf(t, ls, p.sign(t, p.claims(now, "sub-ada", "ada.lovelace@example.com")))
	if again.ID != first.ID || again.Email != "Ada@Example.com" {
		t.Fatalf("a later token with another email reached %+v, want user %s unchanged", again.User, first.ID)
	}
	recs := auditRecordsOf(t, ls.db)
	if recs[0].Action != "user.link" || recs[0].Target != "user:"+first.ID {
		t.Fatalf("newest audit record %+v, want user.link of user:%s", recs[0], first.ID)
	}

	// Eight first uses of one identity at once: one user.
	const n = 8
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			tok := p.sign(t, p.claims(now, "sub-bob", fmt.Sprintf("bob%d@example.com", i)))
			a, err := ls.try(request{method: http.MethodGet, path: "/api/auth/me", headers: []string{bearer(tok)}})
			if err != nil || a.status != http.StatusOK {
				t.Errorf("concurrent first use %d: %v %d %s", i, err, a.status, a.body)
				return
			}
			var me api.Me
			_ = json.Unmarshal(a.body, &me)
			ids[i] = me.ID
		})
	}
	wg.Wait()
	var users []store.User
	err := ls.db.View(context.Background(), func(tx store.Tx) (err error) {
		users, _, err = tx.Users().List("bob", store.Page{Limit: 100})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || users[0].Subject != "sub-bob" {
		t.Fatalf("users after %d concurrent first uses: %+v, want one", n, users)
	}
	for i, id := range ids {
		if id != store.FormatID(users[0].ID) {
			t.Fatalf("first use %d reached user %s, want %d", i, id, users[0].ID)
		}
	}

	// The admin list shows who comes from the provider.
	a := ls.do(t, request{method: http.MethodGet, path: "/api/admin/users", headers: []string{bearer(admin)}})
	wantStatus(t, a, http.StatusOK)
	var list struct {
		Items []api.User `json:"items"`
	}
	if err := json.Unmarshal(a.body, &list); err != nil {
		t.Fatal(err)
	}
	providers := map[string]string{}
	for _, u := range list.Items {
		providers[u.Email] = u.Provider
	}
	if providers["Ada@Example.com"] != p.issuer() || providers["root@example.com"] != "" {
		t.Fatalf("providers in the admin list: %v", providers)
	}

	// Disabled: the next token is refused.
	a = ls.do(t, request{method: http.MethodPatch, path: "/api/admin/users/" + first.ID, headers: []string{bearer(admin)}, body: `{"disabled":true}`})
	wantStatus(t, a, http.StatusOK)
	a = ls.do(t, request{method: http.MethodGet, path: "/api/auth/me", headers: []string{bearer(p.sign(t, p.claims(now, "sub-ada", "Ada@Example.com"))), xff("203.0.113.1")}})
	wantError(t, a, http.StatusUnauthorized, api.CodeUnauthorized)
	wantReason(t, ls, "203.0.113.1", failUserDisabled)

	// Another identity with the admin's email is not the admin.
	a = ls.do(t, request{method: http.MethodGet, path: "/api/auth/me", headers: []string{bearer(p.sign(t, p.claims(now, "sub-mallory", "ROOT@example.com"))), xff("203.0.113.2")}})
	wantError(t, a, http.StatusUnauthorized, api.CodeUnauthorized)
	wantReason(t, ls, "203.0.113.2", failEmailTaken)
}

// TestProviderReauth: a linked user makes a personal token with a fresh
// provider sign-in in place of a password; a stale one, or a token that
// does not say when, proves nothing.
func TestProviderReauth(t *testing.T) {
	t.Parallel()
	p := mustProvider(t)
	clock := &testClock{now: time.Now()}
	ls := mustProviderServer(t, p, clock, nil)
	now := clock.Now()
	mint := func(c map[string]any, ip, body string) answer {
		return ls.do(t, request{method: http.MethodPost, path: "/api/auth/tokens", headers: []string{bearer(p.sign(t, c)), xff(ip)}, body: body})
	}
	fresh := p.claims(now, "sub-cy", "cy@example.com")
	a := mint(fresh, "192.0.2.10", `{"name":"ci"}`)
	wantStatus(t, a, http.StatusCreated)
	var made api.CreatedToken
	if err := json.Unmarshal(a.body, &made); err != nil {
		t.Fatal(err)
	}
	me := ls.do(t, request{method: http.MethodGet, path: "/api/auth/me", headers: []string{bearer(made.Secret)}})
	wantStatus(t, me, http.StatusOK)

	wantError(t, mint(fresh, "192.0.2.11", `{"name":"ci","password":"anything"}`), http.StatusBadRequest, api.CodeInvalidInput)

	stale := p.claims(now, "sub-cy", "cy@example.com")
	stale["auth_time"] = now.Add(-6 * time.Minute).Unix()
	wantError(t, mint(stale, "192.0.2.12", `{"name":"ci"}`), http.StatusUnauthorized, api.CodeInvalidCredentials)
	wantReason(t, ls, "192.0.2.12", failStaleAuth)

	unsaid := p.claims(now, "sub-cy", "cy@example.com")
	delete(unsaid, "auth_time")
	wantError(t, mint(unsaid, "192.0.2.13", `{"name":"ci"}`), http.StatusUnauthorized, api.CodeInvalidCredentials)
	wantReason(t, ls, "192.0.2.13", failStaleAuth)
}

// TestProviderCodeFlow: an ID token the provider issues through its own
// authorization code flow (audience: its client id) is a credential, and
// the groups it carries decide.
func TestProviderCodeFlow(t *testing.T) {
	t.Parallel()
	p := mustProvider(t)
	clock := &testClock{now: time.Now()}
	ls := mustProviderServer(t, p, clock, func(c *Config) { c.OIDC.Audience = p.m.ClientID })
	mustGroupRule(t, ls)
	user := mockoidc.DefaultUser() // groups engineering and design
	a := ls.do(t, request{method: http.MethodGet, path: "/api/admin/routes", headers: []string{bearer(p.codeFlowIDToken(t, user))}})
	wantStatus(t, a, http.StatusOK)
	user.Groups = []string{"design"}
	a = ls.do(t, request{method: http.MethodGet, path: "/api/admin/routes", headers: []string{bearer(p.codeFlowIDToken(t, user))}})
	wantError(t, a, http.StatusForbidden, api.CodeForbidden)
}

// TestProviderDownAtStartup: a provider that does not answer at start-up
// does not stop the server; its tokens are refused as
// provider_unavailable until it answers, and taken afterwards.
func TestProviderDownAtStartup(t *testing.T) {
	t.Parallel()
	p := mustProvider(t)
	p.m.QueueError(&mockoidc.ServerError{Code: http.StatusServiceUnavailable, Error: "temporarily_unavailable", Description: "down"})
	clock := &testClock{now: time.Now()}
	ls := mustProviderServer(t, p, clock, nil)
	wantStatus(t, ls.do(t, request{method: http.MethodGet, path: "/api/health"}), http.StatusOK)
	tok := p.sign(t, p.claims(clock.Now(), "sub-dee", "dee@example.com"))
	a := ls.do(t, request{method: http.MethodGet, path: "/api/auth/me", headers: []string{bearer(tok), xff("192.0.2.20")}})
	wantError(t, a, http.StatusUnauthorized, api.CodeUnauthorized)
	wantReason(t, ls, "192.0.2.20", idp.ReasonUnavailable)
	clock.Advance(idp.DefaultKeyRefreshInterval + time.Second)
	_ = meOf(t, ls, p.sign(t, p.claims(clock.Now(), "sub-dee", "dee@example.com")))
}

// BenchmarkProviderVerify is the verification of one provider token (RS256,
// keys cached), the work each request with such a token adds before its
// user lookup.
func BenchmarkProviderVerify(b *testing.B) {
	p := mustProvider(b)
	v, err := idp.New(idp.Config{Issuer: p.issuer(), Audience: testAudience})
	if err != nil {
		b.Fatal(err)
	}
	tok := p.sign(b, p.claims(time.Now(), "sub", "bench@example.com", "engineering"))
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWhatIfAsGroupMember: the what-if is asked "as a member of these
// groups", as a provider token makes a caller, and says so.
func TestWhatIfAsGroupMember(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	mustGroupRule(t, ls)
	_, admin := mustUser(t, ls.srv, "root@example.com", "admin")
	u, _ := mustUser(t, ls.srv, "eve@example.com", "user")
	check := func(body string) api.CheckResult {
		t.Helper()
		a := ls.do(t, request{method: http.MethodPost, path: "/api/admin/policies/check", headers: []string{bearer(admin)}, body: body})
		wantStatus(t, a, http.StatusOK)
		var out api.CheckResult
		if err := json.Unmarshal(a.body, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	sub := `"subject":"user:` + store.FormatID(u.ID) + `","object":"/api/admin/routes","action":"GET"`
	if got := check(`{` + sub + `}`); got.Allowed {
		t.Fatalf("without groups: %+v, want denied", got)
	}
	got := check(`{` + sub + `,"groups":["sales","group:engineering"]}`)
	want := "allowed: rule p, group:engineering, /api/admin/routes, GET, * grants GET on /api/admin/routes to group:engineering, and user:" +
		store.FormatID(u.ID) + " -> group:engineering (for this request)"
	if !got.Allowed || got.Explanation != want {
		t.Fatalf("as a member of engineering: %+v, want allowed: %q", got, want)
	}
	a := ls.do(t, request{method: http.MethodPost, path: "/api/admin/policies/check", headers: []string{bearer(admin)},
		body: `{` + sub + `,"groups":["bad` + "\\u0007" + `"]}`})
	wantError(t, a, http.StatusBadRequest, api.CodeInvalidInput)
}

// TestProviderNestedGroupsClaim: Keycloak's realm roles, a nested claim
// named by a dotted path, are the groups; the top-level groups claim is
// then not read.
func TestProviderNestedGroupsClaim(t *testing.T) {
	t.Parallel()
	p := mustProvider(t)
	clock := &testClock{now: time.Now()}
	ls := mustProviderServer(t, p, clock, func(c *Config) { c.OIDC.GroupsClaim = "realm_access.roles" })
	mustGroupRule(t, ls)
	routes := func(c map[string]any) answer {
		return ls.do(t, request{method: http.MethodGet, path: "/api/admin/routes", headers: []string{bearer(p.sign(t, c))}})
	}
	c := p.claims(clock.Now(), "kc-1", "kc@example.com", "engineering")
	wantError(t, routes(c), http.StatusForbidden, api.CodeForbidden)
	c["realm_access"] = map[string]any{"roles": []string{"offline_access", "engineering"}}
	wantStatus(t, routes(c), http.StatusOK)
}

// TestProviderReauthSecondFactor: a linked user turns a second factor on
// with its code and a fresh provider sign-in, never with a stale one.
func TestProviderReauthSecondFactor(t *testing.T) {
	t.Parallel()
	p := mustProvider(t)
	clock := &testClock{now: time.Now()}
	ls := mustProviderServer(t, p, clock, nil)
	fresh := p.claims(clock.Now(), "sub-fay", "fay@example.com")
	stale := p.claims(clock.Now(), "sub-fay", "fay@example.com")
	stale["auth_time"] = clock.Now().Add(-time.Hour).Unix()
	call := func(c map[string]any, path, ip, body string) answer {
		return ls.do(t, request{method: http.MethodPost, path: path, headers: []string{bearer(p.sign(t, c)), xff(ip)}, body: body})
	}
	a := call(fresh, "/api/auth/mfa/setup", "192.0.2.30", "")
	wantStatus(t, a, http.StatusOK)
	var setup api.MFASetup
	if err := json.Unmarshal(a.body, &setup); err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(setup.Secret, clock.Now(), access.TOTPOptions)
	if err != nil {
		t.Fatal(err)
	}
	wantError(t, call(stale, "/api/auth/mfa/enable", "192.0.2.31", `{"otp":"`+code+`"}`), http.StatusUnauthorized, api.CodeInvalidCredentials)
	wantReason(t, ls, "192.0.2.31", failStaleAuth)
	a = call(fresh, "/api/auth/mfa/enable", "192.0.2.32", `{"otp":"`+code+`"}`)
	wantStatus(t, a, http.StatusOK)
	var u api.User
	if err := json.Unmarshal(a.body, &u); err != nil || !u.MFAEnabled {
		t.Fatalf("after enabling: %s", a.body)
	}
}
