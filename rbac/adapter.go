package rbac

import (
	"context"
	"errors"

	"github.com/casbin/casbin/v2/model"
	"github.com/casbin/casbin/v2/persist"
	"github.com/gatehouse/gatehouse/store"
)

// Adapter is a Casbin adapter over the storage contract: a rule is a type
// and a list of values, so values may hold commas and quotes. It lets a plain
// Casbin enforcer load and save the same policy the server uses; the server
// itself changes rules through Authorizer.Mutate.
type Adapter struct {
	db store.Store
}

// NewAdapter returns an adapter of db.
func NewAdapter(db store.Store) *Adapter { return &Adapter{db: db} }

var (
	_ persist.BatchAdapter     = (*Adapter)(nil)
	_ persist.UpdatableAdapter = (*Adapter)(nil)
)

// LoadPolicy loads every stored rule into m.
func (a *Adapter) LoadPolicy(m model.Model) error {
	return a.db.View(context.Background(), func(tx store.Tx) error {
		return tx.Rules().ForEach(func(r store.Rule) error {
			return persist.LoadPolicyArray(append([]string{r.Type}, r.Values...), m)
		})
	})
}

// SavePolicy replaces the stored policy with the rules of m, in one
// transaction.
func (a *Adapter) SavePolicy(m model.Model) error {
	return a.db.Update(context.Background(), func(tx store.Tx) error {
		var ids []uint64
		if err := tx.Rules().ForEach(func(r store.Rule) error { ids = append(ids, r.ID); return nil }); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.Rules().Remove(id); err != nil {
				return err
			}
		}
		for _, sec := range []string{"p", "g"} {
			for ptype, ast := range m[sec] {
				for _, rule := range ast.Policy {
					if _, err := tx.Rules().Add(ptype, rule); err != nil && !errors.Is(err, store.ErrConflict) {
						return err
					}
				}
			}
		}
		return nil
	})
}

// AddPolicy stores one rule.
func (a *Adapter) AddPolicy(_ string, ptype string, rule []string) error {
	return a.AddPolicies("", ptype, [][]string{rule})
}

// AddPolicies stores rules in one transaction.
func (a *Adapter) AddPolicies(_ string, ptype string, rules [][]string) error {
	return a.db.Update(context.Background(), func(tx store.Tx) error {
		for _, r := range rules {
			if _, err := tx.Rules().Add(ptype, r); err != nil {
				return err
			}
		}
		return nil
	})
}

// RemovePolicy removes one rule.
func (a *Adapter) RemovePolicy(_ string, ptype string, rule []string) error {
	return a.RemovePolicies("", ptype, [][]string{rule})
}

// RemovePolicies removes rules in one transaction.
func (a *Adapter) RemovePolicies(_ string, ptype string, rules [][]string) error {
	return a.db.Update(context.Background(), func(tx store.Tx) error {
		for _, r := range rules {
			if err := removeByValues(tx, ptype, r); err != nil {
				return err
			}
		}
		return nil
	})
}

func removeByValues(tx store.Tx, ptype string, values []string) error {
	r, err := tx.Rules().Find(ptype, values)
	if err != nil {
		return err
	}
	_, err = tx.Rules().Remove(r.ID)
	return err
}

// RemoveFilteredPolicy removes the rules of ptype whose values from
// fieldIndex on equal fieldValues (an empty filter value matches anything).
func (a *Adapter) RemoveFilteredPolicy(_ string, ptype string, fieldIndex int, fieldValues ...string) error {
	return a.db.Update(context.Background(), func(tx store.Tx) error {
		_, err := removeFilteredTx(tx, ptype, fieldIndex, fieldValues)
		return err
	})
}

func removeFilteredTx(tx store.Tx, ptype string, fieldIndex int, fieldValues []string) ([][]string, error) {
	var removed [][]string
	var ids []uint64
	err := tx.Rules().ForEach(func(r store.Rule) error {
		if r.Type == ptype && filterMatches(r.Values, fieldIndex, fieldValues) {
			ids = append(ids, r.ID)
			removed = append(removed, r.Values)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, err := tx.Rules().Remove(id); err != nil {
			return nil, err
		}
	}
	return removed, nil
}

func filterMatches(values []string, fieldIndex int, fieldValues []string) bool {
	if fieldIndex < 0 || fieldIndex+len(fieldValues) > len(values) {
		return false
	}
	for i, fv := range fieldValues {
		if fv != "" && values[fieldIndex+i] != fv {
			return false
		}
	}
	return true
}

// UpdatePolicy replaces one rule with another.
func (a *Adapter) UpdatePolicy(_ string, ptype string, oldRule, newRule []string) error {
	return a.UpdatePolicies("", ptype, [][]string{oldRule}, [][]string{newRule})
}

// UpdatePolicies replaces rules pairwise, in one transaction.
func (a *Adapter) UpdatePolicies(_ string, ptype string, oldRules, newRules [][]string) error {
	if len(oldRules) != len(newRules) {
		return errors.New("rbac: adapter: old and new rules differ in number")
	}
	return a.db.Update(context.Background(), func(tx store.Tx) error {
		for i := range oldRules {
			if err := removeByValues(tx, ptype, oldRules[i]); err != nil {
				return err
			}
			if _, err := tx.Rules().Add(ptype, newRules[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdateFilteredPolicies removes the rules the filter matches and adds
// newRules, returning the removed ones.
func (a *Adapter) UpdateFilteredPolicies(_ string, ptype string, newRules [][]string, fieldIndex int, fieldValues ...string) ([][]string, error) {
	var removed [][]string
	err := a.db.Update(context.Background(), func(tx store.Tx) error {
		var err error
		if removed, err = removeFilteredTx(tx, ptype, fieldIndex, fieldValues); err != nil {
			return err
		}
		for _, r := range newRules {
			if _, err := tx.Rules().Add(ptype, r); err != nil {
				return err
			}
		}
		return nil
	})
	return removed, err
}
