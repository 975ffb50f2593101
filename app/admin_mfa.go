package app

import (
	"net/http"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// handleAdminMFAReset turns off a user's second factor, for someone who
// lost their authenticator app. It also ends the user's login sessions
// (but the admin's own current one): a session that proved the lost factor
// would otherwise keep counting as verified, even once the user enrolls a
// new one, and whoever holds the lost device may hold such a session.
// Personal tokens stay: they never counted as a second factor. The reset
// is audited in the same transaction, without any secret.
func (s *Server) handleAdminMFAReset(c echo.Context) error {
	id, err := store.ParseID(c.Param("id"))
	if err != nil {
		return err
	}
	cl := callerOf(c)
	if err := refuseTokenCaller(c, cl); err != nil {
		return err
	}
	err = s.db.Update(c.Request().Context(), func(tx *store.Tx) error {
		u, err := tx.User(id)
		if err != nil {
			return err
		}
		before := map[string]any{"mfa_enabled": u.MFA.Enabled, "mfa_pending": u.MFA.Pending != ""}
		u.MFA = store.MFA{}
		if err := tx.UpdateUser(&u); err != nil {
			return err
		}
		if err := endSessionsExcept(tx, id, cl.session.ID); err != nil {
			return err
		}
		after := map[string]any{"mfa_enabled": false, "mfa_pending": false, "sessions_ended": true}
		return auditCredentialEvent(tx, cl.user, "mfa.reset", rbac.UserSubject(id), before, after)
	})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
