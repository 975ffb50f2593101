// Package storetest is the conformance suite of the storage contract: every
// backend runs it with one call, on a real database,
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { ... a new, empty store ... })
//	}
//
// It checks every method of the contract, the order of every list and its
// opaque cursors across pages, uniqueness (ErrConflict) and absence
// (ErrNotFound), that a failed transaction leaves nothing behind, and that
// invariants hold under many concurrent writers: a transaction that reads
// what it then changes must behave as if it ran alone (serializable), so
// two admins demoting each other leave one admin, two sign-ups of one email
// make one account, and racing group creation makes one group.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// thing is the owned resource of the suite, stored in two kinds.
type thing struct {
	store.Owned
	Title string `json:"title"`
	Body  string `json:"body,omitempty"`
}

var (
	things  = store.Collection[thing, *thing]{Kind: "things"}
	widgets = store.Collection[thing, *thing]{Kind: "widgets"}
)

// OpenFunc opens a new, empty store for one test. The suite closes it.
type OpenFunc func(t *testing.T) store.Store

// Run runs the whole suite against stores made by open. Every subtest gets
// its own store and may run in parallel with the others.
func Run(t *testing.T, open OpenFunc) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Users", testUsers},
		{"UsersList", testUsersList},
		{"UserIdentities", testUserIdentities},
		{"ConcurrentFirstUse", testConcurrentFirstUse},
		{"UserDeleteCascades", testUserDeleteCascades},
		{"Sessions", testSessions},
		{"SessionsExpired", testSessionsExpired},
		{"Credential", testCredential},
		{"Groups", testGroups},
		{"Rules", testRules},
		{"RulesForEachWhileChanging", testRulesForEachWhileChanging},
		{"RulesVersion", testRulesVersion},
		{"Owned", testNotes},
		{"OwnedKinds", testOwnedKinds},
		{"Audit", testAudit},
		{"Failures", testFailures},
		{"FailuresPrune", testFailuresPrune},
		{"InvalidCursors", testInvalidCursors},
		{"FailedTransactionLeavesNothing", testFailedTransaction},
		{"CancelledContext", testCancelledContext},
		{"ValuesDoNotAlias", testValuesDoNotAlias},
		{"ConcurrentLastAdmin", testConcurrentLastAdmin},
		{"ConcurrentSignUps", testConcurrentSignUps},
		{"ConcurrentGroupCreation", testConcurrentGroupCreation},
		{"ConcurrentWritersKeepCounts", testConcurrentCounts},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

// mustUpdate runs fn in a write transaction and fails the test on error.
func mustUpdate(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.Update(ctx, fn); err != nil {
		t.Fatalf("update: %v", err)
	}
}

// mustView runs fn in a read transaction and fails the test on error.
func mustView(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.View(ctx, fn); err != nil {
		t.Fatalf("view: %v", err)
	}
}

// mustUser creates a user with email and returns it.
func mustUser(t *testing.T, s store.Store, email string) store.User {
	t.Helper()
	u := store.User{Email: email, Name: "Name of " + email, PasswordHash: "hash"}
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Users().Create(&u) })
	return u
}

// wantErr fails the test unless err is target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: %v, want %v", what, err, target)
	}
}

// pageAll reads every page of a list of pageSize items and returns the
// items in the order the pages gave them. It fails after too many pages:
// a cursor that does not advance would loop forever.
func pageAll[T any](t *testing.T, s store.Store, pageSize int, list func(tx store.Tx, p store.Page) ([]T, string, error)) []T {
	t.Helper()
	var all []T
	p := store.Page{Limit: pageSize}
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("more than 1000 pages: the cursor does not advance")
		}
		var items []T
		var next string
		mustView(t, s, func(tx store.Tx) error {
			var err error
			items, next, err = list(tx, p)
			return err
		})
		if len(items) > pageSize {
			t.Fatalf("a page of %d holds %d items", pageSize, len(items))
		}
		all = append(all, items...)
		if next == "" {
			return all
		}
		if len(items) == 0 && pageSize > 0 {
			// Only the failure log may hand out empty pages (its scan is
			// bounded); the others have an item or no cursor.
			var zero T
			if _, ok := any(zero).(store.AuthFailure); !ok {
				t.Fatalf("an empty page with a cursor %q", next)
			}
		}
		p.Cursor = next
	}
}

func ids[T any](items []T, id func(T) uint64) []uint64 {
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func testUsers(t *testing.T, s store.Store) {
	mustView(t, s, func(tx store.Tx) error {
		if any, err := tx.Users().Any(); err != nil || any {
			t.Errorf("empty store: Any = %v, %v", any, err)
		}
		if n, err := tx.Users().Count(); err != nil || n != 0 {
			t.Errorf("empty store: Count = %d, %v", n, err)
		}
		return nil
	})
	before := time.Now().Add(-time.Minute)
	ada := mustUser(t, s, "Ada@Example.com")
	if ada.ID == 0 || ada.CreatedAt.Before(before) || !ada.UpdatedAt.Equal(ada.CreatedAt) {
		t.Fatalf("created user %+v: want an id and both timestamps set", ada)
	}
	bob := mustUser(t, s, "bob@example.com")
	if bob.ID <= ada.ID {
		t.Fatalf("ids %d then %d: want increasing", ada.ID, bob.ID)
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Users().Create(&store.User{Email: " ada@EXAMPLE.com"})
	})
	wantErr(t, "same email in other case", err, store.ErrConflict)

	mustView(t, s, func(tx store.Tx) error {
		got, err := tx.Users().Get(ada.ID)
		if err != nil || got.Email != "Ada@Example.com" || got.Name != ada.Name || got.PasswordHash != "hash" {
			t.Errorf("Get: %+v, %v", got, err)
		}
		got, err = tx.Users().ByEmail("ADA@example.COM")
		if err != nil || got.ID != ada.ID {
			t.Errorf("ByEmail in other case: %+v, %v", got, err)
		}
		_, err = tx.Users().Get(ada.ID + bob.ID + 100)
		wantErr(t, "Get of a missing id", err, store.ErrNotFound)
		_, err = tx.Users().ByEmail("nobody@example.com")
		wantErr(t, "ByEmail of a missing email", err, store.ErrNotFound)
		if any, err := tx.Users().Any(); err != nil || !any {
			t.Errorf("Any = %v, %v", any, err)
		}
		if n, err := tx.Users().Count(); err != nil || n != 2 {
			t.Errorf("Count = %d, %v", n, err)
		}
		return nil
	})

	// Update: fields, email index moved, timestamps.
	mustUpdate(t, s, func(tx store.Tx) error {
		u, err := tx.Users().Get(ada.ID)
		if err != nil {
			return err
		}
		u.Email, u.Name, u.Disabled = "ada@new.example", "Ada L.", true
		u.MFA = store.MFA{Enabled: true, Secret: "S", LastStep: 42}
		u.CreatedAt = time.Time{} // the store keeps its own
		return tx.Users().Update(&u)
	})
	mustView(t, s, func(tx store.Tx) error {
		_, err := tx.Users().ByEmail("ada@example.com")
		wantErr(t, "old email after change", err, store.ErrNotFound)
		u, err := tx.Users().ByEmail("ADA@new.example")
		if err != nil || u.ID != ada.ID || u.Name != "Ada L." || !u.Disabled || u.MFA != (store.MFA{Enabled: true, Secret: "S", LastStep: 42}) {
			t.Errorf("after update: %+v, %v", u, err)
		}
		if !u.CreatedAt.Equal(ada.CreatedAt) || u.UpdatedAt.Before(ada.UpdatedAt) {
			t.Errorf("timestamps after update: created %v (was %v), updated %v", u.CreatedAt, ada.CreatedAt, u.UpdatedAt)
		}
		return nil
	})
	err = s.Update(ctx, func(tx store.Tx) error {
		u, err := tx.Users().Get(bob.ID)
		if err != nil {
			return err
		}
		u.Email = "Ada@New.Example"
		return tx.Users().Update(&u)
	})
	wantErr(t, "update to a taken email", err, store.ErrConflict)
	err = s.Update(ctx, func(tx store.Tx) error {
		return tx.Users().Update(&store.User{ID: ada.ID + bob.ID + 100, Email: "x@example.com"})
	})
	wantErr(t, "update of a missing user", err, store.ErrNotFound)
	// The freed email can be taken again.
	mustUser(t, s, "ada@example.com")

	err = s.Update(ctx, func(tx store.Tx) error { return tx.Users().Delete(ada.ID + bob.ID + 100) })
	wantErr(t, "delete of a missing user", err, store.ErrNotFound)
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Users().Delete(bob.ID) })
	mustView(t, s, func(tx store.Tx) error {
		_, err := tx.Users().Get(bob.ID)
		wantErr(t, "deleted user", err, store.ErrNotFound)
		_, err = tx.Users().ByEmail("bob@example.com")
		wantErr(t, "deleted user's email", err, store.ErrNotFound)
		if n, err := tx.Users().Count(); err != nil || n != 2 {
			t.Errorf("Count after delete = %d, %v", n, err)
		}
		return nil
	})
	mustUser(t, s, "bob@example.com")
}

func testUsersList(t *testing.T, s store.Store) {
	var want []uint64
	for i := range 23 {
		name := "plain"
		if i%3 == 0 {
			name = "Special Agent"
		}
		u := store.User{Email: fmt.Sprintf("user%02d@example.com", i), Name: name}
		mustUpdate(t, s, func(tx store.Tx) error { return tx.Users().Create(&u) })
		want = append(want, u.ID)
	}
	userID := func(u store.User) uint64 { return u.ID }
	for _, size := range []int{1, 4, 23, 100} {
		got := pageAll(t, s, size, func(tx store.Tx, p store.Page) ([]store.User, string, error) { return tx.Users().List("", p) })
		if !slices.Equal(ids(got, userID), want) {
			t.Errorf("pages of %d: %v, want %v", size, ids(got, userID), want)
		}
	}
	// A query matches email or name, ignoring case, across pages.
	got := pageAll(t, s, 2, func(tx store.Tx, p store.Page) ([]store.User, string, error) { return tx.Users().List("AGENT", p) })
	var agents []uint64
	for i, id := range want {
		if i%3 == 0 {
			agents = append(agents, id)
		}
	}
	if !slices.Equal(ids(got, userID), agents) {
		t.Errorf("query by name: %v, want %v", ids(got, userID), agents)
	}
	got = pageAll(t, s, 3, func(tx store.Tx, p store.Page) ([]store.User, string, error) { return tx.Users().List("USER1", p) })
	if !slices.Equal(ids(got, userID), want[10:20]) {
		t.Errorf("query by email: %v, want %v", ids(got, userID), want[10:20])
	}
	// A page of the default size when no limit is given.
	mustView(t, s, func(tx store.Tx) error {
		items, next, err := tx.Users().List("", store.Page{})
		if err != nil || len(items) != 23 || next != "" {
			t.Errorf("default page: %d items, next %q, %v", len(items), next, err)
		}
		return nil
	})
}

func testUserDeleteCascades(t *testing.T, s store.Store) {
	a, b := mustUser(t, s, "a@example.com"), mustUser(t, s, "b@example.com")
	var aNote, bNote thing
	mustUpdate(t, s, func(tx store.Tx) error {
		for i, u := range []store.User{a, a, b} {
			if err := tx.Sessions().Create(&store.Session{UserID: u.ID, Kind: store.KindSession}, []byte(fmt.Sprintf("session-hash-%020d", i))); err != nil {
				return err
			}
		}
		if err := tx.Sessions().Create(&store.Session{UserID: a.ID, Kind: store.KindToken, Name: "ci"}, []byte("token-hash-a")); err != nil {
			return err
		}
		aNote, bNote = thing{Owned: store.Owned{OwnerID: a.ID}, Title: "a"}, thing{Owned: store.Owned{OwnerID: b.ID}, Title: "b"}
		if err := things.Create(tx, &aNote); err != nil {
			return err
		}
		return things.Create(tx, &bNote)
	})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Users().Delete(a.ID) })
	mustView(t, s, func(tx store.Tx) error {
		if list, err := tx.Sessions().OfUser(a.ID, ""); err != nil || len(list) != 0 {
			t.Errorf("a keeps %d sessions, %v", len(list), err)
		}
		if list, err := tx.Sessions().OfUser(b.ID, ""); err != nil || len(list) != 1 {
			t.Errorf("b has %d sessions, %v; want 1", len(list), err)
		}
		_, err := tx.Sessions().ByHash([]byte("token-hash-a"))
		wantErr(t, "a's token after delete", err, store.ErrNotFound)
		_, err = things.Get(tx, aNote.ID)
		wantErr(t, "a's note after delete", err, store.ErrNotFound)
		if n, err := things.Get(tx, bNote.ID); err != nil || n.OwnerID != b.ID {
			t.Errorf("b's note: %+v, %v", n, err)
		}
		notes, _, err := things.List(tx, 0, store.Page{Limit: 10})
		if err != nil || len(notes) != 1 {
			t.Errorf("notes left: %+v, %v; want b's one", notes, err)
		}
		return nil
	})
}

func testSessions(t *testing.T, s store.Store) {
	a, b := mustUser(t, s, "a@example.com"), mustUser(t, s, "b@example.com")
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	own := time.Date(2025, 6, 7, 8, 9, 10, 0, time.UTC)
	var s1, s2, tok store.Session
	mustUpdate(t, s, func(tx store.Tx) error {
		s1 = store.Session{UserID: a.ID, Kind: store.KindSession, MFA: true, ExpiresAt: expires}
		if err := tx.Sessions().Create(&s1, []byte("h1")); err != nil {
			return err
		}
		s2 = store.Session{UserID: b.ID, Kind: store.KindSession, CreatedAt: own}
		if err := tx.Sessions().Create(&s2, []byte("h2")); err != nil {
			return err
		}
		tok = store.Session{UserID: a.ID, Kind: store.KindToken, Name: "ci", ReadOnly: true}
		return tx.Sessions().Create(&tok, []byte("h3"))
	})
	if s1.ID == 0 || s2.ID <= s1.ID || tok.ID <= s2.ID || s1.CreatedAt.IsZero() || !s2.CreatedAt.Equal(own) {
		t.Fatalf("created sessions %+v %+v %+v: want increasing ids, CreatedAt set unless given", s1, s2, tok)
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Sessions().Create(&store.Session{UserID: a.ID + b.ID + 100, Kind: store.KindSession}, []byte("h4"))
	})
	wantErr(t, "session of a missing user", err, store.ErrNotFound)
	mustView(t, s, func(tx store.Tx) error {
		got, err := tx.Sessions().ByHash([]byte("h1"))
		if err != nil || got.ID != s1.ID || got.UserID != a.ID || !got.MFA || !got.ExpiresAt.Equal(expires) || got.Kind != store.KindSession {
			t.Errorf("ByHash: %+v, %v", got, err)
		}
		got, err = tx.Sessions().Get(tok.ID)
		if err != nil || got.Name != "ci" || !got.ReadOnly || got.Kind != store.KindToken || !got.ExpiresAt.IsZero() {
			t.Errorf("Get: %+v, %v", got, err)
		}
		_, err = tx.Sessions().ByHash([]byte("h4"))
		wantErr(t, "ByHash of the refused session", err, store.ErrNotFound)
		_, err = tx.Sessions().Get(tok.ID + 100)
		wantErr(t, "Get of a missing id", err, store.ErrNotFound)
		all, err := tx.Sessions().OfUser(a.ID, "")
		if err != nil || !slices.Equal(ids(all, func(s store.Session) uint64 { return s.ID }), []uint64{s1.ID, tok.ID}) {
			t.Errorf("OfUser all kinds: %+v, %v", all, err)
		}
		tokens, err := tx.Sessions().OfUser(a.ID, store.KindToken)
		if err != nil || len(tokens) != 1 || tokens[0].ID != tok.ID {
			t.Errorf("OfUser tokens: %+v, %v", tokens, err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error {
		n, err := tx.Sessions().DeleteOfUser(a.ID, store.KindSession)
		if err != nil || n != 1 {
			t.Errorf("DeleteOfUser sessions: %d, %v", n, err)
		}
		return err
	})
	mustView(t, s, func(tx store.Tx) error {
		_, err := tx.Sessions().ByHash([]byte("h1"))
		wantErr(t, "ended session", err, store.ErrNotFound)
		if _, err := tx.Sessions().ByHash([]byte("h3")); err != nil {
			t.Errorf("the token went with the sessions: %v", err)
		}
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Sessions().Delete(tok.ID) })
	err = s.Update(ctx, func(tx store.Tx) error { return tx.Sessions().Delete(tok.ID) })
	wantErr(t, "second delete", err, store.ErrNotFound)
	mustUpdate(t, s, func(tx store.Tx) error {
		n, err := tx.Sessions().DeleteOfUser(b.ID, "")
		if err != nil || n != 1 {
			t.Errorf("DeleteOfUser all: %d, %v", n, err)
		}
		return err
	})
	mustView(t, s, func(tx store.Tx) error {
		for _, u := range []uint64{a.ID, b.ID} {
			if list, err := tx.Sessions().OfUser(u, ""); err != nil || len(list) != 0 {
				t.Errorf("user %d keeps %d sessions, %v", u, len(list), err)
			}
		}
		return nil
	})
}

func testSessionsExpired(t *testing.T, s store.Store) {
	u := mustUser(t, s, "a@example.com")
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	mustUpdate(t, s, func(tx store.Tx) error {
		for i := range 10 {
			exp := now.Add(time.Duration(i-5) * time.Hour) // 5 expired, then now itself, then 4 live
			if err := tx.Sessions().Create(&store.Session{UserID: u.ID, Kind: store.KindSession, ExpiresAt: exp}, []byte(fmt.Sprint("h", i))); err != nil {
				return err
			}
		}
		return tx.Sessions().Create(&store.Session{UserID: u.ID, Kind: store.KindToken}, []byte("never"))
	})
	deleted := 0
	for round := 0; round < 10; round++ {
		var n int
		mustUpdate(t, s, func(tx store.Tx) (err error) {
			n, err = tx.Sessions().DeleteExpired(now, 4)
			return err
		})
		if n > 4 {
			t.Fatalf("DeleteExpired removed %d, at most 4 asked", n)
		}
		if n == 0 {
			break
		}
		deleted += n
	}
	if deleted != 6 {
		t.Errorf("deleted %d expired sessions, want 6 (an expiry equal to now counts)", deleted)
	}
	mustView(t, s, func(tx store.Tx) error {
		left, err := tx.Sessions().OfUser(u.ID, "")
		if err != nil || len(left) != 5 {
			t.Errorf("left %d, %v; want 4 live sessions and the token", len(left), err)
		}
		for _, s := range left {
			if s.Expired(now) {
				t.Errorf("expired session %d left", s.ID)
			}
		}
		return nil
	})
}

func testGroups(t *testing.T, s store.Store) {
	names := []string{"staff", "admins", "zeta", "beta", "alpha", "ops", "dev"}
	mustUpdate(t, s, func(tx store.Tx) error {
		for _, n := range names {
			g := store.Group{Name: n, Description: "about " + n}
			if err := tx.Groups().Create(&g); err != nil {
				return err
			}
			if g.CreatedAt.IsZero() {
				t.Errorf("group %s: CreatedAt not set", n)
			}
		}
		return nil
	})
	err := s.Update(ctx, func(tx store.Tx) error { return tx.Groups().Create(&store.Group{Name: "staff"}) })
	wantErr(t, "taken group name", err, store.ErrConflict)
	mustView(t, s, func(tx store.Tx) error {
		g, err := tx.Groups().Get("staff")
		if err != nil || g.Description != "about staff" {
			t.Errorf("Get: %+v, %v", g, err)
		}
		_, err = tx.Groups().Get("nope")
		wantErr(t, "missing group", err, store.ErrNotFound)
		_, err = tx.Groups().Get("")
		wantErr(t, "empty name", err, store.ErrNotFound)
		return nil
	})
	var created time.Time
	mustUpdate(t, s, func(tx store.Tx) error {
		old, err := tx.Groups().Get("ops")
		created = old.CreatedAt
		if err != nil {
			return err
		}
		return tx.Groups().Update(&store.Group{Name: "ops", Description: "on call"})
	})
	mustView(t, s, func(tx store.Tx) error {
		g, err := tx.Groups().Get("ops")
		if err != nil || g.Description != "on call" || !g.CreatedAt.Equal(created) {
			t.Errorf("after update: %+v, %v (created %v)", g, err, created)
		}
		return nil
	})
	err = s.Update(ctx, func(tx store.Tx) error { return tx.Groups().Update(&store.Group{Name: "nope"}) })
	wantErr(t, "update of a missing group", err, store.ErrNotFound)
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Groups().Delete("zeta") })
	err = s.Update(ctx, func(tx store.Tx) error { return tx.Groups().Delete("zeta") })
	wantErr(t, "second delete", err, store.ErrNotFound)

	want := []string{"admins", "alpha", "beta", "dev", "ops", "staff"}
	for _, size := range []int{1, 2, 5, 6, 50} {
		got := pageAll(t, s, size, func(tx store.Tx, p store.Page) ([]store.Group, string, error) { return tx.Groups().List(p) })
		var gotNames []string
		for _, g := range got {
			gotNames = append(gotNames, g.Name)
		}
		if !slices.Equal(gotNames, want) {
			t.Errorf("pages of %d: %v, want name order %v", size, gotNames, want)
		}
	}
}

func testRules(t *testing.T, s store.Store) {
	added := map[string]store.Rule{}
	mustUpdate(t, s, func(tx store.Tx) error {
		if any, err := tx.Rules().Any(); err != nil || any {
			t.Errorf("empty store: Any = %v, %v", any, err)
		}
		for _, r := range [][]string{
			{"g", "user:1", "group:staff"},
			{"g", "group:staff", "role:editor"},
			{"p", "group:staff", "/x,y \"quoted\"", "GET", "*"},
			{"g", "user:10", "role:editor"},
			{"p", "role:editor", "/notes/:id", "PUT", "owner"},
			{"g", "user:1", "user:1"},
		} {
			rule, err := tx.Rules().Add(r[0], r[1:])
			if err != nil {
				return err
			}
			if rule.ID == 0 || rule.Type != r[0] || !slices.Equal(rule.Values, r[1:]) {
				t.Errorf("Add %v: %+v", r, rule)
			}
			added[strings.Join(r, "|")] = rule
		}
		_, err := tx.Rules().Add("g", []string{"user:1", "group:staff"})
		wantErr(t, "duplicate rule", err, store.ErrConflict)
		// The same values under another type, or split otherwise, are other
		// rules.
		g2, err := tx.Rules().Add("g2", []string{"user:1", "group:staff"})
		if err != nil {
			t.Errorf("same values, other type: %v", err)
		}
		added["g2|user:1|group:staff"] = g2
		if _, err := tx.Rules().Add("g", []string{"user:1group:staff", ""}); err != nil {
			t.Errorf("same characters split otherwise: %v", err)
		}
		return nil
	})
	mustView(t, s, func(tx store.Tx) error {
		want := added["p|group:staff|/x,y \"quoted\"|GET|*"]
		got, err := tx.Rules().Get(want.ID)
		if err != nil || got.Type != "p" || !slices.Equal(got.Values, want.Values) {
			t.Errorf("Get: %+v, %v", got, err)
		}
		got, err = tx.Rules().Find("p", want.Values)
		if err != nil || got.ID != want.ID {
			t.Errorf("Find: %+v, %v", got, err)
		}
		_, err = tx.Rules().Find("p", []string{"group:staff"})
		wantErr(t, "Find of a missing rule", err, store.ErrNotFound)
		_, err = tx.Rules().Get(want.ID + 1000)
		wantErr(t, "Get of a missing id", err, store.ErrNotFound)
		if any, err := tx.Rules().Any(); err != nil || !any {
			t.Errorf("Any = %v, %v", any, err)
		}
		// Referencing: the subject's rules and the links pointing at it,
		// never those of a value that merely starts the same (user:1 is not
		// user:10).
		refs, err := tx.Rules().Referencing("group:staff")
		if err != nil {
			return err
		}
		wantRefs := []uint64{added["g|user:1|group:staff"].ID, added["g|group:staff|role:editor"].ID, want.ID, added["g2|user:1|group:staff"].ID}
		if !slices.Equal(ids(refs, func(r store.Rule) uint64 { return r.ID }), wantRefs) {
			t.Errorf("Referencing group:staff: %+v, want ids %v", refs, wantRefs)
		}
		refs, err = tx.Rules().Referencing("user:1")
		if err != nil {
			return err
		}
		wantRefs = []uint64{added["g|user:1|group:staff"].ID, added["g|user:1|user:1"].ID, added["g2|user:1|group:staff"].ID}
		if !slices.Equal(ids(refs, func(r store.Rule) uint64 { return r.ID }), wantRefs) {
			t.Errorf("Referencing user:1: %+v, want ids %v", refs, wantRefs)
		}
		return nil
	})
	var removed []store.Rule
	mustUpdate(t, s, func(tx store.Tx) error {
		var err error
		removed, err = tx.Rules().RemoveReferencing("group:staff")
		if n := len(tx.Rules().Changes()); n != 4 {
			t.Errorf("changes recorded: %d, want 4", n)
		}
		return err
	})
	if len(removed) != 4 {
		t.Fatalf("removed %d rules referencing group:staff, want 4", len(removed))
	}
	mustUpdate(t, s, func(tx store.Tx) error {
		r, err := tx.Rules().Remove(added["g|user:1|user:1"].ID)
		if err != nil || r.Type != "g" || !slices.Equal(r.Values, []string{"user:1", "user:1"}) {
			t.Errorf("Remove: %+v, %v", r, err)
		}
		return err
	})
	err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Rules().Remove(added["g|user:1|user:1"].ID)
		return err
	})
	wantErr(t, "second remove", err, store.ErrNotFound)
	mustView(t, s, func(tx store.Tx) error {
		if refs, err := tx.Rules().Referencing("user:1"); err != nil || len(refs) != 0 {
			t.Errorf("user:1 still referenced by %+v, %v", refs, err)
		}
		_, err := tx.Rules().Find("g", []string{"user:1", "group:staff"})
		wantErr(t, "Find of a removed rule", err, store.ErrNotFound)
		return nil
	})
	// A removed rule can be added again, under a new id.
	mustUpdate(t, s, func(tx store.Tx) error {
		r, err := tx.Rules().Add("g", []string{"user:1", "group:staff"})
		if err == nil && r.ID == added["g|user:1|group:staff"].ID {
			t.Errorf("re-added rule got its old id %d", r.ID)
		}
		return err
	})
	// List and ForEach agree, in id order, across pages of every size.
	var walked []uint64
	mustView(t, s, func(tx store.Tx) error {
		return tx.Rules().ForEach(func(r store.Rule) error { walked = append(walked, r.ID); return nil })
	})
	if len(walked) != 4 || !slices.IsSorted(walked) {
		t.Fatalf("ForEach walked %v: want 4 rules in id order", walked)
	}
	for _, size := range []int{1, 4, 6, 100} {
		got := pageAll(t, s, size, func(tx store.Tx, p store.Page) ([]store.Rule, string, error) { return tx.Rules().List(p) })
		if !slices.Equal(ids(got, func(r store.Rule) uint64 { return r.ID }), walked) {
			t.Errorf("List in pages of %d: %v, want %v", size, ids(got, func(r store.Rule) uint64 { return r.ID }), walked)
		}
	}
	stop := errors.New("stop")
	err = s.View(ctx, func(tx store.Tx) error {
		n := 0
		return tx.Rules().ForEach(func(store.Rule) error {
			if n++; n == 2 {
				return stop
			}
			return nil
		})
	})
	wantErr(t, "ForEach stopped by its function", err, stop)
}

// testRulesForEachWhileChanging: the function of a walk may change rules;
// every rule that was there when the walk began and was not removed by it
// is visited exactly once.
func testRulesForEachWhileChanging(t *testing.T, s store.Store) {
	const n = 3000 // more than one chunk of any reasonable batching
	mustUpdate(t, s, func(tx store.Tx) error {
		for i := range n {
			if _, err := tx.Rules().Add("p", []string{fmt.Sprint("user:", i), "/x", "GET", "*"}); err != nil {
				return err
			}
		}
		return nil
	})
	seen := map[uint64]int{}
	mustUpdate(t, s, func(tx store.Tx) error {
		return tx.Rules().ForEach(func(r store.Rule) error {
			seen[r.ID]++
			if strings.HasSuffix(r.Values[0], "0") {
				// Replace it: remove, and add a rule of other content.
				if _, err := tx.Rules().Remove(r.ID); err != nil {
					return err
				}
				_, err := tx.Rules().Add("p", []string{r.Values[0], "/y", "GET", "*"})
				return err
			}
			return nil
		})
	})
	originals := 0
	for id, times := range seen {
		if times != 1 {
			t.Errorf("rule %d visited %d times", id, times)
		}
		if id <= n {
			originals++
		}
	}
	if originals != n {
		t.Errorf("visited %d of the %d rules there at the start", originals, n)
	}
	mustView(t, s, func(tx store.Tx) error {
		count := 0
		err := tx.Rules().ForEach(func(r store.Rule) error {
			count++
			if strings.HasSuffix(r.Values[0], "0") && r.Values[1] != "/y" {
				t.Errorf("rule %v was not replaced", r.Values)
			}
			return nil
		})
		if count != n {
			t.Errorf("%d rules after the walk, want %d", count, n)
		}
		return err
	})
}

// testRulesVersion: the policy version moves by one for each committed
// transaction that changed rules, and not for others.
func testRulesVersion(t *testing.T, s store.Store) {
	version := func() uint64 {
		t.Helper()
		var v uint64
		mustView(t, s, func(tx store.Tx) (err error) { v, err = tx.Rules().Version(); return err })
		return v
	}
	v0 := version()
	if v0 != 0 {
		t.Fatalf("empty store at version %d, want 0", v0)
	}
	var inside uint64
	mustUpdate(t, s, func(tx store.Tx) error {
		for _, sub := range []string{"user:1", "user:2", "user:3"} {
			if _, err := tx.Rules().Add("g", []string{sub, "role:admin"}); err != nil {
				return err
			}
		}
		var err error
		inside, err = tx.Rules().Version()
		if got := tx.Rules().Changes(); len(got) != 3 || !got[0].Added || got[0].Rule.Values[0] != "user:1" {
			t.Errorf("changes: %+v", got)
		}
		return err
	})
	if v := version(); v != 1 || inside != 1 {
		t.Fatalf("after one transaction of three adds: version %d (inside it %d), want 1", v, inside)
	}
	mustUser(t, s, "a@example.com") // no rule: no new version
	mustUpdate(t, s, func(tx store.Tx) error {
		_, err := tx.Rules().Find("g", []string{"user:1", "role:admin"})
		return err
	})
	if v := version(); v != 1 {
		t.Fatalf("after transactions that changed no rule: version %d, want 1", v)
	}
	mustUpdate(t, s, func(tx store.Tx) error {
		r, err := tx.Rules().Find("g", []string{"user:2", "role:admin"})
		if err != nil {
			return err
		}
		if _, err := tx.Rules().Remove(r.ID); err != nil {
			return err
		}
		if c := tx.Rules().Changes(); len(c) != 1 || c[0].Added || c[0].Rule.ID != r.ID {
			t.Errorf("changes of a removal: %+v", c)
		}
		return nil
	})
	if v := version(); v != 2 {
		t.Fatalf("after a removal: version %d, want 2", v)
	}
	_ = s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Rules().Add("g", []string{"user:9", "role:admin"}); err != nil {
			return err
		}
		return errors.New("changed my mind")
	})
	if v := version(); v != 2 {
		t.Fatalf("after a failed transaction: version %d, want 2", v)
	}
}

func testNotes(t *testing.T, s store.Store) {
	a, b := mustUser(t, s, "a@example.com"), mustUser(t, s, "b@example.com")
	var aIDs, allIDs []uint64
	mustUpdate(t, s, func(tx store.Tx) error {
		// Interleaved, so that the owners' notes sit side by side.
		for i := range 11 {
			owner := a.ID
			if i%2 == 1 {
				owner = b.ID
			}
			n := thing{Owned: store.Owned{OwnerID: owner}, Title: fmt.Sprint("note ", i), Body: "body"}
			if err := things.Create(tx, &n); err != nil {
				return err
			}
			if n.ID == 0 || n.CreatedAt.IsZero() || !n.UpdatedAt.Equal(n.CreatedAt) {
				t.Errorf("created note %+v", n)
			}
			allIDs = append(allIDs, n.ID)
			if owner == a.ID {
				aIDs = append(aIDs, n.ID)
			}
		}
		return nil
	})
	err := s.Update(ctx, func(tx store.Tx) error {
		return things.Create(tx, &thing{Owned: store.Owned{OwnerID: a.ID + b.ID + 100}, Title: "orphan"})
	})
	wantErr(t, "note of a missing owner", err, store.ErrNotFound)
	noteID := func(n thing) uint64 { return n.ID }
	for _, size := range []int{1, 2, 5, 100} {
		got := pageAll(t, s, size, func(tx store.Tx, p store.Page) ([]thing, string, error) { return things.List(tx, a.ID, p) })
		if !slices.Equal(ids(got, noteID), aIDs) {
			t.Errorf("a's notes in pages of %d: %v, want %v", size, ids(got, noteID), aIDs)
		}
		got = pageAll(t, s, size, func(tx store.Tx, p store.Page) ([]thing, string, error) { return things.List(tx, 0, p) })
		if !slices.Equal(ids(got, noteID), allIDs) {
			t.Errorf("all notes in pages of %d: %v, want %v", size, ids(got, noteID), allIDs)
		}
	}
	first := aIDs[0]
	var created time.Time
	mustUpdate(t, s, func(tx store.Tx) error {
		n, err := things.Get(tx, first)
		if err != nil {
			return err
		}
		created = n.CreatedAt
		n.Title, n.Body, n.OwnerID = "new title", "new body", b.ID // the owner never changes
		return things.Update(tx, &n)
	})
	mustView(t, s, func(tx store.Tx) error {
		n, err := things.Get(tx, first)
		if err != nil || n.Title != "new title" || n.Body != "new body" || n.OwnerID != a.ID || !n.CreatedAt.Equal(created) {
			t.Errorf("after update: %+v, %v", n, err)
		}
		_, err = things.Get(tx, allIDs[len(allIDs)-1]+100)
		wantErr(t, "missing note", err, store.ErrNotFound)
		return nil
	})
	err = s.Update(ctx, func(tx store.Tx) error {
		return things.Update(tx, &thing{Owned: store.Owned{ID: allIDs[len(allIDs)-1] + 100}})
	})
	wantErr(t, "update of a missing note", err, store.ErrNotFound)
	mustUpdate(t, s, func(tx store.Tx) error { return things.Delete(tx, first) })
	err = s.Update(ctx, func(tx store.Tx) error { return things.Delete(tx, first) })
	wantErr(t, "second delete", err, store.ErrNotFound)
	got := pageAll(t, s, 3, func(tx store.Tx, p store.Page) ([]thing, string, error) { return things.List(tx, a.ID, p) })
	if !slices.Equal(ids(got, noteID), aIDs[1:]) {
		t.Errorf("a's notes after delete: %v, want %v", ids(got, noteID), aIDs[1:])
	}
}

// testOwnedKinds: kinds of owned resources are apart (ids, lists,
// deletes), a user's deletion takes their resources of every kind, a
// resource's own fields survive as stored, the store's fields win, and a
// kind that is not a name is refused.
func testOwnedKinds(t *testing.T, s store.Store) {
	a, b := mustUser(t, s, "a@example.com"), mustUser(t, s, "b@example.com")
	var t1, w1, w2 thing
	mustUpdate(t, s, func(tx store.Tx) error {
		t1 = thing{Owned: store.Owned{OwnerID: a.ID, ID: 999}, Title: "a thing", Body: "with \"quotes\", commas, and ünïcode"}
		if err := things.Create(tx, &t1); err != nil {
			return err
		}
		w1 = thing{Owned: store.Owned{OwnerID: a.ID}, Title: "a widget"}
		if err := widgets.Create(tx, &w1); err != nil {
			return err
		}
		w2 = thing{Owned: store.Owned{OwnerID: b.ID}, Title: "b's widget"}
		return widgets.Create(tx, &w2)
	})
	if t1.ID == 999 || t1.ID == 0 {
		t.Fatalf("created with id %d: the store sets ids", t1.ID)
	}
	mustView(t, s, func(tx store.Tx) error {
		got, err := things.Get(tx, t1.ID)
		if err != nil || got.ID != t1.ID || got.OwnerID != a.ID || got.Title != t1.Title || got.Body != t1.Body ||
			!got.CreatedAt.Equal(t1.CreatedAt) || !got.UpdatedAt.Equal(t1.UpdatedAt) {
			t.Errorf("Get: %+v, %v; want %+v", got, err, t1)
		}
		if _, err := widgets.Get(tx, w2.ID+100); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a missing widget: %v", err)
		}
		all, _, err := widgets.List(tx, 0, store.Page{})
		if err != nil || len(all) != 2 {
			t.Errorf("all widgets: %d, %v", len(all), err)
		}
		mine, _, err := things.List(tx, b.ID, store.Page{})
		if err != nil || len(mine) != 0 {
			t.Errorf("b's things: %d, %v; want none (b has a widget only)", len(mine), err)
		}
		none, next, err := store.Collection[thing, *thing]{Kind: "gadgets"}.List(tx, 0, store.Page{})
		if err != nil || len(none) != 0 || next != "" {
			t.Errorf("a kind with nothing yet: %d, %q, %v", len(none), next, err)
		}
		return nil
	})
	// Updating keeps owner and creation time whatever the value says.
	mustUpdate(t, s, func(tx store.Tx) error {
		changed := t1
		changed.Title, changed.OwnerID, changed.CreatedAt = "renamed", b.ID, time.Time{}
		if err := things.Update(tx, &changed); err != nil {
			return err
		}
		if changed.OwnerID != a.ID || !changed.CreatedAt.Equal(t1.CreatedAt) {
			t.Errorf("after update: %+v", changed.Owned)
		}
		return nil
	})
	for _, kind := range []string{"", "Notes", "1things", "a-b", strings.Repeat("k", 33), "users"} {
		err := s.Update(ctx, func(tx store.Tx) error {
			return store.Collection[thing, *thing]{Kind: kind}.Create(tx, &thing{Owned: store.Owned{OwnerID: a.ID}})
		})
		if err == nil {
			t.Errorf("kind %q was taken", kind)
		}
	}
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Users().Delete(a.ID) })
	mustView(t, s, func(tx store.Tx) error {
		if _, err := things.Get(tx, t1.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a's thing after a's deletion: %v", err)
		}
		left, _, err := widgets.List(tx, 0, store.Page{})
		if err != nil || len(left) != 1 || left[0].ID != w2.ID {
			t.Errorf("widgets after a's deletion: %+v, %v; want b's only", left, err)
		}
		return nil
	})
}

func testAudit(t *testing.T, s store.Store) {
	var want []uint64
	mustUpdate(t, s, func(tx store.Tx) error {
		for i := range 7 {
			rec := store.AuditRecord{ActorID: 1, Actor: "admin@example.com", Action: fmt.Sprint("act.", i), Target: "user:1",
				Before: []byte(`{"a":1}`), After: []byte(`{"a":2}`)}
			if err := tx.Audit().Append(&rec); err != nil {
				return err
			}
			if rec.ID == 0 || rec.Time.IsZero() {
				t.Errorf("appended record %+v: want an id and a time", rec)
			}
			want = append([]uint64{rec.ID}, want...)
		}
		return nil
	})
	for _, size := range []int{1, 3, 7, 50} {
		got := pageAll(t, s, size, func(tx store.Tx, p store.Page) ([]store.AuditRecord, string, error) { return tx.Audit().List(p) })
		if !slices.Equal(ids(got, func(r store.AuditRecord) uint64 { return r.ID }), want) {
			t.Errorf("pages of %d: %v, want newest first %v", size, ids(got, func(r store.AuditRecord) uint64 { return r.ID }), want)
		}
		if got[0].Action != "act.6" || string(got[0].Before) != `{"a":1}` || string(got[0].After) != `{"a":2}` || got[0].Actor != "admin@example.com" {
			t.Errorf("newest record: %+v", got[0])
		}
	}
}

// addFailures appends n records, the i-th from 10.0.<i/250>.<i%250> at
// base+i minutes, user i%3 (0: none), reason "unauthorized" or, every
// fourth, "forbidden".
func addFailures(t *testing.T, s store.Store, base time.Time, n int) []uint64 {
	t.Helper()
	var out []uint64
	mustUpdate(t, s, func(tx store.Tx) error {
		for i := range n {
			at := base.Add(time.Duration(i) * time.Minute)
			f := store.AuthFailure{Time: at, LastTime: at, Count: 1, IP: fmt.Sprintf("10.0.%d.%d", i/250, i%250),
				Method: "GET", Path: "/api/x", Status: 401, Reason: "unauthorized", UserID: uint64(i % 3), RequestID: fmt.Sprint("r", i)}
			if i%4 == 0 {
				f.Reason, f.Status = "forbidden", 403
			}
			if err := tx.Failures().Add(&f); err != nil {
				return err
			}
			out = append(out, f.ID)
		}
		return nil
	})
	return out
}

func testFailures(t *testing.T, s store.Store) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	added := addFailures(t, s, base, 20)
	if !slices.IsSorted(added) || slices.Compact(slices.Clone(added))[0] == 0 || len(slices.Compact(slices.Clone(added))) != 20 {
		t.Fatalf("ids %v: want 20 increasing ids", added)
	}
	mustUpdate(t, s, func(tx store.Tx) error {
		if n, err := tx.Failures().Count(); err != nil || n != 20 {
			t.Errorf("Count = %d, %v", n, err)
		}
		f, err := tx.Failures().Get(added[4])
		if err != nil || f.IP != "10.0.0.4" || f.RequestID != "r4" || !f.Time.Equal(base.Add(4*time.Minute)) {
			t.Errorf("Get: %+v, %v", f, err)
		}
		f.Count, f.LastTime = 7, base.Add(time.Hour)
		if err := tx.Failures().Update(f); err != nil {
			return err
		}
		wantErr(t, "update of a missing record", tx.Failures().Update(store.AuthFailure{ID: added[19] + 100}), store.ErrNotFound)
		_, err = tx.Failures().Get(added[19] + 100)
		wantErr(t, "Get of a missing id", err, store.ErrNotFound)
		return nil
	})
	failureID := func(f store.AuthFailure) uint64 { return f.ID }
	newestFirst := slices.Clone(added)
	slices.Reverse(newestFirst)
	for _, size := range []int{1, 3, 20, 50} {
		got := pageAll(t, s, size, func(tx store.Tx, p store.Page) ([]store.AuthFailure, string, error) {
			return tx.Failures().List(store.FailureFilter{}, p)
		})
		if !slices.Equal(ids(got, failureID), newestFirst) {
			t.Errorf("pages of %d: %v, want newest first %v", size, ids(got, failureID), newestFirst)
		}
	}
	// Filters: each alone, and together, across pages.
	filters := []struct {
		name string
		f    store.FailureFilter
		keep func(i int) bool
	}{
		{"reason", store.FailureFilter{Reason: "forbidden"}, func(i int) bool { return i%4 == 0 }},
		{"user", store.FailureFilter{UserID: 2}, func(i int) bool { return i%3 == 2 }},
		{"address", store.FailureFilter{Within: netip.MustParsePrefix("10.0.0.4/32")}, func(i int) bool { return i == 4 }},
		{"prefix", store.FailureFilter{Within: netip.MustParsePrefix("10.0.0.8/29")}, func(i int) bool { return i >= 8 && i < 16 }},
		{"small prefix", store.FailureFilter{Within: netip.MustParsePrefix("10.0.0.0/30")}, func(i int) bool { return i < 4 }},
		{"all three", store.FailureFilter{Reason: "unauthorized", UserID: 1, Within: netip.MustParsePrefix("10.0.0.0/28")}, func(i int) bool {
			return i%4 != 0 && i%3 == 1 && i < 16
		}},
		{"nothing", store.FailureFilter{Reason: "no such reason"}, func(int) bool { return false }},
	}
	for _, tc := range filters {
		var want []uint64
		for i := 19; i >= 0; i-- {
			if tc.keep(i) {
				want = append(want, added[i])
			}
		}
		got := pageAll(t, s, 2, func(tx store.Tx, p store.Page) ([]store.AuthFailure, string, error) {
			return tx.Failures().List(tc.f, p)
		})
		if !slices.Equal(ids(got, failureID), want) {
			t.Errorf("filter %s: %v, want %v", tc.name, ids(got, failureID), want)
		}
		for _, f := range got {
			if !tc.f.Match(&f) {
				t.Errorf("filter %s: listed %+v, which it does not match", tc.name, f)
			}
		}
	}
	mustView(t, s, func(tx store.Tx) error {
		f, err := tx.Failures().Get(added[4])
		if err != nil || f.Count != 7 || !f.LastTime.Equal(base.Add(time.Hour)) {
			t.Errorf("updated record: %+v, %v", f, err)
		}
		return nil
	})
}

// testFailuresPrune: the oldest records go first, by count and by age,
// bounded per call; ids keep growing after a prune.
func testFailuresPrune(t *testing.T, s store.Store) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	added := addFailures(t, s, base, 10)
	prune := func(cutoff time.Time, keep, most int) int {
		t.Helper()
		var n int
		mustUpdate(t, s, func(tx store.Tx) (err error) { n, err = tx.Failures().Prune(cutoff, keep, most); return err })
		return n
	}
	oldest := func() uint64 {
		t.Helper()
		got := pageAll(t, s, 100, func(tx store.Tx, p store.Page) ([]store.AuthFailure, string, error) {
			return tx.Failures().List(store.FailureFilter{}, p)
		})
		if len(got) == 0 {
			return 0
		}
		return got[len(got)-1].ID
	}
	if n := prune(base, 10, 100); n != 0 {
		t.Fatalf("nothing to do: pruned %d", n)
	}
	if n := prune(time.Time{}, 0, 2); n != 2 || oldest() != added[2] {
		t.Fatalf("bounded per call: pruned %d, oldest %d; want 2, %d", n, oldest(), added[2])
	}
	if n := prune(base.Add(4*time.Minute), 100, 100); n != 2 || oldest() != added[4] {
		t.Fatalf("by age: pruned %d, oldest %d; want 2, %d", n, oldest(), added[4])
	}
	if n := prune(time.Time{}, 3, 100); n != 3 || oldest() != added[7] {
		t.Fatalf("by count: pruned %d, oldest %d; want 3, %d", n, oldest(), added[7])
	}
	mustView(t, s, func(tx store.Tx) error {
		if n, err := tx.Failures().Count(); err != nil || n != 3 {
			t.Errorf("Count after prunes = %d, %v; want 3", n, err)
		}
		return nil
	})
	more := addFailures(t, s, base.Add(time.Hour), 1)
	if more[0] <= added[9] {
		t.Fatalf("id after prune %d, want more than %d", more[0], added[9])
	}
	if n := prune(time.Time{}, 0, 100); n != 4 || oldest() != 0 {
		t.Fatalf("prune all: pruned %d, oldest %d", n, oldest())
	}
}

// testInvalidCursors: every list refuses a cursor it did not hand out
// with ErrInvalidCursor, and takes the ones it did.
func testInvalidCursors(t *testing.T, s store.Store) {
	u := mustUser(t, s, "a@example.com")
	addFailures(t, s, time.Now(), 3)
	lists := map[string]func(tx store.Tx, p store.Page) (string, error){
		"users": func(tx store.Tx, p store.Page) (string, error) { _, n, err := tx.Users().List("", p); return n, err },
		"groups": func(tx store.Tx, p store.Page) (string, error) {
			_, n, err := tx.Groups().List(p)
			return n, err
		},
		"rules":     func(tx store.Tx, p store.Page) (string, error) { _, n, err := tx.Rules().List(p); return n, err },
		"notes":     func(tx store.Tx, p store.Page) (string, error) { _, n, err := things.List(tx, u.ID, p); return n, err },
		"all notes": func(tx store.Tx, p store.Page) (string, error) { _, n, err := things.List(tx, 0, p); return n, err },
		"a kind with nothing": func(tx store.Tx, p store.Page) (string, error) {
			_, n, err := widgets.List(tx, 0, p)
			return n, err
		},
		"audit": func(tx store.Tx, p store.Page) (string, error) { _, n, err := tx.Audit().List(p); return n, err },
		"failures": func(tx store.Tx, p store.Page) (string, error) {
			_, n, err := tx.Failures().List(store.FailureFilter{}, p)
			return n, err
		},
	}
	bad := []string{"!", "%%", "a b", strings.Repeat("A", 400), "AA=="}
	for name, list := range lists {
		mustView(t, s, func(tx store.Tx) error {
			cursors := bad
			if name != "groups" {
				// Lists in id order take only cursors that hold an id.
				cursors = append(slices.Clone(bad), store.KeyCursor("abc"), store.KeyCursor("123456789"))
			}
			for _, c := range cursors {
				_, err := list(tx, store.Page{Limit: 1, Cursor: c})
				if !errors.Is(err, store.ErrInvalidCursor) {
					t.Errorf("%s with cursor %.20q: %v, want ErrInvalidCursor", name, c, err)
				}
			}
			return nil
		})
	}
	mustView(t, s, func(tx store.Tx) error {
		_, next, err := tx.Failures().List(store.FailureFilter{}, store.Page{Limit: 1})
		if err != nil || next == "" {
			t.Fatalf("failures first page: next %q, %v", next, err)
		}
		if _, _, err := tx.Failures().List(store.FailureFilter{}, store.Page{Limit: 1, Cursor: next}); err != nil {
			t.Errorf("failures with the cursor it handed out: %v", err)
		}
		return nil
	})
}

// testFailedTransaction: a transaction whose function fails leaves
// nothing of what it did, in any domain.
func testFailedTransaction(t *testing.T, s store.Store) {
	owner := mustUser(t, s, "owner@example.com")
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx store.Tx) error {
		u := store.User{Email: "ghost@example.com"}
		if err := tx.Users().Create(&u); err != nil {
			return err
		}
		if err := tx.Sessions().Create(&store.Session{UserID: u.ID, Kind: store.KindSession}, []byte("ghost-session")); err != nil {
			return err
		}
		if err := tx.Groups().Create(&store.Group{Name: "ghosts"}); err != nil {
			return err
		}
		if _, err := tx.Rules().Add("g", []string{"user:ghost", "role:admin"}); err != nil {
			return err
		}
		if err := things.Create(tx, &thing{Owned: store.Owned{OwnerID: owner.ID}, Title: "ghost"}); err != nil {
			return err
		}
		if err := tx.Audit().Append(&store.AuditRecord{Action: "ghost"}); err != nil {
			return err
		}
		if err := tx.Failures().Add(&store.AuthFailure{IP: "10.0.0.1"}); err != nil {
			return err
		}
		o, err := tx.Users().Get(owner.ID)
		if err != nil {
			return err
		}
		o.Name = "changed"
		if err := tx.Users().Update(&o); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, "failed transaction", err, boom)
	mustView(t, s, func(tx store.Tx) error {
		_, err := tx.Users().ByEmail("ghost@example.com")
		wantErr(t, "user of the failed transaction", err, store.ErrNotFound)
		_, err = tx.Sessions().ByHash([]byte("ghost-session"))
		wantErr(t, "session of the failed transaction", err, store.ErrNotFound)
		_, err = tx.Groups().Get("ghosts")
		wantErr(t, "group of the failed transaction", err, store.ErrNotFound)
		if any, err := tx.Rules().Any(); err != nil || any {
			t.Errorf("rules after the failed transaction: %v, %v", any, err)
		}
		if v, err := tx.Rules().Version(); err != nil || v != 0 {
			t.Errorf("policy version after the failed transaction: %d, %v", v, err)
		}
		if notes, _, err := things.List(tx, 0, store.Page{}); err != nil || len(notes) != 0 {
			t.Errorf("notes after the failed transaction: %d, %v", len(notes), err)
		}
		if recs, _, err := tx.Audit().List(store.Page{}); err != nil || len(recs) != 0 {
			t.Errorf("audit after the failed transaction: %d, %v", len(recs), err)
		}
		if n, err := tx.Failures().Count(); err != nil || n != 0 {
			t.Errorf("failures after the failed transaction: %d, %v", n, err)
		}
		if n, err := tx.Users().Count(); err != nil || n != 1 {
			t.Errorf("users after the failed transaction: %d, %v", n, err)
		}
		if o, err := tx.Users().Get(owner.ID); err != nil || o.Name != owner.Name {
			t.Errorf("owner after the failed transaction: %+v, %v", o, err)
		}
		return nil
	})
	// The store goes on working.
	mustUser(t, s, "ghost@example.com")
}

func testCancelledContext(t *testing.T, s store.Store) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	err := s.Update(cctx, func(tx store.Tx) error { ran = true; return tx.Users().Create(&store.User{Email: "a@example.com"}) })
	if err == nil {
		t.Fatal("Update with a cancelled context succeeded")
	}
	if err := s.View(cctx, func(store.Tx) error { return nil }); err == nil {
		t.Fatal("View with a cancelled context succeeded")
	}
	mustView(t, s, func(tx store.Tx) error {
		if n, err := tx.Users().Count(); err != nil || n != 0 {
			t.Errorf("after a cancelled Update (function ran: %v): %d users, %v", ran, n, err)
		}
		return nil
	})
}

// testValuesDoNotAlias: what a transaction returns stays valid and
// unchanged after it ends and after later writes.
func testValuesDoNotAlias(t *testing.T, s store.Store) {
	u := mustUser(t, s, "a@example.com")
	var rule store.Rule
	var got store.User
	mustUpdate(t, s, func(tx store.Tx) (err error) {
		rule, err = tx.Rules().Add("p", []string{"user:1", "/x", "GET", "*"})
		return err
	})
	mustView(t, s, func(tx store.Tx) (err error) {
		if got, err = tx.Users().Get(u.ID); err != nil {
			return err
		}
		rule, err = tx.Rules().Get(rule.ID)
		return err
	})
	for i := range 200 {
		mustUpdate(t, s, func(tx store.Tx) error {
			if _, err := tx.Rules().Add("p", []string{fmt.Sprint("user:", i+2), strings.Repeat("/y", 100), "GET", "*"}); err != nil {
				return err
			}
			x, err := tx.Users().Get(u.ID)
			if err != nil {
				return err
			}
			x.Name = strings.Repeat("z", 500)
			return tx.Users().Update(&x)
		})
	}
	if got.Email != "a@example.com" || got.Name != u.Name || !slices.Equal(rule.Values, []string{"user:1", "/x", "GET", "*"}) {
		t.Fatalf("values read earlier changed: %+v %+v", got, rule)
	}
}

// errLastAdmin is the suite's own last-admin guard refusing a change.
var errLastAdmin = errors.New("would leave no admin")

// admins counts the enabled users linked to role:admin, reading inside tx.
func admins(tx store.Tx) (int, error) {
	rules, err := tx.Rules().Referencing("role:admin")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range rules {
		if r.Type != "g" || len(r.Values) != 2 || r.Values[1] != "role:admin" {
			continue
		}
		id, err := store.ParseID(strings.TrimPrefix(r.Values[0], "user:"))
		if err != nil {
			continue
		}
		if u, err := tx.Users().Get(id); err == nil && !u.Disabled {
			n++
		}
	}
	return n, nil
}

// testConcurrentLastAdmin: admins demote themselves (or disable each
// other) at once, each transaction refusing to leave no admin. Whatever
// the interleaving, exactly one admin is left: a backend that let two
// transactions each see the other's admin still there (write skew) fails.
func testConcurrentLastAdmin(t *testing.T, s store.Store) {
	for round := range 10 {
		const n = 6
		var users []store.User
		mustUpdate(t, s, func(tx store.Tx) error {
			for i := range n {
				u := store.User{Email: fmt.Sprintf("admin%d-%d@example.com", round, i)}
				if err := tx.Users().Create(&u); err != nil {
					return err
				}
				if _, err := tx.Rules().Add("g", []string{"user:" + store.FormatID(u.ID), "role:admin"}); err != nil {
					return err
				}
				users = append(users, u)
			}
			return nil
		})
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, u := range users {
			wg.Go(func() {
				errs[i] = s.Update(ctx, func(tx store.Tx) error {
					if i%2 == 0 { // demote
						r, err := tx.Rules().Find("g", []string{"user:" + store.FormatID(u.ID), "role:admin"})
						if err != nil {
							return err
						}
						if _, err := tx.Rules().Remove(r.ID); err != nil {
							return err
						}
					} else { // disable
						x, err := tx.Users().Get(u.ID)
						if err != nil {
							return err
						}
						x.Disabled = true
						if err := tx.Users().Update(&x); err != nil {
							return err
						}
					}
					left, err := admins(tx)
					if err != nil {
						return err
					}
					if left == 0 {
						return errLastAdmin
					}
					return nil
				})
			})
		}
		wg.Wait()
		refused := 0
		for i, err := range errs {
			switch {
			case errors.Is(err, errLastAdmin):
				refused++
			case err != nil:
				t.Fatalf("round %d: admin %d: %v", round, i, err)
			}
		}
		var left int
		mustView(t, s, func(tx store.Tx) (err error) { left, err = admins(tx); return err })
		if left != 1 || refused != 1 {
			t.Fatalf("round %d: %d admins left, %d changes refused; want 1 and 1", round, left, refused)
		}
		// Ready for the next round: this round's last admin steps down
		// (the next round brings its own).
		mustUpdate(t, s, func(tx store.Tx) error {
			for _, u := range users {
				if _, err := tx.Rules().RemoveReferencing("user:" + store.FormatID(u.ID)); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// testConcurrentSignUps: many sign-ups of one email (in several spellings)
// at once make one account; every other one is ErrConflict.
func testConcurrentSignUps(t *testing.T, s store.Store) {
	for round := range 10 {
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				email := fmt.Sprintf("same%d@example.com", round)
				if i%2 == 1 {
					email = strings.ToUpper(email)
				}
				errs[i] = s.Update(ctx, func(tx store.Tx) error {
					// As a sign-up does: look first, then create.
					if _, err := tx.Users().ByEmail(email); err == nil {
						return fmt.Errorf("sign-up: %w", store.ErrConflict)
					}
					return tx.Users().Create(&store.User{Email: email, Name: fmt.Sprint("racer ", i)})
				})
			})
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("round %d: sign-up %d: %v, want nil or ErrConflict", round, i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d sign-ups of one email succeeded, want 1", round, ok)
		}
	}
	var all []store.User
	all = pageAll(t, s, 100, func(tx store.Tx, p store.Page) ([]store.User, string, error) { return tx.Users().List("", p) })
	if len(all) != 10 {
		t.Fatalf("%d accounts after 10 rounds, want 10", len(all))
	}
}

// testUserIdentities: a provider identity (issuer and subject, compared
// exactly) reaches one user; a second user with the same identity is
// refused by Create and Update; a changed email keeps the link; unlinking
// or deleting frees the identity; local users share the empty identity.
func testUserIdentities(t *testing.T, s store.Store) {
	const iss = "https://id.example.com/realms/acme"
	ada := store.User{Email: "ada@example.com", Issuer: iss, Subject: "f3a1"}
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Users().Create(&ada) })
	if !ada.Linked() {
		t.Fatalf("%+v: Linked = false", ada)
	}
	local1, local2 := mustUser(t, s, "local1@example.com"), mustUser(t, s, "local2@example.com")
	if local1.Linked() || local2.Linked() {
		t.Fatalf("local users %+v %+v report Linked", local1, local2)
	}
	// The same identity for another email; the same subject at another
	// issuer and a subject that only differs in case are other identities.
	err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Users().Create(&store.User{Email: "other@example.com", Issuer: iss, Subject: "f3a1"})
	})
	wantErr(t, "a second user with a linked identity", err, store.ErrConflict)
	other := store.User{Email: "other@example.com", Issuer: iss + "/", Subject: "f3a1"}
	upper := store.User{Email: "upper@example.com", Issuer: iss, Subject: "F3A1"}
	// Length-prefixed keys: moving a character from issuer to subject is
	// another identity.
	shifted := store.User{Email: "shifted@example.com", Issuer: iss + "f", Subject: "3a1"}
	mustUpdate(t, s, func(tx store.Tx) error {
		for _, u := range []*store.User{&other, &upper, &shifted} {
			if err := tx.Users().Create(u); err != nil {
				return err
			}
		}
		return nil
	})
	mustView(t, s, func(tx store.Tx) error {
		for _, want := range []store.User{ada, other, upper, shifted} {
			got, err := tx.Users().ByIdentity(want.Issuer, want.Subject)
			if err != nil || got.ID != want.ID || got.Issuer != want.Issuer || got.Subject != want.Subject {
				t.Errorf("ByIdentity(%q, %q) = %+v, %v; want user %d", want.Issuer, want.Subject, got, err, want.ID)
			}
		}
		_, err := tx.Users().ByIdentity(iss, "nobody")
		wantErr(t, "ByIdentity of an unknown subject", err, store.ErrNotFound)
		_, err = tx.Users().ByIdentity("", "")
		wantErr(t, "ByIdentity of the empty identity", err, store.ErrNotFound)
		return nil
	})

	// A changed email keeps the link.
	ada.Email = "ada.lovelace@example.com"
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Users().Update(&ada) })
	mustView(t, s, func(tx store.Tx) error {
		got, err := tx.Users().ByIdentity(iss, "f3a1")
		if err != nil || got.ID != ada.ID || got.Email != "ada.lovelace@example.com" {
			t.Errorf("after an email change: %+v, %v", got, err)
		}
		return nil
	})
	// Linking a local user to a taken identity is refused.
	err = s.Update(ctx, func(tx store.Tx) error {
		u := local1
		u.Issuer, u.Subject = iss, "f3a1"
		return tx.Users().Update(&u)
	})
	wantErr(t, "Update to a taken identity", err, store.ErrConflict)
	// Unlinking frees the identity for another user.
	mustUpdate(t, s, func(tx store.Tx) error {
		u := ada
		u.Issuer, u.Subject = "", ""
		if err := tx.Users().Update(&u); err != nil {
			return err
		}
		if _, err := tx.Users().ByIdentity(iss, "f3a1"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("unlinked identity still found: %v", err)
		}
		u = local1
		u.Issuer, u.Subject = iss, "f3a1"
		return tx.Users().Update(&u)
	})
	// Deleting the user frees it too.
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Users().Delete(local1.ID) })
	mustView(t, s, func(tx store.Tx) error {
		_, err := tx.Users().ByIdentity(iss, "f3a1")
		wantErr(t, "ByIdentity of a deleted user", err, store.ErrNotFound)
		return nil
	})
	mustUpdate(t, s, func(tx store.Tx) error {
		return tx.Users().Create(&store.User{Email: "again@example.com", Issuer: iss, Subject: "f3a1"})
	})
}

// testConcurrentFirstUse: many transactions at once each look up an
// identity and create its user when it is missing, as a provider token's
// first use does. Exactly one user is created per identity; the others see
// it (or fail with ErrConflict, to be retried).
func testConcurrentFirstUse(t *testing.T, s store.Store) {
	const iss = "https://id.example.com"
	for round := range 10 {
		const n = 8
		sub := fmt.Sprint("subject-", round)
		var wg sync.WaitGroup
		got := make([]uint64, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = s.Update(ctx, func(tx store.Tx) error {
					u, err := tx.Users().ByIdentity(iss, sub)
					if errors.Is(err, store.ErrNotFound) {
						// Each racer brings another email: only the
						// identity can make them one user.
						u = store.User{Email: fmt.Sprintf("r%d-%d@example.com", round, i), Issuer: iss, Subject: sub}
						err = tx.Users().Create(&u)
					}
					got[i] = u.ID
					return err
				})
			})
		}
		wg.Wait()
		var id uint64
		for i, err := range errs {
			switch {
			case errors.Is(err, store.ErrConflict):
			case err != nil:
				t.Fatalf("round %d: first use %d: %v, want nil or ErrConflict", round, i, err)
			case id == 0:
				id = got[i]
			case got[i] != id:
				t.Fatalf("round %d: first uses reached users %d and %d", round, id, got[i])
			}
		}
		if id == 0 {
			t.Fatalf("round %d: no first use succeeded", round)
		}
	}
	all := pageAll(t, s, 100, func(tx store.Tx, p store.Page) ([]store.User, string, error) { return tx.Users().List("", p) })
	if len(all) != 10 {
		t.Fatalf("%d users after 10 identities' first uses, want 10", len(all))
	}
}

// testConcurrentGroupCreation: many transactions at once each make a group
// if it is missing and link a user to it, as adding a rule that names a
// new group does. All succeed; there is one group and every link.
func testConcurrentGroupCreation(t *testing.T, s store.Store) {
	const n = 8
	for round := range 5 {
		name := fmt.Sprint("team", round)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = s.Update(ctx, func(tx store.Tx) error {
					if _, err := tx.Groups().Get(name); errors.Is(err, store.ErrNotFound) {
						if err := tx.Groups().Create(&store.Group{Name: name, Description: fmt.Sprint("made by ", i)}); err != nil {
							return err
						}
					} else if err != nil {
						return err
					}
					_, err := tx.Rules().Add("g", []string{fmt.Sprintf("user:%d", i+1), "group:" + name})
					return err
				})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: writer %d: %v", round, i, err)
			}
		}
		mustView(t, s, func(tx store.Tx) error {
			if _, err := tx.Groups().Get(name); err != nil {
				t.Errorf("round %d: group: %v", round, err)
			}
			refs, err := tx.Rules().Referencing("group:" + name)
			if err != nil || len(refs) != n {
				t.Errorf("round %d: %d links to the group, %v; want %d", round, len(refs), err, n)
			}
			return nil
		})
	}
	got := pageAll(t, s, 2, func(tx store.Tx, p store.Page) ([]store.Group, string, error) { return tx.Groups().List(p) })
	if len(got) != 5 {
		t.Fatalf("%d groups, want 5", len(got))
	}
}

// testConcurrentCounts: many writers append to every log and list at once;
// nothing is lost, ids stay unique, and the policy version counts every
// rule-changing transaction.
func testConcurrentCounts(t *testing.T, s store.Store) {
	owner := mustUser(t, s, "owner@example.com")
	const writers, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				errs <- s.Update(ctx, func(tx store.Tx) error {
					if err := things.Create(tx, &thing{Owned: store.Owned{OwnerID: owner.ID}, Title: "t"}); err != nil {
						return err
					}
					if err := tx.Audit().Append(&store.AuditRecord{Action: "a"}); err != nil {
						return err
					}
					if err := tx.Failures().Add(&store.AuthFailure{IP: "10.0.0.1"}); err != nil {
						return err
					}
					_, err := tx.Rules().Add("p", []string{fmt.Sprintf("user:%d-%d", w, i), "/x", "GET", "*"})
					return err
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	const total = writers * each
	notes := pageAll(t, s, 7, func(tx store.Tx, p store.Page) ([]thing, string, error) { return things.List(tx, owner.ID, p) })
	audit := pageAll(t, s, 7, func(tx store.Tx, p store.Page) ([]store.AuditRecord, string, error) { return tx.Audit().List(p) })
	failures := pageAll(t, s, 7, func(tx store.Tx, p store.Page) ([]store.AuthFailure, string, error) {
		return tx.Failures().List(store.FailureFilter{}, p)
	})
	rules := pageAll(t, s, 7, func(tx store.Tx, p store.Page) ([]store.Rule, string, error) { return tx.Rules().List(p) })
	if len(notes) != total || len(audit) != total || len(failures) != total || len(rules) != total {
		t.Fatalf("%d notes, %d audit records, %d failures, %d rules; want %d each", len(notes), len(audit), len(failures), len(rules), total)
	}
	if !slices.IsSorted(ids(notes, func(n thing) uint64 { return n.ID })) {
		t.Error("notes out of id order")
	}
	fids := ids(failures, func(f store.AuthFailure) uint64 { return f.ID })
	slices.Reverse(fids)
	if !slices.IsSorted(fids) || len(slices.Compact(fids)) != total {
		t.Error("failure ids not unique and newest first")
	}
	mustView(t, s, func(tx store.Tx) error {
		if v, err := tx.Rules().Version(); err != nil || v != total {
			t.Errorf("policy version %d, %v; want %d", v, err, total)
		}
		if n, err := tx.Failures().Count(); err != nil || n != total {
			t.Errorf("failure count %d, %v", n, err)
		}
		return nil
	})
}
