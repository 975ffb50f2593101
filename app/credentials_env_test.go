package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/pquerna/otp/totp"
)

// This file is the harness of the second-factor and token tests: a real
// server over a real bbolt file with the shipped model and seed policy,
// served on a loopback port, with a clock the test moves.

// testClock is a clock the test sets. It starts 10 s into a TOTP step, so
// that whole-step moves keep it inside a step.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock {
	return &testClock{now: time.Date(2031, 3, 4, 12, 0, 10, 0, time.UTC)}
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

// lockedBuffer collects the server log; handlers write to it concurrently.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// credEnv is one server with its database, clock and log.
type credEnv struct {
	srv   *Server
	db    *store.DB
	authz *rbac.Authorizer
	clock *testClock
	log   *lockedBuffer
	url   string
	// adminID is the first admin, made by Bootstrap.
	adminID uint64
}

const (
	testAdminEmail = "admin@example.com"
	testPassword   = "correct horse battery staple"
)

func newCredEnv(t *testing.T) *credEnv {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(filepath.Join(t.TempDir(), "gatehouse.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	model, err := rbac.LoadModel("../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := rbac.ParseCSV(f, model)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	authz, err := rbac.New(ctx, db, model)
	if err != nil {
		t.Fatal(err)
	}
	e := &credEnv{db: db, authz: authz, clock: newTestClock(), log: &lockedBuffer{}}
	cfg := DefaultConfig()
	cfg.Now = e.clock.Now
	cfg.CookieSecure = false
	cfg.HashConcurrency = 2
	e.srv, err = NewServer(slog.New(slog.NewJSONHandler(e.log, nil)), cfg, db, authz)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Bootstrap(ctx, seed, testAdminEmail, testPassword); err != nil {
		t.Fatal(err)
	}
	e.adminID = e.mustUserID(t, testAdminEmail)
	hs := httptest.NewServer(e.srv)
	t.Cleanup(hs.Close)
	e.url = hs.URL
	return e
}

// mustCreateUser makes a user holding roles, with the test password.
func (e *credEnv) mustCreateUser(t *testing.T, email string, roles ...string) uint64 {
	t.Helper()
	u, err := e.srv.CreateUser(context.Background(), email, "", testPassword, roles)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func (e *credEnv) mustUserID(t *testing.T, email string) uint64 {
	t.Helper()
	return e.mustUser(t, email).ID
}

// mustUser reads a user as stored.
func (e *credEnv) mustUser(t *testing.T, email string) store.User {
	t.Helper()
	var u store.User
	err := e.db.View(context.Background(), func(tx *store.Tx) error {
		var err error
		u, err = tx.UserByEmail(email)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// answer is one HTTP answer, body read.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request with an optional Bearer credential and JSON body.
func (e *credEnv) call(t *testing.T, method, path, bearer string, body any) answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// want checks the status of a successful answer and decodes it into out
// (when not nil).
func (a answer) want(t *testing.T, status int, out any) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %s", a.status, status, a.body)
	}
	if out != nil {
		if err := json.Unmarshal(a.body, out); err != nil {
			t.Fatalf("decode %s: %v", a.body, err)
		}
	}
}

// wantError checks an error answer's exact status and error code, and
// returns the decoded error.
func (a answer) wantError(t *testing.T, status int, code string) api.Error {
	t.Helper()
	var e api.Error
	if err := json.Unmarshal(a.body, &e); err != nil {
		t.Fatalf("status %d, body %q is not an error answer: %v", a.status, a.body, err)
	}
	if a.status != status || e.Code != code {
		t.Fatalf("got %d %s (%s), want %d %s", a.status, e.Code, e.Message, status, code)
	}
	return e
}

// login signs in and returns the session token; otp may be empty.
func (e *credEnv) login(t *testing.T, email, otp string) string {
	t.Helper()
	var out api.LoginResponse
	e.call(t, http.MethodPost, "/api/auth/login", "", api.LoginRequest{Email: email, Password: testPassword, OTP: otp}).
		want(t, http.StatusOK, &out)
	return out.Token
}

// code is the TOTP code of secret at the test clock moved by steps.
func (e *credEnv) code(t *testing.T, secret string, steps int) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, e.clock.Now().Add(time.Duration(steps)*totpPeriod*time.Second), totpOpts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// mustEnableMFA runs setup and enable for the holder of session and returns
// the secret. It moves the clock one step on, so that the enabling code is
// not the one the caller uses next.
func (e *credEnv) mustEnableMFA(t *testing.T, session string) string {
	t.Helper()
	var setup api.MFASetup
	e.call(t, http.MethodPost, "/api/auth/mfa/setup", session, nil).want(t, http.StatusOK, &setup)
	e.call(t, http.MethodPost, "/api/auth/mfa/enable", session, api.MFAEnableRequest{OTP: e.code(t, setup.Secret, 0)}).
		want(t, http.StatusOK, nil)
	e.clock.Advance(totpPeriod * time.Second)
	return setup.Secret
}

// audit returns the audit log, oldest first.
func (e *credEnv) audit(t *testing.T) []store.AuditRecord {
	t.Helper()
	var all []store.AuditRecord
	err := e.db.View(context.Background(), func(tx *store.Tx) error {
		p := store.Page{Limit: 100}
		for {
			recs, next, err := tx.ListAudit(p)
			if err != nil {
				return err
			}
			all = append(all, recs...)
			if next == "" {
				return nil
			}
			p.Cursor = next
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
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

// failureReasons lists the reasons of the auth-failure log lines, in order.
func (e *credEnv) failureReasons(t *testing.T) []string {
	t.Helper()
	var out []string
	for line := range strings.Lines(e.log.String()) {
		var rec struct {
			Msg    string `json:"msg"`
			Reason string `json:"reason"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec.Msg == "auth failure" {
			out = append(out, rec.Reason)
		}
	}
	return out
}

// countSessions counts the stored login sessions and tokens of a user.
func (e *credEnv) countSessions(t *testing.T, userID uint64, kind string) int {
	t.Helper()
	var n int
	err := e.db.View(context.Background(), func(tx *store.Tx) error {
		s, err := tx.UserSessions(userID, kind)
		n = len(s)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
