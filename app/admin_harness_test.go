package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

// Helpers of the admin API tests, on top of testServer (core_test.go).
// They take the test explicitly, so that subtests fail themselves.

// mustQuickUser makes a user holding roles and in groups (bare names)
// straight in the store and signs them in with a fresh session. The user
// has no usable password: no argon2 cost, for tests about what callers may
// do rather than how they sign in.
func (ts *testServer) mustQuickUser(t *testing.T, email string, roles, groups []string) testUser {
	t.Helper()
	u := store.User{Email: email, Name: email}
	secret, hash := newSecret(sessionPrefix)
	err := ts.authz.Mutate(context.Background(), func(tx store.Tx) error {
		if err := tx.Users().Create(&u); err != nil {
			return err
		}
		for _, r := range roles {
			if _, err := ts.authz.AddRule(tx, "g", []string{rbac.UserSubject(u.ID), "role:" + r}); err != nil {
				return err
			}
		}
		for _, g := range groups {
			if _, err := ts.authz.AddRule(tx, "g", []string{rbac.UserSubject(u.ID), "group:" + g}); err != nil {
				return err
			}
		}
		return tx.Sessions().Create(&store.Session{UserID: u.ID, Kind: store.KindSession, ExpiresAt: time.Now().Add(time.Hour)}, hash)
	})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return testUser{ID: u.ID, Email: email, Token: secret}
}

// call sends a request as the holder of token ("" for anonymous), with
// body as JSON unless it is nil or a []byte sent as it is, and returns the
// status and body.
func (ts *testServer) call(t *testing.T, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, ts.http.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := ts.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, data
}

// mustCall requires the exact status and error code ("" for a success) of
// a request, and returns the body.
func (ts *testServer) mustCall(t *testing.T, token, method, path string, body any, status int, code string) []byte {
	t.Helper()
	got, data := ts.call(t, token, method, path, body)
	if got != status || codeOf(data) != code {
		t.Fatalf("%s %s: %d %q, want %d %q; body %s", method, path, got, codeOf(data), status, code, data)
	}
	return data
}

// mustCallJSON is mustCall for a success, decoding the answer into out
// (when not nil).
func (ts *testServer) mustCallJSON(t *testing.T, token, method, path string, body any, status int, out any) []byte {
	t.Helper()
	data := ts.mustCall(t, token, method, path, body, status, "")
	if out != nil {
		mustUnmarshal(t, data, out)
	}
	return data
}

// codeOf is the error code of an error answer, or "" for any other body.
func codeOf(body []byte) string {
	var e struct {
		Code string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Code
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}

func ptr[T any](v T) *T { return &v }
