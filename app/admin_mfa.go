package app

import (
	"net/http"

	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// handleAdminMFAReset turns off a user's second factor and ends their
// login sessions but the admin's own current one (access.Service.
// ResetSecondFactor says why), audited without any secret.
func (s *Server) handleAdminMFAReset(c echo.Context) error {
	id, err := store.ParseID(c.Param("id"))
	if err != nil {
		return err
	}
	cl := callerOf(c)
	if err := refuseTokenCaller(c, cl); err != nil {
		return err
	}
	if err := s.access.ResetSecondFactor(c.Request().Context(), s.actorOf(c), id, cl.session.ID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
