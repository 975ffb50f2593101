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
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// testServer is the real API on a temp bbolt file with the shipped model
// and seed policy.
type testServer struct {
	*Server
	t     *testing.T
	http  *httptest.Server
	admin testUser
	// logs holds the server log, one JSON object a line, for tests of what
	// is (and is never) logged.
	logs *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testUser is a signed-in user of a testServer.
type testUser struct {
	ID     uint64
	Email  string
	Token  string
	CSRF   string
	Cookie *http.Cookie
}

// Subject is the user's policy subject.
func (u testUser) Subject() string { return rbac.UserSubject(u.ID) }

const testPassword = "correct horse battery"

var userSeq atomic.Int64

func mustModel(t testing.TB) *rbac.Model {
	t.Helper()
	m, err := rbac.LoadModel("../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustSeedPolicy(t testing.TB, m *rbac.Model) []rbac.CSVRule {
	t.Helper()
	f, err := os.Open("../policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rules, err := rbac.ParseCSV(f, m)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// newTestServer starts the API with cfg changed by opts, bootstrapped with
// the seed policy and a signed-in admin.
func newTestServer(t *testing.T, opts ...func(*Config)) *testServer {
	t.Helper()
	db, err := bolt.Open(t.TempDir()+"/gatehouse.db", bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Check(); err != nil {
			t.Errorf("database check: %v", err)
		}
		db.Close()
	})
	m := mustModel(t)
	authz, err := rbac.New(context.Background(), db, m)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.CookieSecure = false
	cfg.HashConcurrency = 4
	// Every request of these tests comes from one loopback address: limits
	// high enough that only the tests of rate limiting (which set their own)
	// ever meet them.
	cfg.RateLimit, cfg.LoginRateLimit = "100000-M", "10000-M"
	for _, o := range opts {
		o(&cfg)
	}
	logs := &syncBuffer{}
	var w io.Writer = logs
	if testing.Verbose() {
		w = io.MultiWriter(logs, os.Stderr)
	}
	srv, err := NewServer(slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})), cfg, db, authz)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Bootstrap(context.Background(), mustSeedPolicy(t, m), "admin@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: srv, t: t, http: httptest.NewServer(srv), logs: logs}
	t.Cleanup(ts.http.Close)
	t.Cleanup(srv.Close)
	ts.admin = ts.login("admin@example.com", testPassword)
	return ts
}

// mustUser creates a user holding roles and in groups, and signs them in.
func (ts *testServer) mustUser(roles []string, groups ...string) testUser {
	ts.t.Helper()
	email := "user" + itoa(userSeq.Add(1)) + "@example.com"
	u, err := ts.CreateUser(context.Background(), email, "Test User", testPassword, roles)
	if err != nil {
		ts.t.Fatal(err)
	}
	for _, g := range groups {
		ts.mustRule("g", rbac.UserSubject(u.ID), "group:"+g)
	}
	return ts.login(email, testPassword)
}

// mustRule adds a rule through the authorizer.
func (ts *testServer) mustRule(typ string, values ...string) store.Rule {
	ts.t.Helper()
	var r store.Rule
	err := ts.authz.Mutate(context.Background(), func(tx store.Tx) error {
		var err error
		r, err = ts.authz.AddRule(tx, typ, values)
		return err
	})
	if err != nil {
		ts.t.Fatal(err)
	}
	return r
}

func (ts *testServer) login(email, password string) testUser {
	ts.t.Helper()
	var out api.LoginResponse
	resp := ts.do(http.MethodPost, "/api/auth/login", nil, api.LoginRequest{Email: email, Password: password}, &out)
	if resp.StatusCode != http.StatusOK {
		ts.t.Fatalf("login %s: status %d", email, resp.StatusCode)
	}
	u := testUser{Email: email, Token: out.Token, CSRF: out.CSRFToken}
	u.ID, _ = store.ParseID(out.User.ID)
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			u.Cookie = c
		}
	}
	return u
}

// do sends a request as u (nil: anonymous, with a Bearer token otherwise),
// decodes a JSON answer into out when given, and returns the response with
// its body read.
func (ts *testServer) do(method, path string, u *testUser, body any, out any) *http.Response {
	ts.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			ts.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, ts.http.URL+path, rd)
	if err != nil {
		ts.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if u != nil {
		req.Header.Set("Authorization", "Bearer "+u.Token)
	}
	return ts.send(req, out)
}

func (ts *testServer) send(req *http.Request, out any) *http.Response {
	ts.t.Helper()
	resp, err := ts.http.Client().Do(req)
	if err != nil {
		ts.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		ts.t.Fatal(err)
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			ts.t.Fatalf("%s %s: decode %q: %v", req.Method, req.URL.Path, data, err)
		}
	}
	return resp
}

// errorCode returns the error code of an answer's JSON body, "" if none.
func errorCode(t testing.TB, resp *http.Response) string {
	t.Helper()
	var e api.Error
	data, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if len(data) == 0 {
		return ""
	}
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("answer is not JSON: %q", data)
	}
	return e.Code
}

// expect asserts the exact status and error code ("" for success).
func expect(t testing.TB, resp *http.Response, status int, code string) {
	t.Helper()
	got := errorCode(t, resp)
	if resp.StatusCode != status || got != code {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: got %d %q, want %d %q; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, got, status, code, body)
	}
}

func itoa(n int64) string { return store.FormatID(uint64(n)) }
