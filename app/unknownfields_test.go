package app

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// TestUnknownFieldsNamed: a body with fields the request does not have is
// 400 invalid_input whose details name each of them (API.md §4), so that
// a client can show which field was wrong; a client's flood of field names
// comes back bounded.
func TestUnknownFieldsNamed(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	u, session := mustUser(t, ls.srv, "erin@example.com", "user")
	a := ls.do(t, request{method: http.MethodPatch, path: "/api/auth/me", headers: []string{bearer(session)},
		body: `{"name":"Erin","roles":["admin"],"is_admin":true}`})
	wantError(t, a, http.StatusBadRequest, api.CodeInvalidInput)
	if len(a.err.Details) != 2 || a.err.Details["roles"] != "unknown field" || a.err.Details["is_admin"] != "unknown field" {
		t.Fatalf("details %v, want roles and is_admin as unknown fields", a.err.Details)
	}
	// Nothing changed.
	a = ls.do(t, request{path: "/api/auth/me", headers: []string{bearer(session)}})
	wantStatus(t, a, http.StatusOK)
	if strings.Contains(string(a.body), `"Erin"`) || u.ID == 0 {
		t.Fatalf("a refused body changed the account: %s", a.body)
	}

	var many strings.Builder
	many.WriteString(`{"title":"t"`)
	for i := range 500 {
		many.WriteString(`,"` + store.FormatID(uint64(i)) + strings.Repeat("x", 200) + `":1`)
	}
	many.WriteString("}")
	a = ls.do(t, request{method: http.MethodPost, path: "/api/notes", headers: []string{bearer(session)}, body: many.String()})
	wantError(t, a, http.StatusBadRequest, api.CodeInvalidInput)
	if len(a.err.Details) != maxUnknownFields {
		t.Fatalf("%d details, want %d", len(a.err.Details), maxUnknownFields)
	}
	for k := range a.err.Details {
		if len(k) > maxUnknownFieldName {
			t.Fatalf("a field name of %d bytes came back", len(k))
		}
	}
}
