package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"

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

// Bounds on the shape of a request body, checked before it is decoded. No
// request type nests deeper than a list in an object; the longest string
// any handler accepts is a note body (50000 characters) or a policy CSV.
// Handlers still check each field's own limit.
const (
	maxJSONDepth  = 8
	maxJSONString = 1 << 18 // characters
)

// decodeStrict decodes exactly one JSON value with no unknown fields, no
// deeper than maxJSONDepth and with no string longer than maxJSONString.
// Its errors are client errors with a message fit to show.
func decodeStrict(r io.Reader, v any) error {
	data, err := io.ReadAll(r)
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return apiError(http.StatusBadRequest, api.CodeInvalidJSON, "the request body could not be read")
	}
	if msg := checkJSONShape(data); msg != "" {
		return apiError(http.StatusBadRequest, api.CodeInvalidJSON, msg)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
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
			return invalidInput(map[string]string{typeErr.Field: "must be " + jsonKind(typeErr.Type)})
		default:
			var syntaxErr *json.SyntaxError
			if errors.As(err, &syntaxErr) || errors.Is(err, io.ErrUnexpectedEOF) {
				return apiError(http.StatusBadRequest, api.CodeInvalidJSON, "the request body is not valid JSON")
			}
			if unknown := unknownFields(data, v); len(unknown) > 0 {
				return invalidInput(unknown)
			}
			// Other shape errors.
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

// checkJSONShape returns what is wrong with the nesting depth or the string
// lengths of data, or "". It does not validate the JSON: the decoder does,
// after it. Escapes count as the one character they stand for.
func checkJSONShape(data []byte) string {
	depth, chars, inString := 0, 0, false
	for i := 0; i < len(data); i++ {
		b := data[i]
		if inString {
			switch {
			case b == '"':
				inString = false
				continue
			case b == '\\':
				if i+1 < len(data) && data[i+1] == 'u' {
					i += 5
				} else {
					i++
				}
				chars++
			case b&0xC0 != 0x80: // not a UTF-8 continuation byte
				chars++
			}
			if chars > maxJSONString {
				return fmt.Sprintf("the request body has a string longer than %d characters", maxJSONString)
			}
			continue
		}
		switch b {
		case '"':
			inString, chars = true, 0
		case '{', '[':
			if depth++; depth > maxJSONDepth {
				return fmt.Sprintf("the request body nests deeper than %d levels", maxJSONDepth)
			}
		case '}', ']':
			depth--
		}
	}
	return ""
}

// jsonKind names what a field of type t must be, in JSON's words rather
// than Go's.
func jsonKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list"
	}
	return "an object"
}

// Bounds on how unknown fields are named back to the client.
const (
	maxUnknownFields    = 10
	maxUnknownFieldName = 64
)

// unknownFields names each top-level field of the JSON object data that v
// (a pointer to a struct) has no field for, as API.md's details
// ({"roles": "unknown field"}); at most maxUnknownFields, each name cut to
// maxUnknownFieldName bytes, since the names are the client's.
func unknownFields(data []byte, v any) map[string]string {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	known := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		known[strings.ToLower(name)] = true
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil
	}
	out := map[string]string{}
	for name := range fields {
		// encoding/json matches field names case-insensitively.
		if known[strings.ToLower(name)] {
			continue
		}
		if len(out) == maxUnknownFields {
			break
		}
		if name == "" {
			name = `""` // a details key names a field: never empty
		}
		out[cutText(name, maxUnknownFieldName)] = "unknown field"
	}
	return out
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

// listPage answers one page of a list, read in one transaction: list reads
// the stored items and the next cursor, view turns each item into its wire
// form (reading what else it needs in the same transaction). The answer's
// total is count's, when count is given, or known when one page holds all.
func listPage[S, T any](c echo.Context, db store.Store, p store.Page, list func(store.Tx) ([]S, string, error), view func(store.Tx, S) (T, error), count func(store.Tx) (int, error)) error {
	out := api.List[T]{Items: []T{}}
	err := db.View(c.Request().Context(), func(tx store.Tx) error {
		items, next, err := list(tx)
		if err != nil {
			return err
		}
		out.Total = knownTotal(p, len(items), next)
		if count != nil {
			n, err := count(tx)
			if err != nil {
				return err
			}
			out.Total = &n
		}
		for _, item := range items {
			v, err := view(tx, item)
			if err != nil {
				return err
			}
			out.Items = append(out.Items, v)
		}
		out.NextCursor = next
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}
