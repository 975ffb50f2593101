package access

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gatehouse/gatehouse/store"
)

// Record appends one audit record to tx, so that it commits with the
// change it describes, or not at all: who (an Actor), what (action, like
// "user.update"), to which thing (target, like "user:7"), and the thing
// before and after as the API shows it. before and after must encode as
// JSON objects and never hold a secret: pass API views (api.User,
// api.Group, api.Rule) or maps of plain facts. nil leaves one out.
//
// It is the one writer of the audit log.
func Record(tx store.Tx, who Actor, action, target string, before, after any) error {
	rec := store.AuditRecord{ActorID: who.ID, Actor: who.Name, Action: action, Target: target}
	var err error
	if rec.Before, err = auditObject(before); err != nil {
		return fmt.Errorf("audit %s %s: before: %w", action, target, err)
	}
	if rec.After, err = auditObject(after); err != nil {
		return fmt.Errorf("audit %s %s: after: %w", action, target, err)
	}
	return tx.Audit().Append(&rec)
}

// backupTaken is a backup in the audit log.
type backupTaken struct {
	Bytes int64 `json:"bytes"`
}

// RecordBackup records that who took a copy of the whole database, of
// bytes bytes: not a change, but who took a copy of every account's
// secrets is worth keeping where admins look.
func (s *Service) RecordBackup(ctx context.Context, who Actor, bytes int64) error {
	return s.db.Update(ctx, func(tx store.Tx) error {
		return Record(tx, who, "backup.download", "database", nil, backupTaken{Bytes: bytes})
	})
}

// auditObject encodes v as a JSON object; nil stays nil.
func auditObject(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	if string(b) == "null" {
		return nil, nil
	}
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%T is not a JSON object", v)
	}
	return b, nil
}

// SameJSON reports whether a and b encode alike: a change that changes
// nothing is not recorded.
func SameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
