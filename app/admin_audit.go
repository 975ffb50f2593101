package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// The audit log: every admin change is recorded in the transaction that
// makes it, so the log holds exactly the changes that committed, and a
// change that fails leaves no record.

// Audit targets name what a change is about.
const (
	targetPolicy = "policy"
)

// RecordChange appends one audit record to tx: who (actorID and actor, an
// email; 0 and a tool's name offline), what (action, like "user.update"),
// to which thing (target, like "user:7"), and the thing before and after as
// the API shows it. before and after must encode as JSON objects and never
// hold a secret: pass API views (api.User, api.Group, api.Rule), which have
// none. nil leaves one out.
func RecordChange(tx *store.Tx, actorID uint64, actor, action, target string, before, after any) error {
	rec := store.AuditRecord{ActorID: actorID, Actor: actor, Action: action, Target: target}
	var err error
	if rec.Before, err = auditObject(before); err != nil {
		return fmt.Errorf("audit %s %s: before: %w", action, target, err)
	}
	if rec.After, err = auditObject(after); err != nil {
		return fmt.Errorf("audit %s %s: after: %w", action, target, err)
	}
	return tx.AppendAudit(&rec)
}

// audit records a change made by the caller of c in tx.
func (s *Server) audit(c echo.Context, tx *store.Tx, action, target string, before, after any) error {
	cl := callerOf(c)
	if cl == nil {
		return fmt.Errorf("audit %s %s: no caller", action, target)
	}
	return RecordChange(tx, cl.user.ID, cl.user.Email, action, target, before, after)
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
	if len(b) == 0 || b[0] != '{' {
		return nil, fmt.Errorf("%T is not a JSON object", v)
	}
	return b, nil
}

// sameJSON reports whether a and b encode alike: a change that changes
// nothing is not recorded.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}

// handleAuditList lists the audit log, newest first; ?target= keeps the
// changes of one thing ("user:7"), ?q= those whose actor, action or target
// contains it, ignoring case.
func (s *Server) handleAuditList(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	q, err := searchParam(c)
	if err != nil {
		return err
	}
	target := c.QueryParam("target")
	if len(target) > maxQueryLen {
		return invalidInput(map[string]string{"target": fmt.Sprintf("must be at most %d characters", maxQueryLen)})
	}
	var recs []store.AuditRecord
	var next string
	err = s.db.View(c.Request().Context(), func(tx *store.Tx) error {
		recs, next, err = filteredPage(tx.ListAudit, func(r store.AuditRecord) bool {
			return (target == "" || r.Target == target) &&
				(q == "" || strings.Contains(strings.ToLower(r.Actor+" "+r.Action+" "+r.Target), q))
		}, p)
		return err
	})
	if err != nil {
		return err
	}
	out := api.List[api.AuditEntry]{Items: make([]api.AuditEntry, len(recs)), NextCursor: next, Total: knownTotal(p, len(recs), next)}
	for i, r := range recs {
		e := api.AuditEntry{ID: store.FormatID(r.ID), Time: r.Time, Actor: r.Actor, Action: r.Action, Target: r.Target}
		if r.ActorID != 0 { // 0: an offline tool
			e.ActorID = store.FormatID(r.ActorID)
		}
		if len(r.Before) > 0 {
			if err := json.Unmarshal(r.Before, &e.Before); err != nil {
				return fmt.Errorf("audit record %d: %w", r.ID, err)
			}
		}
		if len(r.After) > 0 {
			if err := json.Unmarshal(r.After, &e.After); err != nil {
				return fmt.Errorf("audit record %d: %w", r.ID, err)
			}
		}
		out.Items[i] = e
	}
	return c.JSON(http.StatusOK, out)
}
