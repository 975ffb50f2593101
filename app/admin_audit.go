package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// The audit log: every admin change is recorded in the transaction that
// makes it, so the log holds exactly the changes that committed, and a
// change that fails leaves no record.

// actorOf is the caller of c as the access service knows them: who the
// audit log names, and whether they may grant the admin role (grants.go).
func (s *Server) actorOf(c echo.Context) access.Actor {
	mayGrant := func() error { return s.authorizeGrant(c) }
	cl := callerOf(c)
	if cl == nil {
		// The routes that change things are marked signedIn (routes.go)
		// and never get here without a caller: a record without one would
		// hide who did it. Should one ever do, its grants are still
		// decided, as anonymous's: a nil MayGrant would let them through.
		return access.Actor{Name: "anonymous", MayGrant: mayGrant}
	}
	who := access.UserActor(cl.user)
	who.MayGrant = mayGrant
	return who
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
	err = s.db.View(c.Request().Context(), func(tx store.Tx) error {
		recs, next, err = filteredPage(tx.Audit().List, func(r store.AuditRecord) bool {
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
