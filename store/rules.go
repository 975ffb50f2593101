package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// Rule is one policy rule: Type is the model section ("p", "g") and Values
// its fields in the model's order. Values are stored as a JSON array, so a
// value may hold commas, quotes or anything else but NUL.
type Rule struct {
	ID     uint64   `json:"id"`
	Type   string   `json:"type"`
	Values []string `json:"values"`
}

// RuleChange is one rule added or removed by a transaction.
type RuleChange struct {
	Added bool
	Rule  Rule
}

// ruleKey is the identity of a rule's content: length-prefixed fields, so no
// choice of values can make two different rules collide.
func ruleKey(typ string, values []string) []byte {
	var b []byte
	for _, s := range append([]string{typ}, values...) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// refKey indexes a rule under one of its subject values.
func refKey(value string, id uint64) []byte {
	return concat([]byte(value), []byte{0}, itob(id))
}

// indexedValues are the values a rule is found under by RulesReferencing:
// the subject of every rule, and for role links also the role or group.
func indexedValues(r Rule) []string {
	switch {
	case len(r.Values) == 0:
		return nil
	case r.Type != "" && r.Type[0] == 'g' && len(r.Values) > 1:
		if r.Values[0] == r.Values[1] {
			return r.Values[:1]
		}
		return r.Values[:2]
	default:
		return r.Values[:1]
	}
}

// AddRule stores a new rule. A rule with the same type and values is
// ErrConflict.
func (tx *Tx) AddRule(typ string, values []string) (Rule, error) {
	key := ruleKey(typ, values)
	if tx.bucket(bucketRulesByKey).Get(key) != nil {
		return Rule{}, fmt.Errorf("store: rule %s %q: %w", typ, values, ErrConflict)
	}
	id, err := tx.bucket(bucketRules).NextSequence()
	if err != nil {
		return Rule{}, err
	}
	r := Rule{ID: id, Type: typ, Values: append([]string(nil), values...)}
	if err := tx.bucket(bucketRulesByKey).Put(key, itob(id)); err != nil {
		return Rule{}, err
	}
	for _, v := range indexedValues(r) {
		if err := tx.bucket(bucketRulesByValue).Put(refKey(v, id), nil); err != nil {
			return Rule{}, err
		}
	}
	if err := tx.putJSON(bucketRules, itob(id), r); err != nil {
		return Rule{}, err
	}
	tx.changes = append(tx.changes, RuleChange{Added: true, Rule: r})
	return r, nil
}

// Rule returns the rule with id.
func (tx *Tx) Rule(id uint64) (Rule, error) {
	var r Rule
	if err := tx.getJSON(bucketRules, itob(id), &r); err != nil {
		return r, fmt.Errorf("store: rule %d: %w", id, err)
	}
	return r, nil
}

// FindRule returns the rule with this type and values.
func (tx *Tx) FindRule(typ string, values []string) (Rule, error) {
	id := tx.bucket(bucketRulesByKey).Get(ruleKey(typ, values))
	if id == nil {
		return Rule{}, fmt.Errorf("store: rule %s %q: %w", typ, values, ErrNotFound)
	}
	return tx.Rule(btoi(id))
}

// RemoveRule removes the rule with id.
func (tx *Tx) RemoveRule(id uint64) (Rule, error) {
	r, err := tx.Rule(id)
	if err != nil {
		return r, err
	}
	if err := tx.bucket(bucketRulesByKey).Delete(ruleKey(r.Type, r.Values)); err != nil {
		return r, err
	}
	for _, v := range indexedValues(r) {
		if err := tx.bucket(bucketRulesByValue).Delete(refKey(v, id)); err != nil {
			return r, err
		}
	}
	if err := tx.bucket(bucketRules).Delete(itob(id)); err != nil {
		return r, err
	}
	tx.changes = append(tx.changes, RuleChange{Added: false, Rule: r})
	return r, nil
}

// RulesReferencing returns the rules whose subject is value, and the role
// links ("g" rules) that point at value.
func (tx *Tx) RulesReferencing(value string) ([]Rule, error) {
	var out []Rule
	prefix := concat([]byte(value), []byte{0})
	c := tx.bucket(bucketRulesByValue).Cursor()
	for k, _ := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
		r, err := tx.Rule(btoi(k[len(prefix):]))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// RemoveRulesReferencing removes every rule RulesReferencing finds.
func (tx *Tx) RemoveRulesReferencing(value string) ([]Rule, error) {
	rules, err := tx.RulesReferencing(value)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		if _, err := tx.RemoveRule(r.ID); err != nil {
			return nil, err
		}
	}
	return rules, nil
}

// ForEachRule calls fn for every rule in id order.
func (tx *Tx) ForEachRule(fn func(Rule) error) error {
	return tx.bucket(bucketRules).ForEach(func(_, v []byte) error {
		var r Rule
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		return fn(r)
	})
}

// HasRules reports whether any rule is stored.
func (tx *Tx) HasRules() bool {
	k, _ := tx.bucket(bucketRules).Cursor().First()
	return k != nil
}

// ListRules returns a page of rules in id order.
func (tx *Tx) ListRules(p Page) ([]Rule, string, error) {
	var out []Rule
	next, err := scan(tx.bucket(bucketRules), nil, p, false, func(_, v []byte) (bool, error) {
		var r Rule
		if err := json.Unmarshal(v, &r); err != nil {
			return false, err
		}
		out = append(out, r)
		return true, nil
	})
	return out, next, err
}
