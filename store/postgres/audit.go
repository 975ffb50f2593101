package postgres

import (
	"encoding/json"

	"github.com/gatehouse/gatehouse/store"
	"github.com/jackc/pgx/v5"
)

// audit implements store.Audit over the audit table.
type audit struct{ *Tx }

// jsonArg passes raw JSON as text (NULL when empty), so the json column
// keeps it byte for byte.
func jsonArg(m json.RawMessage) any {
	if len(m) == 0 {
		return nil
	}
	return string(m)
}

func scanAudit(r pgx.Row) (store.AuditRecord, error) {
	var rec store.AuditRecord
	var before, after *string
	err := r.Scan(&rec.ID, &rec.Time, &rec.ActorID, &rec.Actor, &rec.Action, &rec.Target, &before, &after)
	rec.Time = utc(rec.Time)
	if before != nil {
		rec.Before = json.RawMessage(*before)
	}
	if after != nil {
		rec.After = json.RawMessage(*after)
	}
	return rec, err
}

func (tx audit) Append(rec *store.AuditRecord) error {
	rec.Time = tx.now
	return tx.scanOne("audit", `INSERT INTO audit (time, actor_id, actor, action, target, before, after)
		VALUES ($1, $2, $3, $4, $5, $6::text::json, $7::text::json) RETURNING id`,
		[]any{rec.Time, rec.ActorID, rec.Actor, rec.Action, rec.Target, jsonArg(rec.Before), jsonArg(rec.After)}, &rec.ID)
}

func (tx audit) List(p store.Page) ([]store.AuditRecord, string, error) {
	before, err := p.ID()
	if err != nil {
		return nil, "", err
	}
	list, err := collect(tx.Tx, "list audit", `SELECT id, time, actor_id, actor, action, target, before::text, after::text
		FROM audit WHERE $1 = 0 OR id < $1 ORDER BY id DESC LIMIT $2`, []any{before, p.Size() + 1}, scanAudit)
	if err != nil {
		return nil, "", err
	}
	list, next := page(list, p, func(r store.AuditRecord) string { return store.IDCursor(r.ID) })
	return list, next, nil
}
