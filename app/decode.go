package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// decodeJSON reads the request body into v strictly: the body must be
// application/json, within the body limit, one JSON value, and hold no field
// v does not have (so a client can never set what it was not offered, like
// its own roles or a note's owner).
func (s *Server) decodeJSON(c echo.Context, v any) error {
	req := c.Request()
	mt, _, err := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	if err != nil || mt != echo.MIMEApplicationJSON {
		return apiError(http.StatusUnsupportedMediaType, api.CodeUnsupportedMediaType, "send the body as application/json")
	}
	body := http.MaxBytesReader(c.Response(), req.Body, s.cfg.BodyLimit)
	if err := decodeStrict(body, v); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return apiError(http.StatusRequestEntityTooLarge, api.CodePayloadTooLarge,
				fmt.Sprintf("the request body is larger than %d bytes", s.cfg.BodyLimit))
		}
		return err
	}
	return nil
}

// decodeStrict decodes exactly one JSON value with no unknown fields. Its
// errors are client errors with a message fit to show.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooLarge):
			return err
		case errors.Is(err, io.EOF):
			return apiError(http.StatusBadRequest, api.CodeInvalidJSON, "the request body is empty")
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return invalidInput(map[string]string{typeErr.Field: "must be a " + typeErr.Type.String()})
		default:
			var syntaxErr *json.SyntaxError
			if errors.As(err, &syntaxErr) || errors.Is(err, io.ErrUnexpectedEOF) {
				return apiError(http.StatusBadRequest, api.CodeInvalidJSON, "the request body is not valid JSON")
			}
			// Unknown fields and other shape errors.
			return apiError(http.StatusBadRequest, api.CodeInvalidJSON, "the request body does not have the expected fields: "+jsonProblem(err))
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return apiError(http.StatusBadRequest, api.CodeInvalidJSON, "the request body holds more than one JSON value")
	}
	return nil
}

// jsonProblem keeps the part of a decoding error that names a field, and
// nothing of Go's types or internals.
func jsonProblem(err error) string {
	const unknown = "json: unknown field "
	if msg := err.Error(); len(msg) > len(unknown) && msg[:len(unknown)] == unknown {
		return "unknown field " + msg[len(unknown):]
	}
	return "wrong shape"
}

// page reads ?limit= (1 to 100, default 50) and ?cursor=.
func page(c echo.Context) (store.Page, error) {
	p := store.Page{Limit: 50, Cursor: c.QueryParam("cursor")}
	if l := c.QueryParam("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 100 {
			return p, invalidInput(map[string]string{"limit": "must be a number from 1 to 100"})
		}
		p.Limit = n
	}
	if _, err := store.DecodeCursor(p.Cursor); err != nil {
		return p, err
	}
	return p, nil
}
