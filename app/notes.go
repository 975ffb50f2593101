package app

import (
	"net/http"
	"unicode/utf8"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Notes are the worked example of a resource with an owner. Copy this file
// for a resource of your own: the owner resolver, the handlers, and the
// rules in policy.csv.

const (
	maxTitleLen = 200
	maxBodyLen  = 50000
)

// ownerOfNote loads the note of the route's :id for the authorization
// middleware, which decides on its owner, and keeps it for the handler.
func (s *Server) ownerOfNote(c echo.Context) (uint64, error) {
	id, err := store.ParseID(c.Param("id"))
	if err != nil {
		return 0, err
	}
	var n store.Note
	err = s.db.View(c.Request().Context(), func(tx store.Tx) error {
		n, err = tx.Notes().Get(id)
		return err
	})
	if err != nil {
		return 0, err
	}
	c.Set(ctxResource, n)
	return n.OwnerID, nil
}

func toNote(n store.Note) api.Note {
	return api.Note{
		ID: store.FormatID(n.ID), OwnerID: store.FormatID(n.OwnerID), Title: n.Title, Body: n.Body,
		CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt,
	}
}

// checkNote returns the problems of a note's fields; create says both are
// needed.
func checkNote(in api.NoteInput, create bool) map[string]string {
	problems := map[string]string{}
	switch {
	case in.Title == nil && create:
		problems["title"] = "is required"
	case in.Title != nil && (utf8.RuneCountInString(*in.Title) < 1 || utf8.RuneCountInString(*in.Title) > maxTitleLen):
		problems["title"] = "must be 1 to 200 characters"
	}
	if in.Body != nil && utf8.RuneCountInString(*in.Body) > maxBodyLen {
		problems["body"] = "must be at most 50000 characters"
	}
	if len(problems) == 0 {
		return nil
	}
	return problems
}

// handleNoteList lists the caller's notes, or every note when the policy
// lets the caller read notes they do not own: the handler asks the policy,
// it does not know role names.
func (s *Server) handleNoteList(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	cl := callerOf(c)
	owner := cl.user.ID
	anyNote := rbac.Request{Sub: cl.subject(), Obj: "/api/notes/:id", Act: http.MethodGet, MFA: cl.mfa()}
	if s.authz.Decide(anyNote).Allowed {
		owner = 0
	}
	var notes []store.Note
	var next string
	err = s.db.View(c.Request().Context(), func(tx store.Tx) error {
		notes, next, err = tx.Notes().List(owner, p)
		return err
	})
	if err != nil {
		return err
	}
	out := api.List[api.Note]{Items: make([]api.Note, len(notes)), NextCursor: next}
	for i, n := range notes {
		out.Items[i] = toNote(n)
	}
	return c.JSON(http.StatusOK, out)
}

func (s *Server) handleNoteCreate(c echo.Context) error {
	var in api.NoteInput
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	if p := checkNote(in, true); p != nil {
		return invalidInput(p)
	}
	n := store.Note{OwnerID: callerOf(c).user.ID, Title: *in.Title}
	if in.Body != nil {
		n.Body = *in.Body
	}
	err := s.db.Update(c.Request().Context(), func(tx store.Tx) error { return tx.Notes().Create(&n) })
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, toNote(n))
}

func (s *Server) handleNoteGet(c echo.Context) error {
	n, ok := resourceOf[store.Note](c)
	if !ok {
		return errNotFound
	}
	return c.JSON(http.StatusOK, toNote(n))
}

func (s *Server) handleNoteUpdate(c echo.Context) error {
	n, ok := resourceOf[store.Note](c)
	if !ok {
		return errNotFound
	}
	var in api.NoteInput
	if err := s.decodeJSON(c, &in); err != nil {
		return err
	}
	if p := checkNote(in, false); p != nil {
		return invalidInput(p)
	}
	err := s.db.Update(c.Request().Context(), func(tx store.Tx) error {
		cur, err := tx.Notes().Get(n.ID)
		if err != nil {
			return err
		}
		if in.Title != nil {
			cur.Title = *in.Title
		}
		if in.Body != nil {
			cur.Body = *in.Body
		}
		n = cur
		return tx.Notes().Update(&n)
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toNote(n))
}

func (s *Server) handleNoteDelete(c echo.Context) error {
	n, ok := resourceOf[store.Note](c)
	if !ok {
		return errNotFound
	}
	err := s.db.Update(c.Request().Context(), func(tx store.Tx) error { return tx.Notes().Delete(n.ID) })
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
