package app

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// apiError makes an error answer. Handlers return it; handleError writes it.
func apiError(status int, code, message string) *api.Error {
	return &api.Error{Status: status, Code: code, Message: message}
}

func invalidInput(details map[string]string) *api.Error {
	e := apiError(http.StatusBadRequest, api.CodeInvalidInput, "the request has invalid fields")
	e.Details = details
	return e
}

var (
	errUnauthorized = apiError(http.StatusUnauthorized, api.CodeUnauthorized, "sign in first")
	errForbidden    = apiError(http.StatusForbidden, api.CodeForbidden, "you may not do this")
	errNotFound     = apiError(http.StatusNotFound, api.CodeNotFound, "no such thing")
)

// codeOfStatus is the error code of an answer Echo made itself.
var codeOfStatus = map[int]string{
	http.StatusBadRequest:            api.CodeInvalidInput,
	http.StatusUnauthorized:          api.CodeUnauthorized,
	http.StatusForbidden:             api.CodeForbidden,
	http.StatusNotFound:              api.CodeNotFound,
	http.StatusMethodNotAllowed:      api.CodeMethodNotAllowed,
	http.StatusConflict:              api.CodeConflict,
	http.StatusRequestEntityTooLarge: api.CodePayloadTooLarge,
	http.StatusUnsupportedMediaType:  api.CodeUnsupportedMediaType,
	http.StatusTooManyRequests:       api.CodeRateLimited,
	http.StatusServiceUnavailable:    api.CodeUnavailable,
}

// toAPIError maps any error to the answer a client may see. Only errors
// made for clients keep their message; everything else becomes a plain
// 500 whose cause is logged, never sent.
func toAPIError(err error) (e *api.Error, internal bool) {
	var ae *api.Error
	var he *echo.HTTPError
	var ve *rbac.ValidationError
	var refusal *access.Error
	switch {
	case errors.As(err, &refusal):
		switch refusal.Kind {
		case access.Invalid:
			e := invalidInput(refusal.Details)
			return e, false
		case access.Conflict:
			return apiError(http.StatusConflict, api.CodeConflict, refusal.Message), false
		}
	case errors.As(err, &ae):
		c := *ae
		return &c, false
	case errors.As(err, &ve):
		return invalidInput(ve.Details), false
	case errors.Is(err, rbac.ErrLastAdmin):
		return apiError(http.StatusConflict, api.CodeConflict, rbac.ErrLastAdmin.Error()), false
	case errors.Is(err, store.ErrNotFound):
		return apiError(http.StatusNotFound, api.CodeNotFound, "no such thing"), false
	case errors.Is(err, store.ErrConflict):
		return apiError(http.StatusConflict, api.CodeConflict, "it already exists"), false
	case errors.Is(err, store.ErrWriteFailed):
		// The disk is full or the file read-only: nothing was changed, and
		// the same request may succeed later. Logged with its cause.
		return apiError(http.StatusServiceUnavailable, api.CodeUnavailable, "the server cannot store changes right now; nothing was changed, try again later"), true
	case errors.Is(err, store.ErrUnavailable):
		// The database is down or unreachable: no decision is made on
		// what cannot be read. Logged with its cause.
		return apiError(http.StatusServiceUnavailable, api.CodeUnavailable, "the server cannot reach its database right now; try again later"), true
	case errors.Is(err, store.ErrInvalidCursor):
		return invalidInput(map[string]string{"cursor": "not a cursor this server handed out"}), false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return apiError(http.StatusServiceUnavailable, api.CodeUnavailable, "the request was cancelled"), true
	case errors.As(err, &he):
		code, ok := codeOfStatus[he.Code]
		if !ok {
			break
		}
		msg := http.StatusText(he.Code)
		switch he.Code {
		case http.StatusNotFound:
			msg = "no such route"
		case http.StatusMethodNotAllowed:
			msg = "this route does not take this method"
		case http.StatusRequestEntityTooLarge:
			msg = "the request body is too large"
		}
		return apiError(he.Code, code, msg), false
	}
	return apiError(http.StatusInternalServerError, api.CodeInternal, "something went wrong on our side; the request id helps us find it"), true
}

// handleError is Echo's error handler: the one place error answers are
// written. It logs what the client is not told.
func (s *Server) handleError(err error, c echo.Context) {
	e, internal := toAPIError(err)
	e.RequestID = requestID(c)
	if internal {
		s.log.Error("request failed", "request_id", e.RequestID, "method", failureMethod(c.Request().Method),
			"path", cutText(c.Request().URL.EscapedPath(), maxFailurePath), "route", cutText(c.Path(), maxFailureRoute),
			"status", e.Status, "error", err.Error())
	}
	if c.Response().Committed {
		return
	}
	if e.Status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", "30")
	}
	if e.Status == http.StatusMethodNotAllowed {
		if allow, ok := c.Get(echo.ContextKeyHeaderAllow).(string); ok {
			c.Response().Header().Set(echo.HeaderAllow, allow)
		}
	}
	s.noteFailure(c, e)
	// A HEAD gets the same status and headers as its GET would, and no
	// body: net/http discards what is written to a HEAD answer.
	if werr := c.JSON(e.Status, e); werr != nil {
		s.log.Debug("write error answer", "request_id", e.RequestID, "error", werr.Error())
	}
}
