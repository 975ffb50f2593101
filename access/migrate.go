package access

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// Upgrading the policy of a database seeded by an older policy.csv. The
// seed is loaded only into a database without rules, so a database made
// before a seed rule was tightened keeps the old rule. Each migration below
// names one rule exactly as an older seed wrote it and the rules the
// current seed has in its place; UpgradePolicy replaces the first with the
// second wherever the old rule is still stored word for word. A rule an
// operator changed in any way is not the old seed's and is left alone.

// policyMigration is one superseded seed rule and what replaces it.
type policyMigration struct {
	// Name is what the audit log and the start-up log call it.
	Name string
	// Old is the superseded rule: type, then values.
	Old []string
	// New are the rules that replace it, each type then values.
	New [][]string
}

// policyMigrations are the seed rules later releases replaced, oldest first.
var policyMigrations = []policyMigration{
	{
		// One rule gave admins every /api/admin/users route, the
		// second-factor reset included, so a credential without a proven
		// second factor could reset anyone's factor; and it is the only rule
		// that granted the one-role routes.
		Name: "admin-users-split",
		Old:  []string{"p", "role:admin", "/api/admin/users*", "*", "*"},
		New: [][]string{
			{"p", "role:admin", "/api/admin/users", "*", "*"},
			{"p", "role:admin", "/api/admin/users/:id", "*", "*"},
			{"p", "role:admin", "/api/admin/users/:id/sessions", "*", "*"},
			{"p", "role:admin", "/api/admin/users/:id/roles/:role", "*", "*"},
			{"p", "role:admin", "/api/admin/users/:id/mfa", "DELETE", "mfa"},
		},
	},
	{
		// The backup holds password hashes and second-factor secrets.
		Name: "backup-mfa",
		Old:  []string{"p", "role:admin", "/api/admin/backup", "GET", "*"},
		New:  [][]string{{"p", "role:admin", "/api/admin/backup", "GET", "mfa"}},
	},
}

// Upgrader is the start-up's own actor for policy migrations.
var Upgrader = Actor{Name: "policy-upgrade"}

// PolicyUpgrade is one migration UpgradePolicy applied.
type PolicyUpgrade struct {
	Name    string
	Removed api.Rule
	Added   []api.Rule
}

// UpgradePolicy applies every migration whose superseded seed rule the
// database still holds, in one policy change: the last-admin guard decides
// it like any other, it moves the policy version (other instances pick it
// up as they pick up every change), and each migration is one audit record
// ("policy.migrate", by Upgrader). Instances starting together apply it
// once: the transaction looks for the old rules itself. It returns what it
// applied; nothing on a database seeded by the current policy.csv.
func (s *Service) UpgradePolicy(ctx context.Context) ([]PolicyUpgrade, error) {
	var done []PolicyUpgrade
	err := s.mutate(ctx, func(tx store.Tx) error {
		done = done[:0]
		for _, m := range policyMigrations {
			old, err := tx.Rules().Find(m.Old[0], m.Old[1:])
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if _, err := tx.Rules().Remove(old.ID); err != nil {
				return err
			}
			up := PolicyUpgrade{Name: m.Name, Removed: RuleView(old)}
			for _, r := range m.New {
				added, err := s.authz.AddRule(tx, r[0], r[1:])
				if errors.Is(err, store.ErrConflict) {
					continue // the database has it already
				} else if err != nil {
					return err
				}
				up.Added = append(up.Added, RuleView(added))
			}
			if err := Record(tx, Upgrader, "policy.migrate", targetPolicy, up.Removed, migrationRecord{Migration: m.Name, Added: up.Added}); err != nil {
				return err
			}
			done = append(done, up)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return done, nil
}

// migrationRecord is the after side of a migration's audit record.
type migrationRecord struct {
	Migration string     `json:"migration"`
	Added     []api.Rule `json:"added_rules"`
}

// RuleText is a rule as policy.csv writes it ("p, role:admin, /x, GET, *").
func RuleText(r api.Rule) string {
	return r.Type + ", " + strings.Join(r.Rule, ", ")
}
