package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// Benchmarks of the admin API over HTTP on a real file:
//
//	go test ./app -run '^$' -bench Admin -benchtime 2s

// benchAdminServer serves the seed policy with users users (half of them
// in staff) and notes KiB of notes, and returns the URL and an admin's
// token.
func benchAdminServer(b *testing.B, users, notesKiB int) (string, string) {
	b.Helper()
	ctx := context.Background()
	db, err := bolt.Open(b.TempDir()+"/gatehouse.db", bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	m := mustModel(b)
	authz, err := rbac.New(ctx, db, m)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := authz.Seed(ctx, mustSeedPolicy(b, m)); err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.CookieSecure = false
	srv, err := NewServer(slog.New(slog.DiscardHandler), cfg, db, authz)
	if err != nil {
		b.Fatal(err)
	}
	secret, hash := newSecret(sessionPrefix)
	body := strings.Repeat("x", 1024)
	err = authz.Mutate(ctx, func(tx store.Tx) error {
		for i := range users {
			u := store.User{Email: fmt.Sprintf("u%d@example.com", i), Name: fmt.Sprintf("User %d", i)}
			if err := tx.Users().Create(&u); err != nil {
				return err
			}
			role := "role:user"
			if i == 0 {
				role = "role:admin"
			}
			if _, err := authz.AddRule(tx, "g", []string{rbac.UserSubject(u.ID), role}); err != nil {
				return err
			}
			if i%2 == 1 {
				if _, err := authz.AddRule(tx, "g", []string{rbac.UserSubject(u.ID), "group:staff"}); err != nil {
					return err
				}
			}
		}
		for range notesKiB {
			if err := Notes.Create(tx, &Note{Owned: store.Owned{OwnerID: 1}, Title: "n", Body: body}); err != nil {
				return err
			}
		}
		return tx.Sessions().Create(&store.Session{UserID: 1, Kind: store.KindSession, ExpiresAt: time.Now().Add(time.Hour)}, hash)
	})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	b.Cleanup(ts.Close)
	return ts.URL, secret
}

func benchCall(b *testing.B, url, token, method, path, body string, status int) int64 {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, url+path, r)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != status {
		b.Fatalf("%s %s: %d", method, path, res.StatusCode)
	}
	return n
}

// BenchmarkAdminUserList reads a page of 50 users with their roles and
// groups, out of 10,000.
func BenchmarkAdminUserList(b *testing.B) {
	url, token := benchAdminServer(b, 10000, 0)
	for b.Loop() {
		benchCall(b, url, token, "GET", "/api/admin/users?limit=50", "", 200)
	}
}

// BenchmarkAdminUserSearch searches 10,000 users for one that matches.
func BenchmarkAdminUserSearch(b *testing.B) {
	url, token := benchAdminServer(b, 10000, 0)
	for b.Loop() {
		benchCall(b, url, token, "GET", "/api/admin/users?q=u9999@", "", 200)
	}
}

// BenchmarkAdminGroupGet reads the staff group with its 5,000 members.
func BenchmarkAdminGroupGet(b *testing.B) {
	url, token := benchAdminServer(b, 10000, 0)
	for b.Loop() {
		benchCall(b, url, token, "GET", "/api/admin/groups/staff", "", 200)
	}
}

// BenchmarkAdminPolicyImport adds 1,000 rules and takes them out again
// (two imports with replace), each in one transaction.
func BenchmarkAdminPolicyImport(b *testing.B) {
	url, token := benchAdminServer(b, 1, 0)
	var seed strings.Builder
	for _, r := range mustSeedPolicy(b, mustModel(b)) {
		seed.WriteString(rbac.FormatCSVLine(r.Type, r.Values) + "\n")
	}
	seed.WriteString("g, user:1, role:admin\n")
	more := seed.String()
	for i := range 1000 {
		more += fmt.Sprintf("p, role:user, /api/things/%d, GET, *\n", i)
	}
	body := func(csv string) string {
		data, err := json.Marshal(api.PolicyImport{CSV: csv, Replace: true})
		if err != nil {
			b.Fatal(err)
		}
		return string(data)
	}
	grow, shrink := body(more), body(seed.String())
	for b.Loop() {
		benchCall(b, url, token, "POST", "/api/admin/policies/import", grow, 200)
		benchCall(b, url, token, "POST", "/api/admin/policies/import", shrink, 200)
	}
}

// BenchmarkAdminBackup streams a copy of a database of about 20 MiB.
func BenchmarkAdminBackup(b *testing.B) {
	url, token := benchAdminServer(b, 1000, 16000)
	var n int64
	for b.Loop() {
		n = benchCall(b, url, token, "GET", "/api/admin/backup", "", 200)
	}
	b.SetBytes(n)
}
