package rbac

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// TestLastAdminGuardAcrossAuthorizers: two authorizers on one database
// stand for two server processes, each with its own lock and engine; the
// second one's engine is stale (it loaded the empty database, the first
// seeded it and made the admins). Two admins demote each other at once,
// one through each: exactly one change is refused with ErrLastAdmin and
// one admin is left, because the guard decides on what the store
// transaction reads, not on a process lock or a stale engine.
func TestLastAdminGuardAcrossAuthorizers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := mustModel(t)
	for round := range 10 {
		db, err := bolt.Open(filepath.Join(t.TempDir(), fmt.Sprint(round, ".db")), bolt.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		one, err := New(ctx, db, m)
		if err != nil {
			t.Fatal(err)
		}
		two, err := New(ctx, db, m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := one.Seed(ctx, mustSeed(t, m)); err != nil {
			t.Fatal(err)
		}
		var ids [2]uint64
		err = one.Mutate(ctx, func(tx store.Tx) error {
			for i := range ids {
				u := store.User{Email: fmt.Sprintf("admin%d@example.com", i)}
				if err := tx.Users().Create(&u); err != nil {
					return err
				}
				if _, err := one.AddRule(tx, "g", []string{UserSubject(u.ID), RoleAdmin}); err != nil {
					return err
				}
				ids[i] = u.ID
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		demote := func(a *Authorizer, id uint64) error {
			return a.Mutate(ctx, func(tx store.Tx) error {
				r, err := tx.Rules().Find("g", []string{UserSubject(id), RoleAdmin})
				if err != nil {
					return err
				}
				_, err = tx.Rules().Remove(r.ID)
				return err
			})
		}
		if two.Version() != 0 || one.Version() == 0 {
			t.Fatalf("round %d: versions %d and %d: the second authorizer's engine was meant to be stale", round, one.Version(), two.Version())
		}
		var wg sync.WaitGroup
		var errs [2]error
		wg.Go(func() { errs[0] = demote(one, ids[1]) })
		wg.Go(func() { errs[1] = demote(two, ids[0]) })
		wg.Wait()
		refused := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, ErrLastAdmin):
				refused++
			case err != nil:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		var left int
		if err := db.View(ctx, func(tx store.Tx) (err error) { left, err = countAdmins(tx); return err }); err != nil {
			t.Fatal(err)
		}
		if refused != 1 || left != 1 {
			t.Fatalf("round %d: %d changes refused, %d admins left; want 1 and 1", round, refused, left)
		}
	}
}

// TestVersionFollowsTheStore: an authorizer loads the store's policy
// version with its rules and moves to each version its own changes commit.
func TestVersionFollowsTheStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "g.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := mustModel(t)
	a, err := New(ctx, db, m)
	if err != nil {
		t.Fatal(err)
	}
	if seeded, err := a.Seed(ctx, mustSeed(t, m)); err != nil || !seeded {
		t.Fatalf("seed: %v %v", seeded, err)
	}
	if v := a.Version(); v != 1 {
		t.Fatalf("after the seed: version %d, want 1", v)
	}
	err = a.Mutate(ctx, func(tx store.Tx) error {
		_, err := a.AddRule(tx, "g", []string{"user:7", "role:editor"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(ctx, db, m)
	if err != nil {
		t.Fatal(err)
	}
	if a.Version() != 2 || b.Version() != 2 {
		t.Fatalf("versions %d (changed) and %d (loaded), want 2", a.Version(), b.Version())
	}
}
