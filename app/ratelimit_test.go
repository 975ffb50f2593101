package app

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// wantRateHeaders checks the X-RateLimit headers of one answer.
func wantRateHeaders(t *testing.T, a answer, limit, remaining int) {
	t.Helper()
	h := a.header
	if got := h.Get("X-RateLimit-Limit"); got != strconv.Itoa(limit) {
		t.Fatalf("X-RateLimit-Limit %q, want %d", got, limit)
	}
	if got := h.Get("X-RateLimit-Remaining"); got != strconv.Itoa(remaining) {
		t.Fatalf("X-RateLimit-Remaining %q, want %d", got, remaining)
	}
	reset, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	now := time.Now().Unix()
	if err != nil || reset < now-1 || reset > now+61 {
		t.Fatalf("X-RateLimit-Reset %q is not a Unix time within the minute", h.Get("X-RateLimit-Reset"))
	}
}

func wantRetryAfter(t *testing.T, a answer) {
	t.Helper()
	n, err := strconv.Atoi(a.header.Get("Retry-After"))
	if err != nil || n < 1 || n > 61 {
		t.Fatalf("Retry-After %q, want 1 to 61 seconds", a.header.Get("Retry-After"))
	}
}

func TestRateLimitTripsAtTheConfiguredCount(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, func(c *Config) { c.RateLimit = "5-M" })
	client := xff("198.51.100.1")
	for i := range 5 {
		a := ls.do(t, request{path: "/api/health", headers: []string{client}})
		wantStatus(t, a, http.StatusOK)
		wantRateHeaders(t, a, 5, 4-i)
	}
	// Error answers carry the headers too, and every route counts.
	a := ls.do(t, request{path: "/api/auth/me", headers: []string{client}})
	wantError(t, a, http.StatusTooManyRequests, api.CodeRateLimited)
	wantRateHeaders(t, a, 5, 0)
	wantRetryAfter(t, a)
	if a.err.Message == "" {
		t.Fatal("429 without a message")
	}
	// Another client is untouched.
	a = ls.do(t, request{path: "/api/health", headers: []string{xff("198.51.100.2")}})
	wantStatus(t, a, http.StatusOK)
	wantRateHeaders(t, a, 5, 4)
}

func TestSpoofedForwardedForFromUntrustedPeerIsIgnored(t *testing.T) {
	t.Parallel()
	// The test's own address is not a trusted proxy here.
	ls := mustLiveServer(t, func(c *Config) {
		c.RateLimit = "3-M"
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	for i := range 3 {
		a := ls.do(t, request{path: "/api/health", headers: []string{xff(fmt.Sprintf("203.0.113.%d", i+1)), "X-Real-IP: 203.0.113.99"}})
		wantStatus(t, a, http.StatusOK)
		wantRateHeaders(t, a, 3, 2-i)
	}
	a := ls.do(t, request{path: "/api/health", headers: []string{xff("203.0.113.200")}})
	wantError(t, a, http.StatusTooManyRequests, api.CodeRateLimited)
	ls.flush(t)
	recs := ls.failures(t, "")
	if len(recs) != 1 || recs[0].IP != "127.0.0.1" || recs[0].Reason != reasonRateLimited {
		t.Fatalf("records %+v, want one 429 of 127.0.0.1", recs)
	}
}

func TestTrustedProxyLimitsTheRightClient(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, func(c *Config) { c.RateLimit = "2-M" })
	cases := []struct {
		name string
		// first and second use up a client's limit; third must be limited
		// as the same client; other must not.
		first, second, third, other string
	}{
		{"right-most entry is the client", "192.0.2.10", "192.0.2.10", "192.0.2.10", "192.0.2.11"},
		// Entries left of the proxy's own are the client's to invent.
		{"client-written entries change nothing", "1.1.1.1, 192.0.2.20", "8.8.8.8, 192.0.2.20", "192.0.2.99, 192.0.2.20", "192.0.2.20, 192.0.2.21"},
		// A chain of trusted proxies is walked back to the first untrusted hop.
		{"trusted hops are skipped", "192.0.2.30, 127.0.0.1", "192.0.2.30", "192.0.2.30,127.0.0.1", "192.0.2.31, 127.0.0.1"},
		{"a port on the entry is dropped", "192.0.2.40:1234", "192.0.2.40", "192.0.2.40:9", "192.0.2.41"},
		{"IPv6 clients share their /64", "2001:db8:1:2::1", "2001:db8:1:2:ffff::7", "[2001:db8:1:2::abcd]:443", "2001:db8:1:3::1"},
		{"IPv4-mapped IPv6 is the IPv4 client", "::ffff:192.0.2.50", "192.0.2.50", "192.0.2.50", "192.0.2.51"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for i, hop := range []string{tc.first, tc.second} {
				a := ls.do(t, request{path: "/api/health", headers: []string{xff(hop)}})
				wantStatus(t, a, http.StatusOK)
				wantRateHeaders(t, a, 2, 1-i)
			}
			wantError(t, ls.do(t, request{path: "/api/health", headers: []string{xff(tc.third)}}), http.StatusTooManyRequests, api.CodeRateLimited)
			wantStatus(t, ls.do(t, request{path: "/api/health", headers: []string{xff(tc.other)}}), http.StatusOK)
		})
	}
}

func TestRateKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"192.0.2.1":              "192.0.2.1",
		"::ffff:192.0.2.1":       "192.0.2.1",
		"2001:db8::1":            "2001:db8::/64",
		"2001:db8:0:0:ffff::1":   "2001:db8::/64",
		"2001:db8:0:1::1":        "2001:db8:0:1::/64",
		"fe80::1%eth0":           "fe80::/64",
		"not an address at all!": "not an address at all!",
	} {
		if got := rateKey(in); got != want {
			t.Errorf("rateKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoginLimitPerEmailWorksAcrossAddresses(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, func(c *Config) { c.LoginRateLimit = "3-M" })
	login := func(ip, email string) answer {
		return ls.do(t, request{method: http.MethodPost, path: "/api/auth/login", headers: []string{xff(ip)},
			body: fmt.Sprintf(`{"email":%q,"password":"not the password"}`, email)})
	}
	// Three guesses from three addresses, the email written three ways.
	for i, email := range []string{"victim@example.com", "Victim@Example.com", " VICTIM@example.com "} {
		a := login(fmt.Sprintf("198.51.100.%d", i+1), email)
		wantError(t, a, http.StatusUnauthorized, api.CodeInvalidCredentials)
		wantRateHeaders(t, a, 3, 2-i)
	}
	// A fresh address is refused for this email, before any password work...
	a := login("198.51.100.50", "victim@example.com")
	wantError(t, a, http.StatusTooManyRequests, api.CodeRateLimited)
	wantRetryAfter(t, a)
	wantRateHeaders(t, a, 3, 0)
	// ...but may still try another account.
	wantError(t, login("198.51.100.50", "someone.else@example.com"), http.StatusUnauthorized, api.CodeInvalidCredentials)

	ls.flush(t)
	recs := ls.failures(t, "198.51.100.50")
	if len(recs) != 2 || recs[1].Reason != reasonLoginLimitEmail || recs[1].Status != http.StatusTooManyRequests {
		t.Fatalf("records of the fresh address: %+v", recs)
	}
}

func TestLoginLimitPerAddress(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, func(c *Config) { c.LoginRateLimit = "2-M" })
	ip := xff("198.51.100.77")
	for i := range 2 {
		a := ls.do(t, request{method: http.MethodPost, path: "/api/auth/register", headers: []string{ip},
			body: fmt.Sprintf(`{"email":"bad-%d","password":"x","name":"x"}`, i)})
		wantError(t, a, http.StatusBadRequest, api.CodeInvalidInput)
	}
	// Register and login share the address's budget; the refusal happens
	// before the email is counted, so a blocked address cannot use up the
	// budget of the accounts it names.
	a := ls.do(t, request{method: http.MethodPost, path: "/api/auth/login", headers: []string{ip},
		body: `{"email":"target@example.com","password":"whatever"}`})
	wantError(t, a, http.StatusTooManyRequests, api.CodeRateLimited)
	for i := range 2 {
		a := ls.do(t, request{method: http.MethodPost, path: "/api/auth/login", headers: []string{xff(fmt.Sprintf("198.51.100.%d", 80+i))},
			body: `{"email":"target@example.com","password":"whatever"}`})
		wantError(t, a, http.StatusUnauthorized, api.CodeInvalidCredentials)
		wantRateHeaders(t, a, 2, 1-i)
	}
	ls.flush(t)
	if recs := ls.failures(t, "198.51.100.77"); len(recs) != 1 || recs[0].Reason != reasonLoginLimitIP {
		t.Fatalf("records: %+v", recs)
	}
}

func TestFailedOTPCodesCountTowardTheLoginLimit(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, func(c *Config) { c.LoginRateLimit = "3-M" })
	u, secret := mustUser(t, ls.srv, "otp@example.com", "user")
	err := ls.db.Update(t.Context(), func(tx store.Tx) error {
		u.MFA.Enabled, u.MFA.Secret = true, "JBSWY3DPEHPK3PXP"
		return tx.Users().Update(&u)
	})
	if err != nil {
		t.Fatal(err)
	}
	// Codes checked outside a login (here: turning the factor off) count
	// against the email's login budget, whatever address they come from.
	guess := func(ip string) answer {
		return ls.do(t, request{method: http.MethodDelete, path: "/api/auth/mfa", body: `{"otp":"000000"}`,
			headers: []string{bearer(secret), xff(ip)}})
	}
	for i := range 3 {
		wantError(t, guess("203.0.113."+strconv.Itoa(10+i)), http.StatusUnauthorized, api.CodeInvalidCredentials)
	}
	wantError(t, guess("203.0.113.20"), http.StatusTooManyRequests, api.CodeRateLimited)
	// The login of that email is now refused too, from yet another address.
	a := ls.do(t, request{method: http.MethodPost, path: "/api/auth/login",
		body:    `{"email":"OTP@example.com","password":"whatever","otp":"123456"}`,
		headers: []string{xff("203.0.113.21")}})
	wantError(t, a, http.StatusTooManyRequests, api.CodeRateLimited)
}
