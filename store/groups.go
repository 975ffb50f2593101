package store

import (
	"encoding/json"
	"fmt"
	"time"
)

// Group is a named set of users. Its roles and members are policy rules.
type Group struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
}

// CreateGroup stores a new group; an existing name is ErrConflict.
func (tx *Tx) CreateGroup(g *Group) error {
	b := tx.bucket(bucketGroups)
	if b.Get([]byte(g.Name)) != nil {
		return fmt.Errorf("store: group %s: %w", g.Name, ErrConflict)
	}
	g.CreatedAt = tx.now
	return tx.putJSON(bucketGroups, []byte(g.Name), g)
}

// Group returns the group called name.
func (tx *Tx) Group(name string) (Group, error) {
	var g Group
	if name == "" {
		return g, fmt.Errorf("store: group: %w", ErrNotFound)
	}
	if err := tx.getJSON(bucketGroups, []byte(name), &g); err != nil {
		return g, fmt.Errorf("store: group %s: %w", name, err)
	}
	return g, nil
}

// UpdateGroup stores the description of g.
func (tx *Tx) UpdateGroup(g *Group) error {
	old, err := tx.Group(g.Name)
	if err != nil {
		return err
	}
	g.CreatedAt = old.CreatedAt
	return tx.putJSON(bucketGroups, []byte(g.Name), g)
}

// DeleteGroup removes the group called name. Its rules are the caller's to
// remove in the same transaction.
func (tx *Tx) DeleteGroup(name string) error {
	if _, err := tx.Group(name); err != nil {
		return err
	}
	return tx.bucket(bucketGroups).Delete([]byte(name))
}

// ListGroups returns a page of groups in name order.
func (tx *Tx) ListGroups(p Page) ([]Group, string, error) {
	var out []Group
	next, err := scan(tx.bucket(bucketGroups), nil, p, false, func(_, v []byte) (bool, error) {
		var g Group
		if err := json.Unmarshal(v, &g); err != nil {
			return false, err
		}
		out = append(out, g)
		return true, nil
	})
	return out, next, err
}
