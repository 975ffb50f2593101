package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// TestTokens follows personal API tokens from creation to revocation, on
// one server: the subtests run in order and build on each other.
func TestTokens(t *testing.T) {
	t.Parallel()
	e := newCredEnv(t)
	const email = "dave@example.com"
	dave := e.mustCreateUser(t, email, "user")
	session := e.login(t, email, "")
	admin := e.login(t, testAdminEmail, "")
	var adminNote api.Note
	title := "the admin's"
	e.call(t, http.MethodPost, "/api/notes", admin, api.NoteInput{Title: &title}).want(t, http.StatusCreated, &adminNote)

	create := func(t *testing.T, in api.CreateTokenRequest) api.CreatedToken {
		t.Helper()
		var tok api.CreatedToken
		a := e.call(t, http.MethodPost, "/api/auth/tokens", session, in)
		a.want(t, http.StatusCreated, &tok)
		if got := a.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("create Cache-Control %q, want no-store", got)
		}
		return tok
	}

	var full, readOnly api.CreatedToken
	t.Run("shown once, with a recognisable prefix", func(t *testing.T) {
		full = create(t, api.CreateTokenRequest{Name: " deploy script "})
		if !strings.HasPrefix(full.Secret, "gatehouse_pat_") || len(full.Secret) != len("gatehouse_pat_")+43 {
			t.Fatalf("secret %q: want gatehouse_pat_ and 43 characters", full.Secret)
		}
		if full.Name != "deploy script" || full.ReadOnly || full.ExpiresAt != nil {
			t.Fatalf("created %+v", full.Token)
		}
		a := e.call(t, http.MethodGet, "/api/auth/tokens", session, nil)
		var list api.List[api.Token]
		a.want(t, http.StatusOK, &list)
		if len(list.Items) != 1 || list.Items[0] != full.Token {
			t.Fatalf("list %+v, want just %+v", list.Items, full.Token)
		}
		if bytes.Contains(a.body, []byte(full.Secret)) || bytes.Contains(a.body, []byte(`"token"`)) {
			t.Fatalf("the list shows a secret: %s", a.body)
		}
	})

	t.Run("acts as its user with current roles, no CSRF", func(t *testing.T) {
		var me api.User
		e.call(t, http.MethodGet, "/api/auth/me", full.Secret, nil).want(t, http.StatusOK, &me)
		if me.ID != store.FormatID(dave) {
			t.Fatalf("token acts as user %s, want %d", me.ID, dave)
		}
		title := "from a script"
		e.call(t, http.MethodPost, "/api/notes", full.Secret, api.NoteInput{Title: &title}).want(t, http.StatusCreated, nil)
		e.call(t, http.MethodGet, "/api/notes/"+adminNote.ID, full.Secret, nil).wantError(t, http.StatusForbidden, api.CodeForbidden)
		setRole(t, e, dave, "editor", true)
		e.call(t, http.MethodGet, "/api/notes/"+adminNote.ID, full.Secret, nil).want(t, http.StatusOK, nil)
		setRole(t, e, dave, "editor", false)
		e.call(t, http.MethodGet, "/api/notes/"+adminNote.ID, full.Secret, nil).wantError(t, http.StatusForbidden, api.CodeForbidden)
	})

	t.Run("read-only allows safe methods only", func(t *testing.T) {
		readOnly = create(t, api.CreateTokenRequest{Name: "dashboard", ReadOnly: true})
		if !readOnly.ReadOnly {
			t.Fatal("created token is not read-only")
		}
		e.call(t, http.MethodGet, "/api/notes", readOnly.Secret, nil).want(t, http.StatusOK, nil)
		e.call(t, http.MethodGet, "/api/auth/tokens", readOnly.Secret, nil).want(t, http.StatusOK, nil)
		title := "nope"
		e.call(t, http.MethodPost, "/api/notes", readOnly.Secret, api.NoteInput{Title: &title}).wantError(t, http.StatusForbidden, api.CodeForbidden)
		e.call(t, http.MethodPost, "/api/auth/logout", readOnly.Secret, nil).wantError(t, http.StatusForbidden, api.CodeForbidden)
		e.call(t, http.MethodDelete, "/api/auth/tokens/"+readOnly.ID, readOnly.Secret, nil).wantError(t, http.StatusForbidden, api.CodeForbidden)
	})

	t.Run("tokens cannot manage tokens or the second factor", func(t *testing.T) {
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{http.MethodPost, "/api/auth/tokens", api.CreateTokenRequest{Name: "child"}},
			{http.MethodDelete, "/api/auth/tokens/" + readOnly.ID, nil},
			{http.MethodPost, "/api/auth/mfa/setup", nil},
			{http.MethodPost, "/api/auth/mfa/enable", api.MFAEnableRequest{OTP: "123456"}},
			{http.MethodDelete, "/api/auth/mfa", api.MFADisableRequest{Password: testPassword}},
		} {
			e.call(t, r.method, r.path, full.Secret, r.body).wantError(t, http.StatusForbidden, api.CodeForbidden)
		}
		if n := e.countSessions(t, dave, store.KindToken); n != 2 {
			t.Fatalf("%d tokens, want the 2 made by the session", n)
		}
	})

	t.Run("hashed at rest", func(t *testing.T) {
		var backup bytes.Buffer
		if _, err := e.db.WriteTo(context.Background(), &backup); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []api.CreatedToken{full, readOnly} {
			if bytes.Contains(backup.Bytes(), []byte(tok.Secret)) {
				t.Fatalf("the database file holds the secret of token %s", tok.ID)
			}
			// The hash is what is stored: the search looked in the right file.
			sum := sha256.Sum256([]byte(tok.Secret))
			if !bytes.Contains(backup.Bytes(), sum[:]) {
				t.Fatalf("the database file lacks the hash of token %s", tok.ID)
			}
		}
	})

	t.Run("invalid requests", func(t *testing.T) {
		for _, tt := range []struct {
			in    api.CreateTokenRequest
			field string
		}{
			{api.CreateTokenRequest{Name: "   "}, "name"},
			{api.CreateTokenRequest{Name: strings.Repeat("x", 101)}, "name"},
			{api.CreateTokenRequest{Name: "bell\a"}, "name"},
			{api.CreateTokenRequest{Name: "ok", ExpiresIn: "soon"}, "expires_in"},
			{api.CreateTokenRequest{Name: "ok", ExpiresIn: "-1h"}, "expires_in"},
			{api.CreateTokenRequest{Name: "ok", ExpiresIn: "30s"}, "expires_in"},
			{api.CreateTokenRequest{Name: "ok", ExpiresIn: "100000h"}, "expires_in"},
		} {
			err := e.call(t, http.MethodPost, "/api/auth/tokens", session, tt.in).wantError(t, http.StatusBadRequest, api.CodeInvalidInput)
			if _, ok := err.Details[tt.field]; !ok || len(err.Details) != 1 {
				t.Errorf("%+v: details %v, want one about %s", tt.in, err.Details, tt.field)
			}
		}
	})

	t.Run("revocation takes effect on the next request", func(t *testing.T) {
		// Someone else's token: not theirs to revoke.
		e.call(t, http.MethodDelete, "/api/auth/tokens/"+full.ID, admin, nil).wantError(t, http.StatusForbidden, api.CodeForbidden)
		e.call(t, http.MethodDelete, "/api/auth/tokens/"+full.ID, session, nil).want(t, http.StatusNoContent, nil)
		e.call(t, http.MethodGet, "/api/auth/me", full.Secret, nil).wantError(t, http.StatusUnauthorized, api.CodeUnauthorized)
		e.call(t, http.MethodDelete, "/api/auth/tokens/"+full.ID, session, nil).wantError(t, http.StatusNotFound, api.CodeNotFound)
		// A login session's id is not a token's.
		loginID := sessionID(t, e, session)
		e.call(t, http.MethodDelete, "/api/auth/tokens/"+store.FormatID(loginID), session, nil).wantError(t, http.StatusNotFound, api.CodeNotFound)
		e.call(t, http.MethodGet, "/api/auth/me", session, nil).want(t, http.StatusOK, nil)
	})

	t.Run("expiry", func(t *testing.T) {
		tok := create(t, api.CreateTokenRequest{Name: "nightly", ExpiresIn: "2h"})
		if tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(e.clock.Now().Add(2*time.Hour)) {
			t.Fatalf("expires_at %v, want two hours from %v", tok.ExpiresAt, e.clock.Now())
		}
		e.call(t, http.MethodGet, "/api/auth/me", tok.Secret, nil).want(t, http.StatusOK, nil)
		e.clock.Advance(2*time.Hour - time.Second)
		e.call(t, http.MethodGet, "/api/auth/me", tok.Secret, nil).want(t, http.StatusOK, nil)
		e.clock.Advance(time.Second)
		e.call(t, http.MethodGet, "/api/auth/me", tok.Secret, nil).wantError(t, http.StatusUnauthorized, api.CodeUnauthorized)
		var list api.List[api.Token]
		e.call(t, http.MethodGet, "/api/auth/tokens", session, nil).want(t, http.StatusOK, &list)
		if len(list.Items) != 1 || list.Items[0].ID != readOnly.ID {
			t.Fatalf("list after expiry %+v, want only the read-only token", list.Items)
		}
	})

	t.Run("list pages", func(t *testing.T) {
		second := create(t, api.CreateTokenRequest{Name: "second"})
		var p1, p2 api.List[api.Token]
		e.call(t, http.MethodGet, "/api/auth/tokens?limit=1", session, nil).want(t, http.StatusOK, &p1)
		e.call(t, http.MethodGet, "/api/auth/tokens?limit=1&cursor="+p1.NextCursor, session, nil).want(t, http.StatusOK, &p2)
		if len(p1.Items) != 1 || p1.Items[0].ID != readOnly.ID || p1.NextCursor == "" ||
			len(p2.Items) != 1 || p2.Items[0].ID != second.ID || p2.NextCursor != "" {
			t.Fatalf("pages %+v then %+v", p1, p2)
		}
		e.call(t, http.MethodGet, "/api/auth/tokens?cursor=AAAA", session, nil).wantError(t, http.StatusBadRequest, api.CodeInvalidInput)
	})

	t.Run("at most 100 live tokens", func(t *testing.T) {
		live := e.countSessions(t, dave, store.KindToken) - 1 // the expired one
		err := e.db.Update(context.Background(), func(tx *store.Tx) error {
			for i := live; i < maxTokensPerUser-1; i++ {
				_, hash := newSecret(tokenPrefix)
				if err := tx.CreateSession(&store.Session{UserID: dave, Kind: store.KindToken, Name: "bulk"}, hash); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		last := create(t, api.CreateTokenRequest{Name: "the hundredth"})
		e.call(t, http.MethodPost, "/api/auth/tokens", session, api.CreateTokenRequest{Name: "one too many"}).
			wantError(t, http.StatusConflict, api.CodeConflict)
		e.call(t, http.MethodDelete, "/api/auth/tokens/"+last.ID, session, nil).want(t, http.StatusNoContent, nil)
	})

	t.Run("a disabled user's tokens stop at once", func(t *testing.T) {
		e.call(t, http.MethodGet, "/api/auth/me", readOnly.Secret, nil).want(t, http.StatusOK, nil)
		setDisabled(t, e, dave, true)
		e.call(t, http.MethodGet, "/api/auth/me", readOnly.Secret, nil).wantError(t, http.StatusUnauthorized, api.CodeUnauthorized)
		setDisabled(t, e, dave, false)
		e.call(t, http.MethodGet, "/api/auth/me", readOnly.Secret, nil).want(t, http.StatusOK, nil)
	})

	t.Run("audited without secrets", func(t *testing.T) {
		var got []string
		for _, r := range e.audit(t) {
			if strings.HasPrefix(r.Target, "token:") {
				got = append(got, r.Action+" "+r.Target)
			}
			for _, tok := range []api.CreatedToken{full, readOnly} {
				if strings.Contains(string(r.Before)+string(r.After), tok.Secret) {
					t.Errorf("audit record %s holds a token secret", r.Action)
				}
			}
		}
		if len(got) != 7 || got[0] != "token.create token:"+full.ID || got[2] != "token.revoke token:"+full.ID {
			t.Errorf("token audit records %q", got)
		}
		if log := e.log.String(); strings.Contains(log, full.Secret) || strings.Contains(log, readOnly.Secret) {
			t.Error("the server log holds a token secret")
		}
	})
}

// setRole links or unlinks a user and a role, as an admin would.
func setRole(t *testing.T, e *credEnv, userID uint64, role string, on bool) {
	t.Helper()
	rule := []string{rbac.UserSubject(userID), "role:" + role}
	err := e.authz.Mutate(context.Background(), func(tx *store.Tx) error {
		if on {
			_, err := e.authz.AddRule(tx, "g", rule)
			return err
		}
		r, err := tx.FindRule("g", rule)
		if err != nil {
			return err
		}
		_, err = tx.RemoveRule(r.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// setDisabled disables or enables a user in the store, as an admin would.
func setDisabled(t *testing.T, e *credEnv, userID uint64, disabled bool) {
	t.Helper()
	err := e.db.Update(context.Background(), func(tx *store.Tx) error {
		u, err := tx.User(userID)
		if err != nil {
			return err
		}
		u.Disabled = disabled
		return tx.UpdateUser(&u)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// sessionID is the id of the session a secret belongs to.
func sessionID(t *testing.T, e *credEnv, secret string) uint64 {
	t.Helper()
	cl, err := e.srv.lookupCaller(context.Background(), secret)
	if err != nil {
		t.Fatal(err)
	}
	return cl.session.ID
}
