package postgres

import (
	"fmt"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
)

// rules implements store.Rules over the rules table, with the policy
// version and the change log (policy, policy_changes) kept in the same
// transaction.
type rules struct{ *Tx }

// PolicyChannel is the notification channel on which a transaction that
// changed rules announces its version when it commits.
const PolicyChannel = "gatehouse_policy"

func scanRule(r pgx.Row) (store.Rule, error) {
	var rule store.Rule
	err := r.Scan(&rule.ID, &rule.Type, &rule.Values)
	return rule, err
}

// refs are the values a rule is found under by Referencing: the subject of
// every rule, and for role links also the role or group.
func refs(typ string, values []string) []string {
	switch {
	case len(values) == 0:
		return []string{}
	case typ != "" && typ[0] == 'g' && len(values) > 1:
		if values[0] == values[1] {
			return values[:1]
		}
		return values[:2]
	default:
		return values[:1]
	}
}

// changed records a change in this transaction and in policy_changes. The
// first change of a transaction moves the policy version on, which locks
// its row until commit: transactions that change rules commit one after
// the other, in version order. The version is announced on PolicyChannel
// at commit.
func (tx rules) changed(c store.RuleChange) error {
	if tx.version == 0 {
		var v uint64
		if err := tx.scanOne("policy version", "UPDATE policy SET version = version + 1 RETURNING version", nil, &v); err != nil {
			return err
		}
		if _, err := tx.exec("notify", "SELECT pg_notify($1, $2)", PolicyChannel, fmt.Sprint(v)); err != nil {
			return err
		}
		tx.version = v
	}
	_, err := tx.exec("record rule change", `INSERT INTO policy_changes (version, seq, added, rule_id, type, vals)
		VALUES ($1, $2, $3, $4, $5, $6)`, tx.version, len(tx.changes), c.Added, c.Rule.ID, c.Rule.Type, c.Rule.Values)
	if err != nil {
		return err
	}
	tx.changes = append(tx.changes, c)
	return nil
}

func (tx rules) Version() (uint64, error) {
	if tx.version != 0 {
		return tx.version, nil
	}
	var v uint64
	err := tx.scanOne("policy version", "SELECT version FROM policy", nil, &v)
	return v, err
}

func (tx rules) Changes() []store.RuleChange { return tx.changes }

func (tx rules) Add(typ string, values []string) (store.Rule, error) {
	if _, err := tx.Find(typ, values); err == nil {
		return store.Rule{}, fmt.Errorf("store: rule %s %q: %w", typ, values, store.ErrConflict)
	} else if !isNotFound(err) {
		return store.Rule{}, err
	}
	r := store.Rule{Type: typ, Values: append([]string{}, values...)}
	err := tx.scanOne("add rule", "INSERT INTO rules (type, vals, rule_key, refs) VALUES ($1, $2, $3, $4) RETURNING id",
		[]any{typ, r.Values, []byte(store.RuleKey(typ, values)), refs(typ, values)}, &r.ID)
	if err != nil {
		return store.Rule{}, err
	}
	return r, tx.changed(store.RuleChange{Added: true, Rule: r})
}

func (tx rules) Get(id uint64) (store.Rule, error) {
	r, err := scanRule(tx.tx.QueryRow(tx.ctx, "SELECT id, type, vals FROM rules WHERE id = $1", id))
	return r, tx.rowErr(fmt.Sprintf("rule %d", id), err)
}

func (tx rules) Find(typ string, values []string) (store.Rule, error) {
	r, err := scanRule(tx.tx.QueryRow(tx.ctx, "SELECT id, type, vals FROM rules WHERE rule_key = $1", []byte(store.RuleKey(typ, values))))
	return r, tx.rowErr(fmt.Sprintf("rule %s %q", typ, values), err)
}

func (tx rules) Remove(id uint64) (store.Rule, error) {
	r, err := scanRule(tx.tx.QueryRow(tx.ctx, "DELETE FROM rules WHERE id = $1 RETURNING id, type, vals", id))
	if err := tx.rowErr(fmt.Sprintf("rule %d", id), err); err != nil {
		return store.Rule{}, err
	}
	return r, tx.changed(store.RuleChange{Added: false, Rule: r})
}

func (tx rules) Referencing(value string) ([]store.Rule, error) {
	return collect(tx.Tx, "rules referencing", "SELECT id, type, vals FROM rules WHERE refs @> ARRAY[$1::text] ORDER BY id",
		[]any{value}, scanRule)
}

func (tx rules) RemoveReferencing(value string) ([]store.Rule, error) {
	list, err := tx.Referencing(value)
	if err != nil {
		return nil, err
	}
	for _, r := range list {
		if _, err := tx.Remove(r.ID); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// forEachChunk is how many rules ForEach reads before it calls fn on
// them: no query is open while fn runs, so fn may use the transaction.
const forEachChunk = 1024

func (tx rules) ForEach(fn func(store.Rule) error) error {
	var after uint64
	for {
		chunk, err := collect(tx.Tx, "rules", "SELECT id, type, vals FROM rules WHERE id > $1 ORDER BY id LIMIT $2",
			[]any{after, forEachChunk}, scanRule)
		if err != nil {
			return err
		}
		for _, r := range chunk {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(chunk) < forEachChunk {
			return nil
		}
		after = chunk[len(chunk)-1].ID
	}
}

func (tx rules) Any() (bool, error) {
	var any bool
	err := tx.scanOne("any rule", "SELECT EXISTS (SELECT 1 FROM rules)", nil, &any)
	return any, err
}

func (tx rules) List(p store.Page) ([]store.Rule, string, error) {
	after, err := p.ID()
	if err != nil {
		return nil, "", err
	}
	list, err := collect(tx.Tx, "list rules", "SELECT id, type, vals FROM rules WHERE id > $1 ORDER BY id LIMIT $2",
		[]any{after, p.Size() + 1}, scanRule)
	if err != nil {
		return nil, "", err
	}
	list, next := page(list, p, func(r store.Rule) string { return store.IDCursor(r.ID) })
	return list, next, nil
}
