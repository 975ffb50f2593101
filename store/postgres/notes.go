package postgres

import (
	"fmt"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
)

// notes implements store.Notes over the notes table.
type notes struct{ *Tx }

const noteColumns = `id, owner_id, title, body, created_at, updated_at`

func scanNote(r pgx.Row) (store.Note, error) {
	var n store.Note
	err := r.Scan(&n.ID, &n.OwnerID, &n.Title, &n.Body, &n.CreatedAt, &n.UpdatedAt)
	n.CreatedAt, n.UpdatedAt = utc(n.CreatedAt), utc(n.UpdatedAt)
	return n, err
}

func (tx notes) Create(n *store.Note) error {
	if _, err := (users{tx.Tx}).Get(n.OwnerID); err != nil {
		return err
	}
	n.CreatedAt, n.UpdatedAt = tx.now, tx.now
	return tx.scanOne("create note", `INSERT INTO notes (owner_id, title, body, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4) RETURNING id`, []any{n.OwnerID, n.Title, n.Body, tx.now}, &n.ID)
}

func (tx notes) Get(id uint64) (store.Note, error) {
	n, err := scanNote(tx.tx.QueryRow(tx.ctx, "SELECT "+noteColumns+" FROM notes WHERE id = $1", id))
	return n, tx.rowErr(fmt.Sprintf("note %d", id), err)
}

func (tx notes) Update(n *store.Note) error {
	err := tx.scanOne(fmt.Sprintf("note %d", n.ID), `UPDATE notes SET title = $2, body = $3, updated_at = $4
		WHERE id = $1 RETURNING owner_id, created_at`, []any{n.ID, n.Title, n.Body, tx.now}, &n.OwnerID, &n.CreatedAt)
	n.CreatedAt, n.UpdatedAt = utc(n.CreatedAt), tx.now
	return err
}

func (tx notes) Delete(id uint64) error {
	c, err := tx.exec("delete note", "DELETE FROM notes WHERE id = $1", id)
	if err == nil && c == 0 {
		err = fmt.Errorf("store: note %d: %w", id, store.ErrNotFound)
	}
	return err
}

func (tx notes) List(owner uint64, p store.Page) ([]store.Note, string, error) {
	after, err := p.ID()
	if err != nil {
		return nil, "", err
	}
	list, err := collect(tx.Tx, "list notes", "SELECT "+noteColumns+` FROM notes
		WHERE id > $1 AND ($2 = 0 OR owner_id = $2) ORDER BY id LIMIT $3`, []any{after, owner, p.Size() + 1}, scanNote)
	if err != nil {
		return nil, "", err
	}
	list, next := page(list, p, func(n store.Note) string { return store.IDCursor(n.ID) })
	return list, next, nil
}
