package bolt

import (
	"encoding/json"
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// rules implements store.Rules: rules by id, an index by content
// (store.RuleKey) for uniqueness, and one by subject value.
type rules struct{ *Tx }

// refKey indexes a rule under one of its subject values.
func refKey(value string, id uint64) []byte {
	return concat([]byte(value), []byte{0}, itob(id))
}

// indexedValues are the values a rule is found under by Referencing: the
// subject of every rule, and for role links also the role or group.
func indexedValues(r store.Rule) []string {
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

// changed records a change and moves the policy version on the first one.
func (tx rules) changed(c store.RuleChange) error {
	if tx.version == 0 {
		v, err := tx.Version()
		if err != nil {
			return err
		}
		tx.version = v + 1
		if err := tx.bucket(bucketMeta).Put(keyPolicyVersion, itob(tx.version)); err != nil {
			return err
		}
	}
	tx.changes = append(tx.changes, c)
	return nil
}

func (tx rules) Version() (uint64, error) {
	if tx.version != 0 {
		return tx.version, nil
	}
	if v, ok := tx.cache.version.get(tx.tx, struct{}{}); ok {
		return v, nil
	}
	var version uint64
	switch v := tx.bucket(bucketMeta).Get(keyPolicyVersion); {
	case v == nil: // no change yet
	case len(v) != 8:
		return 0, fmt.Errorf("store: policy version of %d bytes", len(v))
	default:
		version = btoi(v)
	}
	tx.cache.version.put(tx.tx, struct{}{}, version, 8)
	return version, nil
}

func (tx rules) Changes() []store.RuleChange { return tx.changes }

func (tx rules) Add(typ string, values []string) (store.Rule, error) {
	key := []byte(store.RuleKey(typ, values))
	if tx.bucket(bucketRulesByKey).Get(key) != nil {
		return store.Rule{}, fmt.Errorf("store: rule %s %q: %w", typ, values, store.ErrConflict)
	}
	id, err := tx.bucket(bucketRules).NextSequence()
	if err != nil {
		return store.Rule{}, err
	}
	r := store.Rule{ID: id, Type: typ, Values: append([]string(nil), values...)}
	if err := tx.bucket(bucketRulesByKey).Put(key, itob(id)); err != nil {
		return store.Rule{}, err
	}
	for _, v := range indexedValues(r) {
		if err := tx.bucket(bucketRulesByValue).Put(refKey(v, id), nil); err != nil {
			return store.Rule{}, err
		}
	}
	if err := tx.putJSON(bucketRules, itob(id), r); err != nil {
		return store.Rule{}, err
	}
	return r, tx.changed(store.RuleChange{Added: true, Rule: r})
}

func (tx rules) Get(id uint64) (store.Rule, error) {
	var r store.Rule
	if err := tx.getJSON(bucketRules, itob(id), &r); err != nil {
		return r, fmt.Errorf("store: rule %d: %w", id, err)
	}
	return r, nil
}

func (tx rules) Find(typ string, values []string) (store.Rule, error) {
	id := tx.bucket(bucketRulesByKey).Get([]byte(store.RuleKey(typ, values)))
	if id == nil {
		return store.Rule{}, fmt.Errorf("store: rule %s %q: %w", typ, values, store.ErrNotFound)
	}
	return tx.Get(btoi(id))
}

func (tx rules) Remove(id uint64) (store.Rule, error) {
	r, err := tx.Get(id)
	if err != nil {
		return r, err
	}
	if err := tx.bucket(bucketRulesByKey).Delete([]byte(store.RuleKey(r.Type, r.Values))); err != nil {
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
	return r, tx.changed(store.RuleChange{Added: false, Rule: r})
}

func (tx rules) Referencing(value string) ([]store.Rule, error) {
	var out []store.Rule
	prefix := concat([]byte(value), []byte{0})
	c := tx.bucket(bucketRulesByValue).Cursor()
	for k, _ := c.Seek(prefix); k != nil && len(k) == len(prefix)+8 && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
		r, err := tx.Get(btoi(k[len(prefix):]))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
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

// forEachChunk is how many rules ForEach decodes before it calls fn on
// them: the bbolt cursor is not used while fn runs, so fn may change the
// bucket, and the walk seeks past the last rule of the chunk.
const forEachChunk = 1024

func (tx rules) ForEach(fn func(store.Rule) error) error {
	var after []byte
	chunk := make([]store.Rule, 0, forEachChunk)
	for {
		chunk = chunk[:0]
		c := tx.bucket(bucketRules).Cursor()
		k, v := c.First()
		if after != nil {
			k, v = c.Seek(after)
			if k != nil && string(k) == string(after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(chunk) < forEachChunk; k, v = c.Next() {
			var r store.Rule
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			chunk = append(chunk, r)
		}
		if len(chunk) == 0 {
			return nil
		}
		after = itob(chunk[len(chunk)-1].ID)
		for _, r := range chunk {
			if err := fn(r); err != nil {
				return err
			}
		}
		if k == nil {
			return nil
		}
	}
}

func (tx rules) Any() (bool, error) {
	k, _ := tx.bucket(bucketRules).Cursor().First()
	return k != nil, nil
}

func (tx rules) List(p store.Page) ([]store.Rule, string, error) {
	var out []store.Rule
	next, err := scan(tx.bucket(bucketRules), nil, true, p, false, func(_, v []byte) (bool, error) {
		var r store.Rule
		if err := json.Unmarshal(v, &r); err != nil {
			return false, err
		}
		out = append(out, r)
		return true, nil
	})
	return out, next, err
}
