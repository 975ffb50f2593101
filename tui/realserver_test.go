package tui

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/rbac/rbactest"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// The tests in this file run the console against the real Echo app on a
// temp bbolt file, with the shipped model and seed policy. They cover what
// the server on this branch already serves (sign-in, who am I, refusals);
// the section tests use the fake of fakeserver_test.go for the rest of the
// admin API.

const realPassword = "correct horse battery"

// realServer is the real API with a first admin, admin@example.com.
type realServer struct {
	url   string
	srv   *app.Server
	authz *rbac.Authorizer
	// db is the server's database, for data the server would not write
	// today (left by an older version).
	db store.Store
}

func newRealServer(t *testing.T) *realServer {
	t.Helper()
	db, err := bolt.Open(t.TempDir()+"/gatehouse.db", bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	model, seed := rbactest.MustSeed(t, "..")
	authz, err := rbac.New(context.Background(), db, model)
	if err != nil {
		t.Fatal(err)
	}
	cfg := app.DefaultConfig()
	cfg.CookieSecure = false
	cfg.HashConcurrency = 2
	srv, err := app.NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), cfg, db, authz)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Bootstrap(context.Background(), seed, "admin@example.com", realPassword); err != nil {
		t.Fatal(err)
	}
	// Served as the program serves, so that the auth-failure log is
	// written too.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx, l)
	}()
	t.Cleanup(func() { stop(); <-done })
	return &realServer{url: "http://" + l.Addr().String(), srv: srv, authz: authz, db: db}
}

// mustUser creates a user with roles, in groups.
func (rs *realServer) mustUser(t *testing.T, email string, roles []string, groups ...string) {
	t.Helper()
	u, err := rs.srv.CreateUser(context.Background(), email, "Test User", realPassword, roles)
	if err != nil {
		t.Fatal(err)
	}
	err = rs.authz.Mutate(context.Background(), func(tx store.Tx) error {
		for _, g := range groups {
			if _, err := rs.authz.AddRule(tx, "g", []string{rbac.UserSubject(u.ID), "group:" + g}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// mustSignIn types email and password into m's sign-in form.
func mustSignIn(t *testing.T, m *Model, email, password string) {
	t.Helper()
	typeText(t, m, email)
	press(t, m, "enter")
	typeText(t, m, password)
	press(t, m, "enter")
}

func TestRealServerSignIn(t *testing.T) {
	t.Parallel()
	rs := newRealServer(t)
	m := newModel(newClient(rs.url, ""), testClock(), false, "")
	m.Update(windowSize(80, 24))
	mustSignIn(t, m, "admin@example.com", "not the password")
	if m.signIn == nil || m.signIn.form.err != "Wrong email, password or code." {
		t.Fatalf("a wrong password: %+v", m.signIn)
	}
	press(t, m, "backspace")
	for range len("not the password") {
		press(t, m, "backspace")
	}
	typeText(t, m, realPassword)
	press(t, m, "enter")
	if m.signIn != nil {
		t.Fatalf("still signing in: %q", m.signIn.form.err)
	}
	if m.acc.me.Email != "admin@example.com" || m.acc.role() != "admin" || len(m.visible) != 5 {
		t.Errorf("signed in as %q (%s) with %d sections, want the admin with five", m.acc.me.Email, m.acc.role(), len(m.visible))
	}
}

// A member of auditors signed in sees the logs only: the console decides
// from the roles and groups the server reports, and the server's refusal of
// the admin API confirms it.
func TestRealServerAuditor(t *testing.T) {
	t.Parallel()
	rs := newRealServer(t)
	rs.mustUser(t, "audrey@example.com", []string{"user"}, "auditors")
	m := newModel(newClient(rs.url, ""), testClock(), false, "")
	m.Update(windowSize(80, 24))
	mustSignIn(t, m, "audrey@example.com", realPassword)
	if m.signIn != nil {
		t.Fatalf("still signing in: %q", m.signIn.form.err)
	}
	if !slices.Equal(m.acc.me.Groups, []string{"auditors"}) {
		t.Errorf("me.groups = %v, want [auditors]", m.acc.me.Groups)
	}
	if m.acc.role() != "read-only" {
		t.Error("the auditor is taken for an admin")
	}
	if got := titles(m); !slices.Equal(got, []string{"Auth failures", "Audit"}) {
		t.Errorf("sections = %v, want the two logs", got)
	}
	// Signing in tried no admin route: the failure log holds no refusal of
	// the auditor. A failure made after it shows the log is written.
	admin := newClient(rs.url, "")
	if _, err := admin.Login(context.Background(), api.LoginRequest{Email: "admin@example.com", Password: realPassword}); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(rs.url + "/api/notes/sentinel")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	all := waitForFailure(t, admin, "/api/notes/sentinel")
	for _, f := range all {
		if f.Status == http.StatusForbidden {
			t.Errorf("the auditor's sign-in left a refusal: %+v", f)
		}
	}
}

// waitForFailure waits, within a bound, until the failure log holds a
// failure of path, and returns the log's newest page.
func waitForFailure(t *testing.T, c *api.Client, path string) []api.AuthFailure {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := c.ListAuthFailures(context.Background(), api.ListOptions{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(l.Items, func(f api.AuthFailure) bool { return f.Path == path }) {
			return l.Items
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failure of %s recorded within 10s", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A read-only token shows what it is and offers no edit: the keys that
// would change something do nothing and send nothing.
func TestRealServerReadOnlyToken(t *testing.T) {
	t.Parallel()
	rs := newRealServer(t)
	admin := newClient(rs.url, "")
	if _, err := admin.Login(context.Background(), api.LoginRequest{Email: "admin@example.com", Password: realPassword}); err != nil {
		t.Fatal(err)
	}
	in, _ := json.Marshal(api.CreateTokenRequest{Name: "console", ReadOnly: true, Password: realPassword})
	body := strings.NewReader(string(in))
	req, _ := http.NewRequest("POST", rs.url+"/api/auth/tokens", body)
	req.Header.Set("Authorization", "Bearer "+admin.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok api.CreatedToken
	err = json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("token: %d %v", res.StatusCode, err)
	}
	m := newModel(newClient(rs.url, tok.Secret), testClock(), false, "")
	m.Update(windowSize(100, 30))
	drive(t, m, m.Init())
	view := screen(m)
	if !strings.Contains(view, "admin@example.com (read-only)") || len(m.visible) != 5 {
		t.Fatalf("a read-only token's console:\n%s", view)
	}
	for _, k := range []string{"n", "d", "r", "g", "s"} {
		press(t, m, k)
		if m.form != nil || m.question != nil {
			t.Errorf("%s opened a dialog for a read-only token", k)
			m.form, m.question = nil, nil
		}
	}
	if strings.Contains(screen(m), "new user") {
		t.Errorf("the help offers edits:\n%s", screen(m))
	}
}

// A change to one's own account asks first, and says so.
func TestRealServerOwnAccountWarns(t *testing.T) {
	t.Parallel()
	rs := newRealServer(t)
	m := newModel(newClient(rs.url, ""), testClock(), false, "")
	m.Update(windowSize(100, 30))
	mustSignIn(t, m, "admin@example.com", realPassword)
	press(t, m, "o") // end sessions, on the first row: the admin
	if m.question == nil || !strings.HasPrefix(m.question.prompt, "This is your own account.") {
		t.Fatalf("ending one's own sessions: %+v", m.question)
	}
	press(t, m, "n", "g")
	typeText(t, m, "staff")
	press(t, m, "enter")
	if m.question == nil || !strings.HasPrefix(m.question.prompt, "This is your own account. Put yourself in group staff?") {
		t.Fatalf("joining a group oneself: %+v", m.question)
	}
}

func TestRealServerRefusesBadToken(t *testing.T) {
	t.Parallel()
	rs := newRealServer(t)
	m := newModel(newClient(rs.url, "not-a-token"), testClock(), false, "")
	m.Update(windowSize(80, 24))
	drive(t, m, m.Init())
	if m.signIn == nil || m.signIn.form.err == "" {
		t.Fatalf("a bad token did not bring the sign-in form with a reason: %+v", m.signIn)
	}
}

// The groups section shows every group, not only the first page the API
// answers with, and puts emails on members beyond the first page of users.
func TestRealServerGroupsBeyondOnePage(t *testing.T) {
	t.Parallel()
	rs := newRealServer(t)
	const extra = 130 // with the seed's staff and auditors: two pages of 100
	err := rs.authz.Mutate(context.Background(), func(tx store.Tx) error {
		for i := range extra {
			if err := tx.Groups().Create(&store.Group{Name: fmt.Sprintf("team-%03d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(newClient(rs.url, ""), testClock(), false, "")
	m.Update(windowSize(100, 30))
	mustSignIn(t, m, "admin@example.com", realPassword)
	press(t, m, "2")
	if want := "100 shown of 100+ groups"; !strings.Contains(m.View(), want) {
		t.Fatalf("the first page does not say %q:\n%s", want, m.View())
	}
	press(t, m, "end") // near the end of what is loaded: the next page comes
	if want := fmt.Sprintf("%d shown of %d groups", extra+2, extra+2); !strings.Contains(m.View(), want) {
		t.Fatalf("the groups section does not say %q:\n%s", want, m.View())
	}
}

// A change the server refuses keeps its form open, with what was typed and
// the refused field marked.
func TestRealServerFormStaysOpenOnRefusal(t *testing.T) {
	t.Parallel()
	rs := newRealServer(t)
	m := newModel(newClient(rs.url, ""), testClock(), false, "")
	m.Update(windowSize(100, 30))
	mustSignIn(t, m, "admin@example.com", realPassword)
	press(t, m, "n")
	typeText(t, m, "eve@example.com")
	press(t, m, "tab", "tab")
	typeText(t, m, "short")
	press(t, m, "enter", "enter", "enter")
	if m.form == nil {
		t.Fatal("the form closed on a refusal")
	}
	if v := m.form.values(); v[0] != "eve@example.com" || v[2] != "short" {
		t.Errorf("what was typed is lost: %q", v)
	}
	if !m.form.fields[2].bad || m.form.fields[0].bad || m.form.focus != 2 {
		t.Errorf("marked fields: email %v password %v, focus %d", m.form.fields[0].bad, m.form.fields[2].bad, m.form.focus)
	}
	if !strings.Contains(m.form.err, "password:") || !strings.Contains(screen(m), "✗") {
		t.Errorf("form error %q:\n%s", m.form.err, screen(m))
	}
}

// Two consoles describe one group from the same read: the second is
// refused (412), reads the group again and says what changed.
func TestRealServerGroupConflict(t *testing.T) {
	t.Parallel()
	rs := newRealServer(t)
	consoles := make([]*Model, 2)
	for i := range consoles {
		m := newModel(newClient(rs.url, ""), testClock(), false, "")
		m.Update(windowSize(100, 30))
		mustSignIn(t, m, "admin@example.com", realPassword)
		press(t, m, "2")
		consoles[i] = m
	}
	a, b := consoles[0], consoles[1]
	row := func(m *Model) int {
		return slices.IndexFunc(m.groups.shown, func(g api.Group) bool { return g.Name == "staff" })
	}
	for _, m := range consoles {
		for range row(m) {
			press(t, m, "down")
		}
	}
	describe := func(m *Model, text string) {
		t.Helper()
		press(t, m, "e", "ctrl+u")
		typeText(t, m, text)
		press(t, m, "enter")
	}
	describe(a, "edit every note")
	if !a.noticeOK {
		t.Fatalf("a: %q", a.notice)
	}
	describe(b, "editors")
	want := `group staff changed meanwhile (description "" → "edit every note")`
	if b.noticeOK || !strings.HasPrefix(b.notice, want) || b.form != nil {
		t.Fatalf("b: notice %q, form %v; want %q", b.notice, b.form != nil, want)
	}
	g, err := newClient(rs.url, b.client.Token).GetGroup(context.Background(), "staff")
	if err != nil || g.Description != "edit every note" {
		t.Fatalf("staff after the refusal: %+v %v", g, err)
	}
	if got := b.groups.shown[row(b)].Description; got != "edit every note" {
		t.Errorf("b shows %q after the refusal, want the description read again", got)
	}
}
