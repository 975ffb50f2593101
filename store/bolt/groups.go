package bolt

import (
	"encoding/json"
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// groups implements store.Groups over the groups bucket, keyed by name.
type groups struct{ *Tx }

func (tx groups) Create(g *store.Group) error {
	b := tx.bucket(bucketGroups)
	if b.Get([]byte(g.Name)) != nil {
		return fmt.Errorf("store: group %s: %w", g.Name, store.ErrConflict)
	}
	g.CreatedAt = tx.now
	return tx.putJSON(bucketGroups, []byte(g.Name), g)
}

func (tx groups) Get(name string) (store.Group, error) {
	var g store.Group
	if name == "" {
		return g, fmt.Errorf("store: group: %w", store.ErrNotFound)
	}
	if err := tx.getJSON(bucketGroups, []byte(name), &g); err != nil {
		return g, fmt.Errorf("store: group %s: %w", name, err)
	}
	return g, nil
}

func (tx groups) Update(g *store.Group) error {
	old, err := tx.Get(g.Name)
	if err != nil {
		return err
	}
	g.CreatedAt = old.CreatedAt
	return tx.putJSON(bucketGroups, []byte(g.Name), g)
}

func (tx groups) Delete(name string) error {
	if _, err := tx.Get(name); err != nil {
		return err
	}
	return tx.bucket(bucketGroups).Delete([]byte(name))
}

func (tx groups) List(p store.Page) ([]store.Group, string, error) {
	var out []store.Group
	next, err := scan(tx.bucket(bucketGroups), nil, false, p, false, func(_, v []byte) (bool, error) {
		var g store.Group
		if err := json.Unmarshal(v, &g); err != nil {
			return false, err
		}
		out = append(out, g)
		return true, nil
	})
	return out, next, err
}
