package store

import (
	"encoding/json"
	"time"
)

// AuditRecord is one admin change: who did what to which thing, with the
// thing before and after. Callers never put secrets in Before or After.
type AuditRecord struct {
	ID      uint64          `json:"id"`
	Time    time.Time       `json:"time"`
	ActorID uint64          `json:"actor_id"`
	Actor   string          `json:"actor"`
	Action  string          `json:"action"`
	Target  string          `json:"target"`
	Before  json.RawMessage `json:"before,omitempty"`
	After   json.RawMessage `json:"after,omitempty"`
}

// AppendAudit records rec in this transaction, so the record commits with
// the change it describes.
func (tx *Tx) AppendAudit(rec *AuditRecord) error {
	id, err := tx.bucket(bucketAudit).NextSequence()
	if err != nil {
		return err
	}
	rec.ID, rec.Time = id, tx.now
	return tx.putJSON(bucketAudit, itob(id), rec)
}

// ListAudit returns a page of the audit log, newest first.
func (tx *Tx) ListAudit(p Page) ([]AuditRecord, string, error) {
	var out []AuditRecord
	next, err := scan(tx.bucket(bucketAudit), nil, p, true, func(_, v []byte) (bool, error) {
		var r AuditRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return false, err
		}
		out = append(out, r)
		return true, nil
	})
	return out, next, err
}
