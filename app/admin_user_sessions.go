package app

import (
	"net/http"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// handleUserSessionList lists a user's live login sessions and personal
// API tokens: when each began and ends, whether it proved the second
// factor, whether a token is read-only. Never a secret or its hash.
func (s *Server) handleUserSessionList(c echo.Context) error {
	id, err := userIDParam(c, "id")
	if err != nil {
		return err
	}
	out := []api.UserSession{}
	err = s.db.View(c.Request().Context(), func(tx store.Tx) error {
		if _, err := tx.Users().Get(id); err != nil {
			return err
		}
		for _, kind := range []string{store.KindSession, store.KindToken} {
			list, err := tx.Sessions().OfUser(id, kind)
			if err != nil {
				return err
			}
			for _, ss := range list {
				if ss.Expired(tx.Now()) {
					continue
				}
				v := api.UserSession{ID: store.FormatID(ss.ID), Kind: ss.Kind, Name: ss.Name, ReadOnly: ss.ReadOnly, MFA: ss.MFA, CreatedAt: ss.CreatedAt}
				if !ss.ExpiresAt.IsZero() {
					v.ExpiresAt = &ss.ExpiresAt
				}
				out = append(out, v)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
