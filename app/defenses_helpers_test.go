package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// liveServer is a gatehouse server running with Serve on a loopback port,
// over a bbolt file in a temp folder, with the shipped model and policy.
type liveServer struct {
	srv  *Server
	db   *bolt.DB
	url  string
	logs *logCapture
	http *http.Client
	// stop ends Serve and waits for it (the final flush included); it is
	// also run at cleanup.
	stop func() error
}

// logCapture keeps the server's log lines for assertions.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// count is how many lines hold every one of parts.
func (l *logCapture) count(parts ...string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for line := range strings.Lines(l.buf.String()) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			n++
		}
	}
	return n
}

func (l *logCapture) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newBareServer builds a server over a fresh database with the seed policy,
// without serving it.
func newBareServer(t *testing.T, configure func(*Config)) (*Server, *bolt.DB, *logCapture) {
	t.Helper()
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	model := mustModel(t)
	seed := mustSeedPolicy(t, model)
	authz, err := rbac.New(ctx, db, model)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authz.Seed(ctx, seed); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.CookieSecure = false
	cfg.HashConcurrency = 2
	// Longer than net/http's 5 s grace for connections that never sent a
	// request: with the two equal, Shutdown could time out waiting for such
	// a connection just as the grace closed it, and Serve fail at random.
	cfg.ShutdownTimeout = 20 * time.Second
	if configure != nil {
		configure(&cfg)
	}
	logs := &logCapture{}
	srv, err := NewServer(slog.New(slog.NewJSONHandler(logs, nil)), cfg, db, authz)
	if err != nil {
		t.Fatal(err)
	}
	return srv, db, logs
}

// mustLiveServer starts a server with Serve on a loopback port. The
// test's loopback address 127.0.0.1 is a trusted proxy unless configure
// says otherwise, so that tests speak for many clients through
// X-Forwarded-For.
func mustLiveServer(t *testing.T, configure func(*Config)) *liveServer {
	t.Helper()
	srv, db, logs := newBareServer(t, func(c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		if configure != nil {
			configure(c)
		}
	})
	return serveLive(t, srv, db, logs)
}

// serveLive runs Serve for srv on a loopback port until the test ends (a
// test may also stop it early, and measure the process between building
// the server and serving it).
func serveLive(t *testing.T, srv *Server, db *bolt.DB, logs *logCapture) *liveServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveLiveOn(t, srv, db, logs, l)
}

// serveLiveOn is serveLive on a listener of the test's making.
func serveLiveOn(t *testing.T, srv *Server, db *bolt.DB, logs *logCapture, l net.Listener) *liveServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	var once sync.Once
	var serveErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-done:
			case <-time.After(30 * time.Second):
				serveErr = errors.New("Serve did not return within 30s of shutdown")
			}
		})
		return serveErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &liveServer{
		srv: srv, db: db, url: "http://" + l.Addr().String(), logs: logs, stop: stop,
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
}

// mustUser creates a user holding roles, without a password (no hashing:
// the user cannot log in), and a login session; it returns the user and
// the session's secret.
func mustUser(t *testing.T, srv *Server, email string, roles ...string) (store.User, string) {
	t.Helper()
	ctx := context.Background()
	u := store.User{Email: email, Name: email}
	err := srv.authz.Mutate(ctx, func(tx store.Tx) error {
		if err := tx.Users().Create(&u); err != nil {
			return err
		}
		for _, r := range roles {
			if _, err := srv.authz.AddRule(tx, "g", []string{rbac.UserSubject(u.ID), "role:" + r}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := srv.startSession(ctx, u, false)
	if err != nil {
		t.Fatal(err)
	}
	return u, secret
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
	err    api.Error // decoded when the body is a JSON error
}

// request describes one call: headers are "Name: value" strings.
type request struct {
	method, path, body string
	headers            []string
}

func (ls *liveServer) do(t *testing.T, r request) answer {
	t.Helper()
	a, err := ls.try(r)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// try is do for goroutines other than the test's.
func (ls *liveServer) try(r request) (answer, error) {
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	method := r.method
	if method == "" {
		method = http.MethodGet
	}
	req, err := http.NewRequest(method, ls.url+r.path, body)
	if err != nil {
		return answer{}, err
	}
	if r.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range r.headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := ls.http.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, header: resp.Header, body: b}
	if resp.StatusCode >= 400 && len(b) > 0 {
		if err := json.Unmarshal(b, &a.err); err != nil {
			return a, errors.New("error answer is not JSON: " + string(b))
		}
	}
	return a, nil
}

// wantError fails unless a is the error status with code.
func wantError(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.err.Code != code {
		t.Fatalf("got %d %q (%s), want %d %q", a.status, a.err.Code, a.body, status, code)
	}
	if a.err.RequestID == "" || a.err.RequestID != a.header.Get("X-Request-ID") {
		t.Fatalf("error request_id %q, header %q", a.err.RequestID, a.header.Get("X-Request-ID"))
	}
}

func wantStatus(t *testing.T, a answer, status int) {
	t.Helper()
	if a.status != status {
		t.Fatalf("got %d (%s), want %d", a.status, a.body, status)
	}
}

// flush waits until every failure noted so far is stored.
func (ls *liveServer) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ls.srv.FlushAuthFailures(ctx); err != nil {
		t.Fatal(err)
	}
}

// failures lists every stored record of ip, newest first.
func (ls *liveServer) failures(t *testing.T, ip string) []store.AuthFailure {
	t.Helper()
	var out []store.AuthFailure
	err := ls.db.View(context.Background(), func(tx store.Tx) error {
		p := store.Page{Limit: 1000}
		var only store.FailureFilter
		if ip != "" {
			a := netip.MustParseAddr(ip)
			only.Within = netip.PrefixFrom(a, a.BitLen())
		}
		for {
			recs, next, err := tx.Failures().List(only, p)
			if err != nil {
				return err
			}
			out = append(out, recs...)
			if next == "" {
				return nil
			}
			p.Cursor = next
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// xff is the header a trusted proxy adds for client ip.
func xff(ip string) string { return "X-Forwarded-For: " + ip }

func bearer(secret string) string { return "Authorization: Bearer " + secret }

func cookie(secret string) string { return "Cookie: " + cookieName + "=" + secret }

// serveDirect sends one request straight to the handler, without a
// network: for tests that need no running server.
func serveDirect(t *testing.T, srv *Server, method, path string, headers ...string) answer {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	if rec.Code >= 400 && rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &a.err); err != nil {
			t.Fatalf("error answer is not JSON: %s", rec.Body)
		}
	}
	return a
}
