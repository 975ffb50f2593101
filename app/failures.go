package app

import (
	"log/slog"
	"net/http"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/labstack/echo/v4"
)

// ctxFailReason lets a handler name why it turned a request away more
// precisely than its error code does ("bad_otp").
const ctxFailReason = "gatehouse.fail_reason"

// noteFailure records a 401, 403 or 429 answer as one structured log line,
// for fail2ban or CrowdSec. No credential, cookie or body is ever logged.
func (s *Server) noteFailure(c echo.Context, e *api.Error) {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
	default:
		return
	}
	reason, _ := c.Get(ctxFailReason).(string)
	if reason == "" {
		reason = e.Code
	}
	attrs := []slog.Attr{
		slog.String("ip", c.RealIP()),
		slog.String("method", c.Request().Method),
		slog.String("path", c.Request().URL.Path),
		slog.String("route", c.Path()),
		slog.Int("status", e.Status),
		slog.String("reason", reason),
		slog.String("request_id", e.RequestID),
	}
	if cl := callerOf(c); cl != nil {
		attrs = append(attrs, slog.String("user_id", rbac.UserSubject(cl.user.ID)))
	}
	if req, ok := c.Get(ctxDenied).(rbac.Request); ok {
		attrs = append(attrs, slog.String("subject", req.Sub), slog.String("object", req.Obj), slog.String("action", req.Act))
	}
	s.log.LogAttrs(c.Request().Context(), slog.LevelWarn, "auth failure", attrs...)
}
