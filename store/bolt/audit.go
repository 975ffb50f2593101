package bolt

import (
	"encoding/json"

	"github.com/gatehouse/gatehouse/store"
)

// audit implements store.Audit over the audit bucket, keyed by id.
type audit struct{ *Tx }

func (tx audit) Append(rec *store.AuditRecord) error {
	id, err := tx.bucket(bucketAudit).NextSequence()
	if err != nil {
		return err
	}
	rec.ID, rec.Time = id, tx.now
	return tx.putJSON(bucketAudit, itob(id), rec)
}

func (tx audit) List(p store.Page) ([]store.AuditRecord, string, error) {
	var out []store.AuditRecord
	next, err := scan(tx.bucket(bucketAudit), nil, true, p, true, func(_, v []byte) (bool, error) {
		var r store.AuditRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return false, err
		}
		out = append(out, r)
		return true, nil
	})
	return out, next, err
}
