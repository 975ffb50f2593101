package postgres

import (
	"encoding/json"
	"fmt"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
)

// docs implements store.Docs over the docs table.
type docs struct{ *Tx }

// reservedKinds are names a kind may not take: the bbolt store keeps each
// kind in buckets of its name, and a kind must work on every backend.
var reservedKinds = map[string]bool{
	"meta": true, "users": true, "users_by_email": true, "sessions": true, "sessions_by_id": true,
	"sessions_by_user": true, "notes_by_owner": true, "groups": true, "rules": true, "rules_by_key": true,
	"rules_by_value": true, "audit": true, "auth_failures": true,
}

func checkKind(kind string) error {
	if err := store.CheckKind(kind); err != nil {
		return err
	}
	if kind != "notes" && (reservedKinds[kind] || reservedKinds[kind+"_by_owner"]) {
		return fmt.Errorf("store: %q is the name of one of the store's own collections: choose another kind", kind)
	}
	return nil
}

// withMeta writes the store's fields into the JSON object data: they win
// over what the resource says.
func withMeta(data json.RawMessage, meta store.Owned) (json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if len(data) > 0 {
		if err := json.Unmarshal(data, &fields); err != nil {
			return nil, fmt.Errorf("store: a resource must be a JSON object: %w", err)
		}
	}
	for k, v := range map[string]any{"id": meta.ID, "owner_id": meta.OwnerID, "created_at": meta.CreatedAt, "updated_at": meta.UpdatedAt} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		fields[k] = b
	}
	return json.Marshal(fields)
}

func scanDoc(r pgx.Row) (store.Doc, error) {
	var d store.Doc
	var data string
	err := r.Scan(&d.ID, &d.OwnerID, &data, &d.CreatedAt, &d.UpdatedAt)
	d.Data = json.RawMessage(data)
	d.CreatedAt, d.UpdatedAt = utc(d.CreatedAt), utc(d.UpdatedAt)
	return d, err
}

const docColumns = `id, owner_id, data::text, created_at, updated_at`

func (tx docs) Create(kind string, d *store.Doc) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	if _, err := (users{tx.Tx}).Get(d.OwnerID); err != nil {
		return err
	}
	var id uint64
	err := tx.scanOne("id of "+kind, "SELECT nextval('docs_id_seq')", nil, &id)
	if err != nil {
		return err
	}
	meta := store.Owned{ID: id, OwnerID: d.OwnerID, CreatedAt: tx.now, UpdatedAt: tx.now}
	data, err := withMeta(d.Data, meta)
	if err != nil {
		return err
	}
	if _, err := tx.exec("create "+kind, `INSERT INTO docs (kind, id, owner_id, data, created_at, updated_at)
		VALUES ($1, $2, $3, $4::text::json, $5, $5)`, kind, id, d.OwnerID, string(data), tx.now); err != nil {
		return err
	}
	d.Owned, d.Data = meta, data
	return nil
}

func (tx docs) Get(kind string, id uint64) (store.Doc, error) {
	if err := checkKind(kind); err != nil {
		return store.Doc{}, err
	}
	d, err := scanDoc(tx.tx.QueryRow(tx.ctx, "SELECT "+docColumns+" FROM docs WHERE kind = $1 AND id = $2", kind, id))
	return d, tx.rowErr(fmt.Sprintf("%s %d", kind, id), err)
}

func (tx docs) Update(kind string, d *store.Doc) error {
	old, err := tx.Get(kind, d.ID)
	if err != nil {
		return err
	}
	meta := store.Owned{ID: d.ID, OwnerID: old.OwnerID, CreatedAt: old.CreatedAt, UpdatedAt: tx.now}
	data, err := withMeta(d.Data, meta)
	if err != nil {
		return err
	}
	if _, err := tx.exec("update "+kind, "UPDATE docs SET data = $3::text::json, updated_at = $4 WHERE kind = $1 AND id = $2",
		kind, d.ID, string(data), tx.now); err != nil {
		return err
	}
	d.Owned, d.Data = meta, data
	return nil
}

func (tx docs) Delete(kind string, id uint64) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	n, err := tx.exec("delete "+kind, "DELETE FROM docs WHERE kind = $1 AND id = $2", kind, id)
	if err == nil && n == 0 {
		err = fmt.Errorf("store: %s %d: %w", kind, id, store.ErrNotFound)
	}
	return err
}

func (tx docs) List(kind string, owner uint64, p store.Page) ([]store.Doc, string, error) {
	if err := checkKind(kind); err != nil {
		return nil, "", err
	}
	after, err := p.ID()
	if err != nil {
		return nil, "", err
	}
	list, err := collect(tx.Tx, "list "+kind, "SELECT "+docColumns+` FROM docs
		WHERE kind = $1 AND id > $2 AND ($3 = 0 OR owner_id = $3) ORDER BY id LIMIT $4`,
		[]any{kind, after, owner, p.Size() + 1}, scanDoc)
	if err != nil {
		return nil, "", err
	}
	list, next := page(list, p, func(d store.Doc) string { return store.IDCursor(d.ID) })
	return list, next, nil
}
