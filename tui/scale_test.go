package tui

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/cmd/gatehouse-bench/benchdb"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// The tests in this file run the console against the real server on a
// database of 20,000 users and 40,755 rules made by the benchmark's
// generator, once per test binary; each test runs its own server on it,
// with the default rate limits.

const scaleUsers = 20_000

// scaleEnv is a real server on the generated database.
type scaleEnv struct {
	url      string
	password string // every generated user's; user 1 is an admin
	requests atomic.Int64
}

var (
	scaleRuns atomic.Int64
	scaleOnce sync.Once
	scaleDB   struct {
		path, password string
		err            error
	}
	scaleDir string
	// scaleMu gives one test at a time the database file: each test runs
	// its own server (its own rate limiter) on it.
	scaleMu sync.Mutex
)

// mustScale starts a server on the 20,000-user database, built on the first
// call, for the test; it stops when the test ends.
func mustScale(t *testing.T) *scaleEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("the 20,000-user database takes a few seconds to build: skipped with -short")
	}
	scaleOnce.Do(func() { scaleDB.path, scaleDB.password, scaleDB.err = generateScale() })
	if scaleDB.err != nil {
		t.Fatal(scaleDB.err)
	}
	scaleMu.Lock()
	t.Cleanup(scaleMu.Unlock)
	e := &scaleEnv{password: scaleDB.password}
	ctx := context.Background()
	db, err := bolt.Open(scaleDB.path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	model, err := rbac.LoadModel("../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	authz, err := rbac.New(ctx, db, model)
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.DefaultConfig() // the default rate limit: the console must stay inside it
	cfg.CookieSecure = false
	srv, err := app.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, db, authz)
	if err != nil {
		t.Fatal(err)
	}
	// Served as the real program serves, so that the auth-failure writer
	// runs too.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(serveCtx, l)
	}()
	t.Cleanup(func() { stop(); <-done })
	e.url = "http://" + l.Addr().String()
	return e
}

// generateScale builds the database once per test binary.
func generateScale() (path, password string, err error) {
	scaleDir, err = os.MkdirTemp("", "gatehouse-scale-")
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(scaleDir, "gatehouse.db")
	g, err := benchdb.Generate(context.Background(), benchdb.Options{DB: path, Model: "../model.conf", Policy: "../policy.csv", Users: scaleUsers})
	if err != nil {
		return "", "", err
	}
	return path, g.Password, nil
}

// countingTransport counts the requests a console sends.
type countingTransport struct{ n *atomic.Int64 }

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// stopScale removes the generated database.
func stopScale() {
	if scaleDir != "" {
		os.RemoveAll(scaleDir)
	}
}

// console is a console of the scale server signed in as user 1, with the
// requests it took.
func (e *scaleEnv) console(t *testing.T) (*Model, int64) {
	t.Helper()
	client := newClient(e.url, "")
	client.HTTP = &http.Client{Transport: countingTransport{n: &e.requests}}
	m := newModel(client, testClock(), false, "")
	m.Update(windowSize(120, 40))
	before := e.requests.Load()
	mustSignIn(t, m, benchdb.Email(1), e.password)
	if m.signIn != nil {
		t.Fatalf("still signing in: %q", m.signIn.form.err)
	}
	return m, e.requests.Load() - before
}

// search types q into the shown section's filter and asks the server.
func search(t *testing.T, m *Model, q string) {
	t.Helper()
	press(t, m, "/")
	typeText(t, m, q)
	press(t, m, "enter")
}

// The first screen costs a request per section and two for signing in;
// "/" finds the last users on the server, the totals are true, and the
// last page is reachable by moving down.
func TestScaleSearchAndPages(t *testing.T) {
	e := mustScale(t)
	start := time.Now()
	m, cost := e.console(t)
	t.Logf("first screen at %d users: %d requests, %v", scaleUsers, cost, time.Since(start))
	if cost > 7 {
		t.Errorf("the first screen took %d requests, want at most 7 (login, me, five first pages)", cost)
	}
	view := screen(m)
	if !strings.Contains(view, fmt.Sprintf("100 shown of %d users", scaleUsers)) {
		t.Fatalf("the users section does not give the true total:\n%s", view)
	}
	before := e.requests.Load()
	search(t, m, "user19999@")
	if got := e.requests.Load() - before; got != 1 {
		t.Errorf("a search took %d requests, want 1", got)
	}
	if len(m.users.shown) != 1 || m.users.shown[0].Email != "user19999@bench.test" {
		t.Fatalf("/user19999@ shows %d users: %+v", len(m.users.shown), m.users.shown)
	}
	if view := screen(m); !strings.Contains(view, `1 shown of 1 user matching "user19999@"`) {
		t.Errorf("the search's status:\n%s", view)
	}
	press(t, m, "esc")
	if m.users.users.filter["q"] != "" || !strings.Contains(screen(m), fmt.Sprintf("of %d users", scaleUsers)) {
		t.Fatalf("esc did not go back to every user:\n%s", screen(m))
	}

	// The rules: no cheap count on the server, so "N+" until the end.
	press(t, m, "3")
	if view := screen(m); !strings.Contains(view, "100 shown of 100+ rules") {
		t.Errorf("the policies section:\n%s", view)
	}
	press(t, m, "1")
	before = e.requests.Load()
	for range scaleUsers/pageSize + 5 {
		press(t, m, "end")
		if m.users.users.next == "" {
			break
		}
	}
	pages := e.requests.Load() - before
	if last := m.users.shown[len(m.users.shown)-1]; last.Email != benchdb.Email(scaleUsers) || len(m.users.shown) != scaleUsers {
		t.Fatalf("after paging down: %d users, the last %s", len(m.users.shown), last.Email)
	}
	if pages != scaleUsers/pageSize-1 {
		t.Errorf("paging to the end took %d requests, want %d (one per page)", pages, scaleUsers/pageSize-1)
	}
	if view := screen(m); !strings.Contains(view, fmt.Sprintf("%d shown of %d users", scaleUsers, scaleUsers)) {
		t.Errorf("at the end:\n%s", view)
	}
}

// Two consoles edit one user's groups and roles from the same read: group
// changes are sent one membership at a time, so both stay; the second role
// change is refused (412), the console reads the user again and says what
// changed, and the change made again keeps both.
func TestScaleTwoConsolesEditOneUser(t *testing.T) {
	e := mustScale(t)
	a, _ := e.console(t)
	b, _ := e.console(t)
	// A user of its own for each run (go test -count=N shares the database).
	n := 19998 - int(scaleRuns.Add(1))
	id := fmt.Sprint(n)
	for _, m := range []*Model{a, b} {
		search(t, m, "user"+id+"@")
		if len(m.users.shown) != 1 || m.users.shown[0].ID != id {
			t.Fatalf("search found %+v", m.users.shown)
		}
	}
	orig := a.users.shown[0]

	editGroups := func(m *Model, add string) {
		t.Helper()
		press(t, m, "g")
		press(t, m, "end")
		typeText(t, m, ", "+add)
		press(t, m, "enter")
		if m.form != nil || m.question != nil {
			t.Fatalf("the groups form is still open: %+v %+v", m.form, m.question)
		}
	}
	editGroups(a, "g1")
	editGroups(b, "g2") // b still shows the user without g1
	client := newClient(e.url, a.client.Token)
	u, err := client.GetUser(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range []string{"g1", "g2"} {
		if !slices.Contains(u.Groups, g) {
			t.Errorf("groups after both edits: %v, lost %s", u.Groups, g)
		}
	}
	for _, g := range orig.Groups {
		if !slices.Contains(u.Groups, g) {
			t.Errorf("groups after both edits: %v, lost %s", u.Groups, g)
		}
	}

	// Roles: a's change goes through; b's, made from what b read before
	// a's change landed, is refused and b is told what changed.
	press(t, a, "R") // both read the user as it is now
	press(t, b, "R")
	editRoles := func(m *Model, add string) {
		t.Helper()
		press(t, m, "r", "end")
		typeText(t, m, ", "+add)
		press(t, m, "enter")
	}
	editRoles(a, "editor")
	editRoles(b, "auditor")
	if b.noticeOK || !strings.Contains(b.notice, benchdb.Email(n)+" changed meanwhile (roles") {
		t.Fatalf("b's notice = %q, want what changed", b.notice)
	}
	if !slices.Contains(b.users.shown[0].Roles, "editor") {
		t.Errorf("b does not show a's role after the refusal: %v", b.users.shown[0].Roles)
	}
	editRoles(b, "auditor")
	if !b.noticeOK {
		t.Fatalf("b's second try: %q", b.notice)
	}
	u, err = client.GetUser(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(u.Roles, "editor") || !slices.Contains(u.Roles, "auditor") {
		t.Errorf("roles after both edits: %v, want editor and auditor", u.Roles)
	}
}

// A session ended from the API brings the sign-in form back at the next
// request; signed in again, the console is where it was: same section,
// same search, the cursor on the same user.
func TestScaleSessionEndedKeepsPlace(t *testing.T) {
	e := mustScale(t)
	m, _ := e.console(t)
	search(t, m, "user1999")
	press(t, m, "down", "down", "down")
	want := m.users.pane.cursorKey()
	if want == "" {
		t.Fatal("no user under the cursor")
	}
	// The admin's sessions end elsewhere (this ends the API client's too).
	other := newClient(e.url, "")
	if _, err := other.Login(context.Background(), api.LoginRequest{Email: benchdb.Email(1), Password: e.password}); err != nil {
		t.Fatal(err)
	}
	if err := other.EndSessions(context.Background(), "1"); err != nil {
		t.Fatal(err)
	}
	press(t, m, "R")
	if m.signIn == nil {
		t.Fatalf("a 401 did not bring the sign-in form:\n%s", screen(m))
	}
	if !strings.Contains(m.signIn.form.err, "Your session ended") || m.signIn.form.values()[0] != benchdb.Email(1) {
		t.Errorf("sign-in form: %q, email %q", m.signIn.form.err, m.signIn.form.values()[0])
	}
	typeText(t, m, e.password)
	press(t, m, "enter")
	if m.signIn != nil {
		t.Fatalf("signing in again: %q", m.signIn.form.err)
	}
	if m.visible[m.active] != section(m.users) || m.users.pane.filter.Value() != "user1999" || m.users.users.filter["q"] != "user1999" {
		t.Errorf("after signing in again: section %s, filter %q", m.visible[m.active].title(), m.users.pane.filter.Value())
	}
	if got := m.users.pane.cursorKey(); got != want {
		t.Errorf("the cursor is on user %s, want %s", got, want)
	}
}

// The live tail keeps its cursor on the same record while new failures
// arrive above it, and fills in after a reconnect what happened while
// the stream was away, from the list route.
func TestScaleTailCursorStaysOnItsRecord(t *testing.T) {
	e := mustScale(t)
	m, _ := e.console(t)
	client := newClient(e.url, m.client.Token)
	// Each failure on a route of its own, so that none folds into another.
	routes := []string{"/api/notes", "/api/notes/1", "/api/auth/me", "/api/auth/tokens", "/api/admin/users",
		"/api/admin/groups", "/api/admin/policies", "/api/admin/audit", "/api/admin/routes"}
	next := 0
	newest := func() int {
		t.Helper()
		l, err := client.ListAuthFailures(context.Background(), api.ListOptions{Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) == 0 {
			return 0
		}
		id, _ := strconv.Atoi(l.Items[0].ID)
		return id
	}
	fail := func(n int) []string {
		t.Helper()
		before := newest()
		var paths []string
		for range n {
			path := routes[next]
			next++
			req, _ := http.NewRequest("GET", e.url+path, nil)
			req.Header.Set("Authorization", "Bearer not-a-token")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			paths = append(paths, path)
		}
		// The log records in the background: wait, within a bound, until
		// the list route holds them.
		deadline := time.Now().Add(10 * time.Second)
		for {
			l, err := client.ListAuthFailures(context.Background(), api.ListOptions{Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			found := map[string]bool{}
			for _, f := range l.Items {
				if id, _ := strconv.Atoi(f.ID); id > before && slices.Contains(paths, f.Path) {
					found[f.Path] = true
				}
			}
			if len(found) == len(paths) {
				return paths
			}
			if time.Now().After(deadline) {
				t.Fatalf("the failures of %v were not recorded within 10s", paths)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	fail(3)
	press(t, m, "4", "R")
	if len(m.failures.shown) < 3 {
		t.Fatalf("%d failures shown", len(m.failures.shown))
	}
	press(t, m, "down")
	want := m.failures.pane.cursorKey()
	// The stream goes live, and new failures arrive through it.
	m.Update(streamMsg{state: &streamState{phase: streamLive}})
	fail(2)
	l, err := client.ListAuthFailures(context.Background(), api.ListOptions{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := len(l.Items) - 1; i >= 0; i-- {
		f := l.Items[i]
		m.Update(streamMsg{failure: &f})
	}
	if got := m.failures.pane.cursorKey(); got != want {
		t.Fatalf("the cursor moved from record %s to %s as failures arrived", want, got)
	}
	press(t, m, "enter")
	if v := screen(m); !strings.Contains(v, "Auth failure "+want) {
		t.Fatalf("enter opened another record:\n%s", v)
	}
	press(t, m, "esc")

	// The stream breaks; failures happen meanwhile; it comes back.
	m.Update(streamMsg{state: &streamState{phase: streamRetrying, retryIn: 4 * time.Second}})
	fail(3)
	missed, err := client.ListAuthFailures(context.Background(), api.ListOptions{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	_, cmd := m.Update(streamMsg{state: &streamState{phase: streamLive}})
	drive(t, m, cmd)
	for _, f := range missed.Items {
		if !slices.ContainsFunc(m.failures.items, func(g api.AuthFailure) bool { return g.ID == f.ID }) {
			t.Errorf("failure %s of the break is missing after the reconnect", f.ID)
		}
	}
	if got := m.failures.pane.cursorKey(); got != want {
		t.Errorf("after the reconnect the cursor is on %s, want %s", got, want)
	}
}

// A member is added by email even when the user is far beyond what the
// console has loaded: the email is looked up on the server.
func TestScaleAddMemberByEmail(t *testing.T) {
	e := mustScale(t)
	m, _ := e.console(t)
	press(t, m, "2", "enter") // the first group's members
	group := m.groups.members.group
	email := benchdb.Email(19990 - int(scaleRuns.Add(1)))
	press(t, m, "a")
	typeText(t, m, email)
	press(t, m, "enter")
	if !m.noticeOK || !strings.HasPrefix(m.notice, "added user ") {
		t.Fatalf("notice %q", m.notice)
	}
	u, err := newClient(e.url, m.client.Token).ListUsers(context.Background(), api.ListOptions{Filter: map[string]string{"q": email}})
	if err != nil || len(u.Items) != 1 || !slices.Contains(u.Items[0].Groups, group) {
		t.Fatalf("%s after adding to %s: %+v %v", email, group, u.Items, err)
	}
	if !slices.Contains(m.groups.members.ids, u.Items[0].ID) {
		t.Errorf("the members pane does not list user %s", u.Items[0].ID)
	}
}
