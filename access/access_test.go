package access

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/rbac/rbactest"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

const testPassword = "correct horse battery"

// mustStore opens a real bbolt file in a temp folder.
func mustStore(t *testing.T) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// mustService is a service over db with the shipped model, as one server
// process would hold it.
func mustService(t *testing.T, db store.Store) *Service {
	t.Helper()
	m, err := rbac.LoadModel("../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	authz, err := rbac.New(context.Background(), db, m)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(db, authz, Config{HashConcurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func mustSeed(t *testing.T) []rbac.CSVRule {
	t.Helper()
	_, rules := rbactest.MustSeed(t, "..")
	return rules
}

// TestBootstrapOnce: several processes (services with their own
// authorizers) start together on one empty database. One seeds the policy
// and makes the first admin; the others find both done.
func TestBootstrapOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	seed := mustSeed(t)
	for round := range 5 {
		db := mustStore(t)
		const n = 4
		var wg sync.WaitGroup
		generated := make([]string, n)
		errs := make([]error, n)
		for i := range n {
			svc := mustService(t, db)
			wg.Go(func() { generated[i], errs[i] = svc.Bootstrap(ctx, seed, "admin@example.com", "") })
		}
		wg.Wait()
		shown := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("round %d: start-up %d: %v", round, i, errs[i])
			}
			if generated[i] != "" {
				shown++
			}
		}
		var users, rules int
		err := db.View(ctx, func(tx store.Tx) error {
			var err error
			if users, err = tx.Users().Count(); err != nil {
				return err
			}
			return tx.Rules().ForEach(func(store.Rule) error { rules++; return nil })
		})
		if err != nil {
			t.Fatal(err)
		}
		// The seed's rules, and the admin's role link.
		if shown != 1 || users != 1 || rules != len(seed)+1 {
			t.Fatalf("round %d: %d passwords shown, %d users, %d rules; want 1, 1 and %d", round, shown, users, rules, len(seed)+1)
		}
	}
}

// TestAccountsAreMadeOneWay: an admin's account, a sign-up and the first
// admin are made by one path, each with its audit record naming who made
// it; input problems are refused by field before anything is stored.
func TestAccountsAreMadeOneWay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustStore(t)
	svc := mustService(t, db)
	if _, err := svc.Bootstrap(ctx, mustSeed(t), "admin@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
	admin := Actor{ID: 1, Name: "admin@example.com"}
	made, err := svc.CreateUser(ctx, admin, NewUser{Email: " Bob@Example.com ", Name: "Bob", Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	if made.Email != "Bob@Example.com" || len(made.Roles) != 1 || made.Roles[0] != "user" {
		t.Fatalf("made %+v: want the trimmed email and the role user", made)
	}
	self, err := svc.Register(ctx, "carol@example.com", "Carol", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Register(ctx, "BOB@example.com", "Not Bob", testPassword)
	if !errors.Is(err, ErrEmailTaken) || !errors.Is(err, store.ErrConflict) {
		t.Fatalf("sign-up with a taken email: %v, want ErrEmailTaken", err)
	}
	_, err = svc.CreateUser(ctx, admin, NewUser{Email: "nope", Name: "x\x00", Password: "short", Roles: []string{"Bad Role"}})
	var refusal *Error
	if !errors.As(err, &refusal) || refusal.Kind != Invalid || len(refusal.Details) != 4 {
		t.Fatalf("bad input: %v, want four fields refused", err)
	}
	var recs []store.AuditRecord
	err = db.View(ctx, func(tx store.Tx) (err error) { recs, _, err = tx.Audit().List(store.Page{}); return err })
	if err != nil {
		t.Fatal(err)
	}
	type rec struct{ actor, action, target string }
	want := []rec{ // newest first
		{"carol@example.com", "user.register", "user:" + self.ID},
		{"admin@example.com", "user.create", "user:" + made.ID},
		{"bootstrap", "user.create", "user:1"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d audit records, want %d: %+v", len(recs), len(want), recs)
	}
	for i, w := range want {
		if got := (rec{recs[i].Actor, recs[i].Action, recs[i].Target}); got != w {
			t.Errorf("audit record %d: %+v, want %+v", i, got, w)
		}
	}
	if recs[0].ActorID == 0 || store.FormatID(recs[0].ActorID) != self.ID {
		t.Errorf("sign-up recorded as made by %d, want the new user %s", recs[0].ActorID, self.ID)
	}
}
