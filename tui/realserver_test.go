package tui

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/rbac"
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
	model, err := rbac.LoadModel("../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seed, err := rbac.ParseCSV(f, model)
	if err != nil {
		t.Fatal(err)
	}
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
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	t.Cleanup(srv.Close)
	return &realServer{url: hs.URL, srv: srv, authz: authz, db: db}
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
	if m.me.Email != "admin@example.com" || !m.admin || len(m.visible) != 5 {
		t.Errorf("signed in as %q admin=%v with %d sections, want the admin with five", m.me.Email, m.admin, len(m.visible))
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
	if !slices.Equal(m.me.Groups, []string{"auditors"}) {
		t.Errorf("me.groups = %v, want [auditors]", m.me.Groups)
	}
	if m.admin {
		t.Error("the auditor is taken for an admin")
	}
	if got := titles(m); !slices.Equal(got, []string{"Auth failures", "Audit"}) {
		t.Errorf("sections = %v, want the two logs", got)
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
	if want := fmt.Sprintf("%d of %d groups", extra+2, extra+2); !strings.Contains(m.View(), want) {
		t.Fatalf("the groups section does not say %q:\n%s", want, m.View())
	}
}
