package app

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/app/redistest"
)

// loginAttempt sends one failed login for email from client.
func loginAttempt(t *testing.T, ls *liveServer, client, email string) answer {
	t.Helper()
	return ls.do(t, request{method: http.MethodPost, path: "/api/auth/login",
		body:    `{"email":"` + email + `","password":"not the password at all"}`,
		headers: []string{client, "Content-Type: application/json"}})
}

// Two instances on one Redis count one limit: attempts through either add
// up, per email as per address.
func TestRedisLimitsCountOnceForEveryInstance(t *testing.T) {
	t.Parallel()
	redis := redistest.New(t)
	mk := func() *liveServer {
		return mustLiveServer(t, func(c *Config) { c.LoginRateLimit = "4-M"; c.RedisURL = redis.URL() })
	}
	a, b := mk(), mk()
	for i, ls := range []*liveServer{a, b, a, b} {
		got := loginAttempt(t, ls, xff("198.51.100.7"), "someone@example.com")
		wantError(t, got, http.StatusUnauthorized, api.CodeInvalidCredentials)
		wantRateHeaders(t, got, 4, 3-i)
	}
	// A fifth attempt on the email from a fresh address, and one from the
	// address on a fresh email, are over the limit on either instance.
	wantError(t, loginAttempt(t, a, xff("198.51.100.9"), "someone@example.com"), http.StatusTooManyRequests, api.CodeRateLimited)
	wantError(t, loginAttempt(t, b, xff("198.51.100.7"), "other@example.com"), http.StatusTooManyRequests, api.CodeRateLimited)
	if n := a.logs.count("Redis is unreachable") + b.logs.count("Redis is unreachable"); n != 0 {
		t.Fatalf("%d outage lines with Redis up", n)
	}
}

// With Redis stopped, every instance still limits logins, in its own
// memory, and says so once; when Redis is back, it says that too and
// counts there again.
func TestRedisDownStillLimits(t *testing.T) {
	t.Parallel()
	redis := redistest.New(t)
	ls := mustLiveServer(t, func(c *Config) { c.LoginRateLimit = "3-M"; c.RedisURL = redis.URL() })
	wantError(t, loginAttempt(t, ls, xff("198.51.100.20"), "a@example.com"), http.StatusUnauthorized, api.CodeInvalidCredentials)
	if err := redis.Stop(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		got := loginAttempt(t, ls, xff("198.51.100.21"), "b@example.com")
		wantError(t, got, http.StatusUnauthorized, api.CodeInvalidCredentials)
		wantRateHeaders(t, got, 3, 2-i)
	}
	wantError(t, loginAttempt(t, ls, xff("198.51.100.21"), "c@example.com"), http.StatusTooManyRequests, api.CodeRateLimited)
	if n := ls.logs.count("Redis is unreachable"); n != 1 {
		t.Fatalf("%d outage lines, want 1 for one outage:\n%s", n, ls.logs)
	}
	if err := redis.Restart(); err != nil {
		t.Fatal(err)
	}
	// Redis is tried again within a second of the last failure: poll for
	// the line that says it answers, within a bound.
	deadline := time.Now().Add(10 * time.Second)
	for ls.logs.count("Redis answers again") == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no recovery within 10s:\n%s", ls.logs)
		}
		wantStatus(t, ls.do(t, request{path: "/api/health", headers: []string{xff("198.51.100.22")}}), http.StatusOK)
		time.Sleep(100 * time.Millisecond)
	}
	// Redis restarted empty: the count starts over there.
	got := loginAttempt(t, ls, xff("198.51.100.23"), "d@example.com")
	wantError(t, got, http.StatusUnauthorized, api.CodeInvalidCredentials)
	wantRateHeaders(t, got, 3, 2)
}

// A server starts while Redis is unreachable, and limits in memory.
func TestRedisUnreachableAtStart(t *testing.T) {
	t.Parallel()
	redis := redistest.New(t)
	url := redis.URL()
	if err := redis.Stop(); err != nil {
		t.Fatal(err)
	}
	ls := mustLiveServer(t, func(c *Config) { c.LoginRateLimit = "2-M"; c.RedisURL = url })
	for range 2 {
		wantError(t, loginAttempt(t, ls, xff("198.51.100.30"), "e@example.com"), http.StatusUnauthorized, api.CodeInvalidCredentials)
	}
	wantError(t, loginAttempt(t, ls, xff("198.51.100.30"), "e@example.com"), http.StatusTooManyRequests, api.CodeRateLimited)
	if n := ls.logs.count("Redis is unreachable"); n != 1 {
		t.Fatalf("%d outage lines, want 1:\n%s", n, ls.logs)
	}
}
