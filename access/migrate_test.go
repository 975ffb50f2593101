package access

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// oldSeed is the policy.csv of the first releases, before the admin rules
// of /api/admin/users were split and the backup needed the second factor.
const oldSeed = `p, anonymous, /api/health, GET, *
p, anonymous, /api/auth/login, POST, *
p, anonymous, /api/auth/register, POST, *
g, role:user, anonymous
p, role:user, /api/auth/logout, POST, *
p, role:user, /api/auth/me, GET, *
p, role:user, /api/auth/me, PATCH, *
p, role:user, /api/auth/mfa/setup, POST, *
p, role:user, /api/auth/mfa/enable, POST, *
p, role:user, /api/auth/mfa, DELETE, *
p, role:user, /api/auth/tokens, GET, *
p, role:user, /api/auth/tokens, POST, *
p, role:user, /api/auth/tokens/:id, DELETE, owner
p, role:user, /api/notes, GET, *
p, role:user, /api/notes, POST, *
p, role:user, /api/notes/:id, GET, owner
p, role:user, /api/notes/:id, PATCH, owner
p, role:user, /api/notes/:id, DELETE, owner
p, role:editor, /api/notes/:id, GET, *
p, role:editor, /api/notes/:id, PATCH, *
p, role:admin, /api/notes*, *, *
p, role:admin, /api/admin/users*, *, *
p, role:admin, /api/admin/groups*, *, *
p, role:admin, /api/admin/policies*, *, mfa
p, role:admin, /api/admin/audit, GET, *
p, role:admin, /api/admin/auth-failures*, GET, *
p, role:admin, /api/admin/routes, GET, *
p, role:admin, /api/admin/backup, GET, *
p, group:auditors, /api/admin/audit, GET, *
p, group:auditors, /api/admin/auth-failures*, GET, *
g, role:admin, role:user
g, role:editor, role:user
g, group:staff, role:editor`

// mustOldDatabase writes the old seed's rules and an admin with a second
// factor straight through the store, as a database of that release holds
// them, and returns the admin.
func mustOldDatabase(t *testing.T, db store.Store, extra ...[]string) store.User {
	t.Helper()
	admin := store.User{Email: "root@example.com", Name: "Root", PasswordHash: "x"}
	admin.MFA.Enabled = true
	err := db.Update(context.Background(), func(tx store.Tx) error {
		for _, line := range strings.Split(oldSeed, "\n") {
			f := strings.Split(line, ", ")
			if _, err := tx.Rules().Add(f[0], f[1:]); err != nil {
				return err
			}
		}
		for _, r := range extra {
			if _, err := tx.Rules().Add(r[0], r[1:]); err != nil {
				return err
			}
		}
		if err := tx.Users().Create(&admin); err != nil {
			return err
		}
		_, err := tx.Rules().Add("g", []string{rbac.UserSubject(admin.ID), "role:admin"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return admin
}

func policyVersion(t *testing.T, db store.Store) uint64 {
	t.Helper()
	var v uint64
	if err := db.View(context.Background(), func(tx store.Tx) (err error) { v, err = tx.Rules().Version(); return err }); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestUpgradePolicyFromOldSeed: on a database seeded by the old
// policy.csv, an admin whose second factor is not proven in the session
// can reset anyone's second factor and download the backup. UpgradePolicy
// replaces the two superseded rules with the current seed's, in one
// policy version, with one audit record each; afterwards the same
// credential meets the step-up, the one-role routes are granted, and a
// second start changes nothing.
func TestUpgradePolicyFromOldSeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustStore(t)
	admin := mustOldDatabase(t, db)
	svc := mustService(t, db)
	unproven := func(obj, act string) rbac.Decision {
		return svc.authz.Decide(rbac.Request{Sub: rbac.UserSubject(admin.ID), Obj: obj, Act: act, MFA: rbac.MFAMissing})
	}
	if !unproven("/api/admin/users/:id/mfa", "DELETE").Allowed || !unproven("/api/admin/backup", "GET").Allowed {
		t.Fatal("the old seed does not have the hole this test is about")
	}
	before := policyVersion(t, db)

	done, err := svc.UpgradePolicy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range done {
		names = append(names, u.Name)
	}
	if !slices.Equal(names, []string{"admin-users-split", "backup-mfa"}) {
		t.Fatalf("applied %v", names)
	}
	if got := policyVersion(t, db); got != before+1 {
		t.Errorf("policy version %d -> %d, want one change", before, got)
	}
	for _, c := range []struct{ obj, act string }{{"/api/admin/users/:id/mfa", "DELETE"}, {"/api/admin/backup", "GET"}} {
		if d := unproven(c.obj, c.act); d.Allowed || !d.StepUp {
			t.Errorf("%s %s without the proven factor: %+v, want the step-up", c.act, c.obj, d)
		}
	}
	for _, c := range []struct{ obj, act string }{
		{"/api/admin/users", "GET"}, {"/api/admin/users/:id", "PATCH"}, {"/api/admin/users/:id/sessions", "DELETE"},
		{"/api/admin/users/:id/roles/:role", "PUT"}, {"/api/admin/users/:id/roles/:role", "DELETE"},
	} {
		if !unproven(c.obj, c.act).Allowed {
			t.Errorf("%s %s: refused after the upgrade", c.act, c.obj)
		}
	}
	// The database's rules are now the current seed's.
	var stored []string
	err = db.View(ctx, func(tx store.Tx) error {
		return tx.Rules().ForEach(func(r store.Rule) error {
			if !strings.HasPrefix(r.Values[0], "user:") {
				stored = append(stored, r.Type+", "+strings.Join(r.Values, ", "))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range mustSeed(t) {
		want = append(want, r.Type+", "+strings.Join(r.Values, ", "))
	}
	slices.Sort(stored)
	slices.Sort(want)
	if !slices.Equal(stored, want) {
		t.Errorf("rules after the upgrade:\n%s\nthe current seed:\n%s", strings.Join(stored, "\n"), strings.Join(want, "\n"))
	}
	// Audited, one record a migration.
	var recs []store.AuditRecord
	if err := db.View(ctx, func(tx store.Tx) (err error) { recs, _, err = tx.Audit().List(store.Page{Limit: 100}); return err }); err != nil {
		t.Fatal(err)
	}
	migrated := 0
	for _, r := range recs {
		if r.Action == "policy.migrate" && r.Actor == Upgrader.Name && r.Target == targetPolicy {
			migrated++
		}
	}
	if migrated != 2 {
		t.Errorf("%d policy.migrate records, want 2: %+v", migrated, recs)
	}
	// Again: nothing to do.
	if done, err := svc.UpgradePolicy(ctx); err != nil || len(done) != 0 {
		t.Fatalf("second upgrade: %v %v", done, err)
	}
	if got := policyVersion(t, db); got != before+1 {
		t.Errorf("a second upgrade moved the policy version to %d", got)
	}
}

// TestUpgradePolicyOnceAcrossInstances: instances starting together on an
// old database apply each migration once.
func TestUpgradePolicyOnceAcrossInstances(t *testing.T) {
	t.Parallel()
	db := mustStore(t)
	mustOldDatabase(t, db)
	const n = 4
	applied := make([]int, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		svc := mustService(t, db)
		wg.Go(func() {
			done, err := svc.UpgradePolicy(context.Background())
			applied[i], errs[i] = len(done), err
		})
	}
	wg.Wait()
	total := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		total += applied[i]
	}
	if total != 2 {
		t.Fatalf("%d migrations applied across %d instances, want 2: %v", total, n, applied)
	}
}

// TestUpgradePolicyLeavesChangedRulesAlone: a rule an operator wrote is
// not the old seed's, even when it resembles it.
func TestUpgradePolicyLeavesChangedRulesAlone(t *testing.T) {
	t.Parallel()
	db := mustStore(t)
	mustOldDatabase(t, db, []string{"p", "group:helpdesk", "/api/admin/users*", "*", "*"})
	svc := mustService(t, db)
	if _, err := svc.UpgradePolicy(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := db.View(context.Background(), func(tx store.Tx) error {
		_, err := tx.Rules().Find("p", []string{"group:helpdesk", "/api/admin/users*", "*", "*"})
		return err
	})
	if err != nil {
		t.Fatalf("the operator's rule: %v", err)
	}
}
