package app

import (
	"context"
	"encoding/json"
	"github.com/gatehouse/gatehouse/access"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/pquerna/otp/totp"
)

// Helpers of the second-factor and token tests, on top of the core test
// server: a clock the test moves, logins with a code, and readers of the
// audit log and the auth-failure lines of the server log.

// testClock is a clock the test sets. It starts 10 s into a TOTP step, so
// that moves by whole steps stay inside a step.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newClockedServer is a test server whose clock the test moves.
func newClockedServer(t *testing.T) (*testServer, *testClock) {
	t.Helper()
	clock := &testClock{now: time.Date(2031, 3, 4, 12, 0, 10, 0, time.UTC)}
	return newTestServer(t, func(c *Config) { c.Now = clock.Now }), clock
}

// asToken is a caller presenting secret as its Bearer token.
func asToken(secret string) *testUser { return &testUser{Token: secret} }

// tryLogin sends a login with an optional code and returns the answer.
func (ts *testServer) tryLogin(email, password, otp string) *http.Response {
	ts.t.Helper()
	return ts.do(http.MethodPost, "/api/auth/login", nil, api.LoginRequest{Email: email, Password: password, OTP: otp}, nil)
}

// loginWithCode signs in with the password and a code.
func (ts *testServer) loginWithCode(email, otp string) testUser {
	ts.t.Helper()
	var out api.LoginResponse
	resp := ts.do(http.MethodPost, "/api/auth/login", nil, api.LoginRequest{Email: email, Password: testPassword, OTP: otp}, &out)
	expect(ts.t, resp, http.StatusOK, "")
	u := testUser{Email: email, Token: out.Token, CSRF: out.CSRFToken}
	u.ID, _ = store.ParseID(out.User.ID)
	return u
}

// totpCode is the code of secret at the clock moved by steps.
func totpCode(t *testing.T, secret string, clock *testClock, steps int) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, clock.Now().Add(time.Duration(steps)*access.TOTPPeriod*time.Second), access.TOTPOptions)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mustEnableMFA runs setup and enable as u and returns the secret. It moves
// the clock one step on, so that the enabling code is not the next one.
func (ts *testServer) mustEnableMFA(u testUser, clock *testClock) string {
	ts.t.Helper()
	var setup api.MFASetup
	expect(ts.t, ts.do(http.MethodPost, "/api/auth/mfa/setup", &u, nil, &setup), http.StatusOK, "")
	expect(ts.t, ts.do(http.MethodPost, "/api/auth/mfa/enable", &u, api.MFAEnableRequest{OTP: totpCode(ts.t, setup.Secret, clock, 0), Password: testPassword}, nil), http.StatusOK, "")
	clock.Advance(access.TOTPPeriod * time.Second)
	return setup.Secret
}

// storedUser reads a user as stored.
func (ts *testServer) storedUser(id uint64) store.User {
	ts.t.Helper()
	var u store.User
	err := ts.db.View(context.Background(), func(tx store.Tx) error {
		var err error
		u, err = tx.Users().Get(id)
		return err
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	return u
}

// auditLog returns the audit log, oldest first.
func (ts *testServer) auditLog() []store.AuditRecord {
	ts.t.Helper()
	var newestFirst []store.AuditRecord
	err := ts.db.View(context.Background(), func(tx store.Tx) error {
		p := store.Page{Limit: 100}
		for {
			recs, next, err := tx.Audit().List(p)
			if err != nil {
				return err
			}
			newestFirst = append(newestFirst, recs...)
			if next == "" {
				return nil
			}
			p.Cursor = next
		}
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	out := make([]store.AuditRecord, len(newestFirst))
	for i, r := range newestFirst {
		out[len(out)-1-i] = r
	}
	return out
}

// auditActions lists the actions of the audit records on target.
func auditActions(recs []store.AuditRecord, target string) []string {
	var out []string
	for _, r := range recs {
		if r.Target == target {
			out = append(out, r.Action)
		}
	}
	return out
}

// failureReasons lists, in order, the reasons of the auth-failure lines
// the server logged (the lines fail2ban reads).
func (ts *testServer) failureReasons() []string {
	ts.t.Helper()
	var out []string
	for line := range strings.Lines(ts.logs.String()) {
		var rec struct {
			Msg    string `json:"msg"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			ts.t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "auth failure" {
			out = append(out, rec.Reason)
		}
	}
	return out
}

// countSessions counts a user's stored sessions of kind.
func (ts *testServer) countSessions(userID uint64, kind string) int {
	ts.t.Helper()
	var n int
	err := ts.db.View(context.Background(), func(tx store.Tx) error {
		s, err := tx.Sessions().OfUser(userID, kind)
		n = len(s)
		return err
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	return n
}
