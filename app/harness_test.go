package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	bolt "go.etcd.io/bbolt"
)

// adminHarness is a real server over HTTP on a temp bbolt file, with the
// shipped model and seed policy.
type adminHarness struct {
	srv   *Server
	db    *store.DB
	authz *rbac.Authorizer
	url   string
}

// mustAdminServer starts a server for one test. The database is checked for
// consistency when the test ends.
func mustAdminServer(t *testing.T) *adminHarness {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(filepath.Join(t.TempDir(), "gatehouse.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	model, err := rbac.LoadModel("../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("../policy.csv")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := rbac.ParseCSV(f, model)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	authz, err := rbac.New(ctx, db, model)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authz.Seed(ctx, seed); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.CookieSecure = false
	cfg.HashConcurrency = 2
	srv, err := NewServer(slog.New(slog.DiscardHandler), cfg, db, authz)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ts.Close()
		mustConsistentDB(t, db.Bolt())
		db.Close()
	})
	return &adminHarness{srv: srv, db: db, authz: authz, url: ts.URL}
}

// mustConsistentDB runs bbolt's own consistency check over every page.
func mustConsistentDB(t *testing.T, b *bolt.DB) {
	t.Helper()
	err := b.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// mustUser makes a user holding roles and in groups (bare names) straight
// in the store, without a usable password (so no argon2 cost), and signs
// them in: it returns the user and the Bearer token of a fresh session.
func (h *adminHarness) mustUser(t *testing.T, email string, roles, groups []string) (store.User, string) {
	t.Helper()
	u := store.User{Email: email, Name: email}
	secret, hash := newSecret(sessionPrefix)
	err := h.authz.Mutate(context.Background(), func(tx *store.Tx) error {
		if err := tx.CreateUser(&u); err != nil {
			return err
		}
		for _, r := range roles {
			if _, err := h.authz.AddRule(tx, "g", []string{rbac.UserSubject(u.ID), "role:" + r}); err != nil {
				return err
			}
		}
		for _, g := range groups {
			if _, err := h.authz.AddRule(tx, "g", []string{rbac.UserSubject(u.ID), "group:" + g}); err != nil {
				return err
			}
		}
		return tx.CreateSession(&store.Session{UserID: u.ID, Kind: store.KindSession, ExpiresAt: time.Now().Add(time.Hour)}, hash)
	})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u, secret
}

// do sends a request as the holder of token ("" for anonymous), with body
// as JSON unless it is nil or a []byte, and returns the status and body.
func (h *adminHarness) do(t *testing.T, token, method, path string, body any) (int, []byte) {
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
	req, err := http.NewRequest(method, h.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
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

// mustDo is do that requires status and decodes a JSON answer into out
// (when not nil).
func (h *adminHarness) mustDo(t *testing.T, token, method, path string, body any, status int, out any) []byte {
	t.Helper()
	got, data := h.do(t, token, method, path, body)
	if got != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, got, status, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return data
}

// errorCode is the error code of an error answer, or "" for any other body.
func errorCode(body []byte) string {
	var e struct {
		Code string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return e.Code
}

// mustStatus requires status and error code ("" for a success) of a
// request.
func (h *adminHarness) mustStatus(t *testing.T, token, method, path string, body any, status int, code string) []byte {
	t.Helper()
	got, data := h.do(t, token, method, path, body)
	if got != status || errorCode(data) != code {
		t.Fatalf("%s %s: %d %q, want %d %q; body %s", method, path, got, errorCode(data), status, code, data)
	}
	return data
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %s: %v", data, err)
	}
}
