package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// TestServeUpgradesAnOldSeedPolicy: a database written by a release whose
// seed gave admins /api/admin/users* and the backup without the second
// factor (its rules written here through the store) is served with the
// current seed's rules in their place, recorded in the audit log.
func TestServeUpgradesAnOldSeedPolicy(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "gatehouse.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.ReadFile("../../policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(context.Background(), func(tx store.Tx) error {
		for _, line := range strings.Split(string(f), "\n") {
			if line == "" || strings.HasPrefix(line, "#") || strings.Contains(line, "/api/admin/users") {
				continue // the old seed had one rule for these, below
			}
			line = strings.Replace(line, "/api/admin/backup, GET, mfa", "/api/admin/backup, GET, *", 1)
			v := strings.Split(line, ", ")
			if _, err := tx.Rules().Add(v[0], v[1:]); err != nil {
				return err
			}
		}
		if _, err := tx.Rules().Add("p", []string{"role:admin", "/api/admin/users*", "*", "*"}); err != nil {
			return err
		}
		u := store.User{Email: "admin@localhost", Name: "Admin", PasswordHash: "x"}
		if err := tx.Users().Create(&u); err != nil {
			return err
		}
		_, err := tx.Rules().Add("g", []string{rbac.UserSubject(u.ID), "role:admin"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	_, _, stop := startServe(t, map[string]string{"GATEHOUSE_DB": path})
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	db, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(context.Background(), func(tx store.Tx) error {
		if _, err := tx.Rules().Find("p", []string{"role:admin", "/api/admin/users*", "*", "*"}); err == nil {
			t.Error("the old /api/admin/users* rule is still there")
		}
		for _, want := range [][]string{
			{"role:admin", "/api/admin/users/:id/mfa", "DELETE", "mfa"},
			{"role:admin", "/api/admin/users/:id/roles/:role", "*", "*"},
			{"role:admin", "/api/admin/backup", "GET", "mfa"},
		} {
			if _, err := tx.Rules().Find("p", want); err != nil {
				t.Errorf("rule %v: %v", want, err)
			}
		}
		recs, _, err := tx.Audit().List(store.Page{Limit: 100})
		if err != nil {
			return err
		}
		n := 0
		for _, r := range recs {
			if r.Action == "policy.migrate" {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d policy.migrate audit records, want 2", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
