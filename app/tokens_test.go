package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"github.com/gatehouse/gatehouse/access"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// TestTokens follows personal API tokens from creation to revocation, on
// one server: the subtests run in order and build on each other.
func TestTokens(t *testing.T) {
	t.Parallel()
	ts, clock := newClockedServer(t)
	dave := ts.mustUser([]string{"user"})
	var adminNote api.Note
	expect(t, ts.do(http.MethodPost, "/api/notes", &ts.admin, map[string]string{"title": "the admin's"}, &adminNote), http.StatusCreated, "")

	create := func(t *testing.T, in api.CreateTokenRequest) api.CreatedToken {
		t.Helper()
		var tok api.CreatedToken
		resp := ts.do(http.MethodPost, "/api/auth/tokens", &dave, in, &tok)
		expect(t, resp, http.StatusCreated, "")
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("create Cache-Control %q, want no-store", got)
		}
		return tok
	}
	list := func(t *testing.T, query string) (api.List[api.Token], []byte) {
		t.Helper()
		var l api.List[api.Token]
		resp := ts.do(http.MethodGet, "/api/auth/tokens"+query, &dave, nil, &l)
		expect(t, resp, http.StatusOK, "")
		body, _ := io.ReadAll(resp.Body)
		return l, body
	}

	var full, readOnly api.CreatedToken
	t.Run("shown once, with a recognisable prefix", func(t *testing.T) {
		full = create(t, api.CreateTokenRequest{Password: testPassword, Name: " deploy script "})
		if !strings.HasPrefix(full.Secret, "gatehouse_pat_") || len(full.Secret) != len("gatehouse_pat_")+43 {
			t.Fatalf("secret %q: want gatehouse_pat_ and 43 characters", full.Secret)
		}
		if full.Name != "deploy script" || full.ReadOnly || full.ExpiresAt != nil {
			t.Fatalf("created %+v", full.Token)
		}
		l, body := list(t, "")
		if len(l.Items) != 1 || l.Items[0] != full.Token {
			t.Fatalf("list %+v, want just %+v", l.Items, full.Token)
		}
		if bytes.Contains(body, []byte(full.Secret)) || bytes.Contains(body, []byte(`"token"`)) {
			t.Fatalf("the list shows a secret: %s", body)
		}
	})

	t.Run("acts as its user with current roles, no CSRF", func(t *testing.T) {
		var me api.User
		expect(t, ts.do(http.MethodGet, "/api/auth/me", asToken(full.Secret), nil, &me), http.StatusOK, "")
		if me.ID != store.FormatID(dave.ID) {
			t.Fatalf("token acts as user %s, want %d", me.ID, dave.ID)
		}
		expect(t, ts.do(http.MethodPost, "/api/notes", asToken(full.Secret), map[string]string{"title": "from a script"}, nil), http.StatusCreated, "")
		note := "/api/notes/" + adminNote.ID
		expect(t, ts.do(http.MethodGet, note, asToken(full.Secret), nil, nil), http.StatusForbidden, api.CodeForbidden)
		editor := ts.mustRule("g", dave.Subject(), "role:editor")
		expect(t, ts.do(http.MethodGet, note, asToken(full.Secret), nil, nil), http.StatusOK, "")
		ts.removeRule(editor.ID)
		expect(t, ts.do(http.MethodGet, note, asToken(full.Secret), nil, nil), http.StatusForbidden, api.CodeForbidden)
	})

	t.Run("read-only allows safe methods only", func(t *testing.T) {
		readOnly = create(t, api.CreateTokenRequest{Password: testPassword, Name: "dashboard", ReadOnly: true})
		if !readOnly.ReadOnly {
			t.Fatal("created token is not read-only")
		}
		expect(t, ts.do(http.MethodGet, "/api/notes", asToken(readOnly.Secret), nil, nil), http.StatusOK, "")
		expect(t, ts.do(http.MethodGet, "/api/auth/tokens", asToken(readOnly.Secret), nil, nil), http.StatusOK, "")
		expect(t, ts.do(http.MethodPost, "/api/notes", asToken(readOnly.Secret), map[string]string{"title": "no"}, nil), http.StatusForbidden, api.CodeForbidden)
		expect(t, ts.do(http.MethodPost, "/api/auth/logout", asToken(readOnly.Secret), nil, nil), http.StatusForbidden, api.CodeForbidden)
		expect(t, ts.do(http.MethodDelete, "/api/auth/tokens/"+readOnly.ID, asToken(readOnly.Secret), nil, nil), http.StatusForbidden, api.CodeForbidden)
	})

	t.Run("tokens cannot manage tokens or the second factor", func(t *testing.T) {
		for _, r := range []struct {
			method, path string
			body         any
		}{
			{http.MethodPost, "/api/auth/tokens", api.CreateTokenRequest{Password: testPassword, Name: "child"}},
			{http.MethodDelete, "/api/auth/tokens/" + readOnly.ID, nil},
			{http.MethodPost, "/api/auth/mfa/setup", nil},
			{http.MethodPost, "/api/auth/mfa/enable", api.MFAEnableRequest{OTP: "123456"}},
			{http.MethodDelete, "/api/auth/mfa", api.MFADisableRequest{Password: testPassword}},
		} {
			expect(t, ts.do(r.method, r.path, asToken(full.Secret), r.body, nil), http.StatusForbidden, api.CodeForbidden)
		}
		if n := ts.countSessions(dave.ID, store.KindToken); n != 2 {
			t.Fatalf("%d tokens, want the 2 made by the session", n)
		}
	})

	t.Run("hashed at rest", func(t *testing.T) {
		var backup bytes.Buffer
		if _, err := ts.db.(*bolt.DB).WriteTo(context.Background(), &backup); err != nil {
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
			{api.CreateTokenRequest{Password: testPassword, Name: "   "}, "name"},
			{api.CreateTokenRequest{Password: testPassword, Name: strings.Repeat("x", 101)}, "name"},
			{api.CreateTokenRequest{Password: testPassword, Name: "bell\a"}, "name"},
			{api.CreateTokenRequest{Password: testPassword, Name: "ok", ExpiresIn: "soon"}, "expires_in"},
			{api.CreateTokenRequest{Password: testPassword, Name: "ok", ExpiresIn: "-1h"}, "expires_in"},
			{api.CreateTokenRequest{Password: testPassword, Name: "ok", ExpiresIn: "30s"}, "expires_in"},
			{api.CreateTokenRequest{Password: testPassword, Name: "ok", ExpiresIn: "100000h"}, "expires_in"},
		} {
			var e api.Error
			expect(t, ts.do(http.MethodPost, "/api/auth/tokens", &dave, tt.in, &e), http.StatusBadRequest, api.CodeInvalidInput)
			if _, ok := e.Details[tt.field]; !ok || len(e.Details) != 1 {
				t.Errorf("%+v: details %v, want one about %s", tt.in, e.Details, tt.field)
			}
		}
	})

	t.Run("revocation takes effect on the next request", func(t *testing.T) {
		path := "/api/auth/tokens/" + full.ID
		// Someone else's token: not theirs to revoke.
		expect(t, ts.do(http.MethodDelete, path, &ts.admin, nil, nil), http.StatusForbidden, api.CodeForbidden)
		expect(t, ts.do(http.MethodDelete, path, &dave, nil, nil), http.StatusNoContent, "")
		expect(t, ts.do(http.MethodGet, "/api/auth/me", asToken(full.Secret), nil, nil), http.StatusUnauthorized, api.CodeUnauthorized)
		expect(t, ts.do(http.MethodDelete, path, &dave, nil, nil), http.StatusNotFound, api.CodeNotFound)
		// A login session's id is not a token's.
		cl, err := ts.lookupCaller(context.Background(), dave.Token, store.DocRef{})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, ts.do(http.MethodDelete, "/api/auth/tokens/"+store.FormatID(cl.session.ID), &dave, nil, nil), http.StatusNotFound, api.CodeNotFound)
		expect(t, ts.do(http.MethodGet, "/api/auth/me", &dave, nil, nil), http.StatusOK, "")
	})

	t.Run("expiry", func(t *testing.T) {
		tok := create(t, api.CreateTokenRequest{Password: testPassword, Name: "nightly", ExpiresIn: "2h"})
		if tok.ExpiresAt == nil || !tok.ExpiresAt.Equal(clock.Now().Add(2*time.Hour)) {
			t.Fatalf("expires_at %v, want two hours from %v", tok.ExpiresAt, clock.Now())
		}
		expect(t, ts.do(http.MethodGet, "/api/auth/me", asToken(tok.Secret), nil, nil), http.StatusOK, "")
		clock.Advance(2*time.Hour - time.Second)
		expect(t, ts.do(http.MethodGet, "/api/auth/me", asToken(tok.Secret), nil, nil), http.StatusOK, "")
		clock.Advance(time.Second)
		expect(t, ts.do(http.MethodGet, "/api/auth/me", asToken(tok.Secret), nil, nil), http.StatusUnauthorized, api.CodeUnauthorized)
		if l, _ := list(t, ""); len(l.Items) != 1 || l.Items[0].ID != readOnly.ID {
			t.Fatalf("list after expiry %+v, want only the read-only token", l.Items)
		}
	})

	t.Run("list pages", func(t *testing.T) {
		second := create(t, api.CreateTokenRequest{Password: testPassword, Name: "second"})
		p1, _ := list(t, "?limit=1")
		p2, _ := list(t, "?limit=1&cursor="+p1.NextCursor)
		if len(p1.Items) != 1 || p1.Items[0].ID != readOnly.ID || p1.NextCursor == "" ||
			len(p2.Items) != 1 || p2.Items[0].ID != second.ID || p2.NextCursor != "" {
			t.Fatalf("pages %+v then %+v", p1, p2)
		}
		expect(t, ts.do(http.MethodGet, "/api/auth/tokens?cursor=AAAA", &dave, nil, nil), http.StatusBadRequest, api.CodeInvalidInput)
	})

	t.Run("at most 100 live tokens", func(t *testing.T) {
		live := ts.countSessions(dave.ID, store.KindToken) - 1 // the expired one
		err := ts.db.Update(context.Background(), func(tx store.Tx) error {
			for i := live; i < access.MaxTokensPerUser-1; i++ {
				_, hash := newSecret(tokenPrefix)
				if err := tx.Sessions().Create(&store.Session{UserID: dave.ID, Kind: store.KindToken, Name: "bulk"}, hash); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		last := create(t, api.CreateTokenRequest{Password: testPassword, Name: "the hundredth"})
		expect(t, ts.do(http.MethodPost, "/api/auth/tokens", &dave, api.CreateTokenRequest{Password: testPassword, Name: "one too many"}, nil), http.StatusConflict, api.CodeConflict)
		expect(t, ts.do(http.MethodDelete, "/api/auth/tokens/"+last.ID, &dave, nil, nil), http.StatusNoContent, "")
	})

	t.Run("a disabled user's tokens stop at once", func(t *testing.T) {
		expect(t, ts.do(http.MethodGet, "/api/auth/me", asToken(readOnly.Secret), nil, nil), http.StatusOK, "")
		ts.setDisabled(dave.ID, true)
		expect(t, ts.do(http.MethodGet, "/api/auth/me", asToken(readOnly.Secret), nil, nil), http.StatusUnauthorized, api.CodeUnauthorized)
		ts.setDisabled(dave.ID, false)
		expect(t, ts.do(http.MethodGet, "/api/auth/me", asToken(readOnly.Secret), nil, nil), http.StatusOK, "")
	})

	t.Run("audited without secrets", func(t *testing.T) {
		var got []string
		for _, r := range ts.auditLog() {
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
		if log := ts.logs.String(); strings.Contains(log, full.Secret) || strings.Contains(log, readOnly.Secret) {
			t.Error("the server log holds a token secret")
		}
	})
}

// removeRule removes a rule through the authorizer.
func (ts *testServer) removeRule(id uint64) {
	ts.t.Helper()
	err := ts.authz.Mutate(context.Background(), func(tx store.Tx) error {
		_, err := tx.Rules().Remove(id)
		return err
	})
	if err != nil {
		ts.t.Fatal(err)
	}
}

// setDisabled disables or enables a user in the store, as an admin would.
func (ts *testServer) setDisabled(userID uint64, disabled bool) {
	ts.t.Helper()
	err := ts.db.Update(context.Background(), func(tx store.Tx) error {
		u, err := tx.Users().Get(userID)
		if err != nil {
			return err
		}
		u.Disabled = disabled
		return tx.Users().Update(&u)
	})
	if err != nil {
		ts.t.Fatal(err)
	}
}
