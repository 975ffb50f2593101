package app

import (
	"context"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// TestNextRequestAfterRepeatedReads: the store keeps the records a request
// decodes (credential, user, note) for the committed state it read them
// in. After the same requests over and over, each change is still what
// the very next request sees: an edited note, a deleted note, a revoked
// token, a user disabled in the store (no session ended), a disable
// through the admin API.
func TestNextRequestAfterRepeatedReads(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	u := ts.mustQuickUser(t, "kept@example.com", []string{"user"}, nil)
	other := ts.mustQuickUser(t, "other@example.com", []string{"user"}, nil)
	script := ts.mustToken(testUser{ID: u.ID, Email: u.Email})
	again := func(token, path string, status int, code string) []byte {
		t.Helper()
		var body []byte
		for range 3 {
			body = ts.mustCall(t, token, "GET", path, nil, status, code)
		}
		return body
	}

	var n api.Note
	ts.mustCallJSON(t, u.Token, "POST", "/api/notes", api.NoteInput{Title: ptr("one")}, 201, &n)
	path := "/api/notes/" + n.ID
	var got api.Note
	mustUnmarshal(t, again(script.Token, path, 200, ""), &got)
	if got.Title != "one" {
		t.Fatalf("note: %+v", got)
	}
	ts.mustCallJSON(t, u.Token, "PATCH", path, api.NoteInput{Title: ptr("two")}, 200, nil)
	ts.mustCallJSON(t, script.Token, "GET", path, nil, 200, &got)
	if got.Title != "two" {
		t.Fatalf("note after its edit: %+v", got)
	}
	again(other.Token, path, 403, "forbidden")
	ts.mustCall(t, u.Token, "DELETE", path, nil, 204, "")
	ts.mustCall(t, script.Token, "GET", path, nil, 404, "not_found")

	// The token is revoked by its owner's session.
	var tokens api.List[api.Token]
	ts.mustCallJSON(t, u.Token, "GET", "/api/auth/tokens", nil, 200, &tokens)
	if len(tokens.Items) != 1 {
		t.Fatalf("tokens: %+v", tokens)
	}
	again(script.Token, "/api/auth/me", 200, "")
	ts.mustCall(t, u.Token, "DELETE", "/api/auth/tokens/"+tokens.Items[0].ID, nil, 204, "")
	ts.mustCall(t, script.Token, "GET", "/api/auth/me", nil, 401, "unauthorized")

	// Disabled in the store only: the user record alone refuses the
	// session, which is still there.
	again(u.Token, "/api/auth/me", 200, "")
	err := ts.db.Update(context.Background(), func(tx store.Tx) error {
		rec, err := tx.Users().Get(u.ID)
		if err != nil {
			return err
		}
		rec.Disabled = true
		return tx.Users().Update(&rec)
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.mustCall(t, u.Token, "GET", "/api/auth/me", nil, 401, "unauthorized")

	// Disabled by an admin.
	again(other.Token, "/api/auth/me", 200, "")
	ts.mustCallJSON(t, ts.admin.Token, "PATCH", "/api/admin/users/"+store.FormatID(other.ID), api.UpdateUserRequest{Disabled: ptr(true)}, 200, nil)
	ts.mustCall(t, other.Token, "GET", "/api/auth/me", nil, 401, "unauthorized")
}
