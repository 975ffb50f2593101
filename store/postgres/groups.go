package postgres

import (
	"fmt"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
)

// groups implements store.Groups over the groups table, keyed by name.
type groups struct{ *Tx }

func scanGroup(r pgx.Row) (store.Group, error) {
	var g store.Group
	err := r.Scan(&g.Name, &g.Description, &g.CreatedAt)
	g.CreatedAt = utc(g.CreatedAt)
	return g, err
}

func (tx groups) Create(g *store.Group) error {
	if _, err := tx.Get(g.Name); err == nil {
		return fmt.Errorf("store: group %s: %w", g.Name, store.ErrConflict)
	} else if !isNotFound(err) {
		return err
	}
	g.CreatedAt = tx.now
	_, err := tx.exec("create group "+g.Name, "INSERT INTO groups (name, description, created_at) VALUES ($1, $2, $3)",
		g.Name, g.Description, g.CreatedAt)
	return err
}

func (tx groups) Get(name string) (store.Group, error) {
	g, err := scanGroup(tx.tx.QueryRow(tx.ctx, "SELECT name, description, created_at FROM groups WHERE name = $1", name))
	return g, tx.rowErr("group "+name, err)
}

func (tx groups) Update(g *store.Group) error {
	err := tx.scanOne("group "+g.Name, "UPDATE groups SET description = $2 WHERE name = $1 RETURNING created_at",
		[]any{g.Name, g.Description}, &g.CreatedAt)
	g.CreatedAt = utc(g.CreatedAt)
	return err
}

func (tx groups) Delete(name string) error {
	n, err := tx.exec("delete group", "DELETE FROM groups WHERE name = $1", name)
	if err == nil && n == 0 {
		err = fmt.Errorf("store: group %s: %w", name, store.ErrNotFound)
	}
	return err
}

func (tx groups) List(p store.Page) ([]store.Group, string, error) {
	after, err := p.Key()
	if err != nil {
		return nil, "", err
	}
	list, err := collect(tx.Tx, "list groups", `SELECT name, description, created_at FROM groups
		WHERE name > $1 ORDER BY name LIMIT $2`, []any{after, p.Size() + 1}, scanGroup)
	if err != nil {
		return nil, "", err
	}
	list, next := page(list, p, func(g store.Group) string { return store.KeyCursor(g.Name) })
	return list, next, nil
}
