package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
)

// TestCopyRoundTrip moves a database from a bbolt file to PostgreSQL and
// back: the policy exports equal at every step, the password works on a
// server over each copy, a session made on PostgreSQL works on the file it
// is copied back to, and a store that holds data is refused as a target.
func TestCopyRoundTrip(t *testing.T) {
	t.Parallel()
	file := mustSeededDB(t)
	pw := map[string]string{"GATEHOUSE_PASSWORD": "copy password here"}
	mustRunTool(t, file, pw, "", "user", "create", "--email", "root@example.com", "--admin")
	mustRunTool(t, file, pw, "", "user", "create", "--email", "kept@example.com")
	mustRunTool(t, file, nil, `p, role:user, "/api/a,b", GET, *`+"\n", "policy", "import", "-")
	policy := mustRunTool(t, file, nil, "", "policy", "export")

	pgURL := pgtest.NewDatabase(t)
	out := mustRunTool(t, file, nil, "", "copy", file, pgURL)
	if !strings.HasPrefix(out, "copied "+file+" to ") || !strings.Contains(out, ": 2 users, 2 groups, ") {
		t.Errorf("copy said %q", out)
	}
	if strings.Contains(out, "postgres:postgres@") {
		t.Errorf("copy printed a password: %q", out)
	}
	onPG := map[string]string{"GATEHOUSE_DATABASE_URL": pgURL}
	if got := mustRunTool(t, file, onPG, "", "policy", "export"); got != policy {
		t.Fatalf("policy on PostgreSQL:\n%s\nwant\n%s", got, policy)
	}
	// The offline tools work on PostgreSQL too.
	out = mustRunTool(t, file, map[string]string{"GATEHOUSE_DATABASE_URL": pgURL, "GATEHOUSE_PASSWORD": "made on postgres"},
		"", "user", "create", "--email", "pg@example.com")
	if !strings.HasPrefix(out, "created user ") {
		t.Errorf("user create on PostgreSQL said %q", out)
	}
	policy = mustRunTool(t, file, onPG, "", "policy", "export") // with the new user's role
	if _, _, err := runTool(t, file, nil, "", "copy", file, pgURL); err == nil || !strings.Contains(err.Error(), "already holds data") {
		t.Errorf("copy into a store with data: %v, want a refusal", err)
	}

	url, _, stop := startServe(t, onPG)
	c := api.NewClient(url, "")
	login, err := c.Login(context.Background(), api.LoginRequest{Email: "root@example.com", Password: "copy password here"})
	if err != nil {
		t.Fatalf("sign in on PostgreSQL: %v", err)
	}
	// A file backup is not PostgreSQL's: 501 with a pointer to pg_dump.
	req, _ := http.NewRequest(http.MethodGet, url+"/api/admin/backup", nil)
	req.Header.Set("Authorization", "Bearer "+login.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNotImplemented || e.Code != api.CodeNotImplemented || !strings.Contains(e.Message, "pg_dump") {
		t.Errorf("backup on PostgreSQL: %d %+v", resp.StatusCode, e)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runTool(t, file, onPG, "", "backup", filepath.Join(t.TempDir(), "b.db")); err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("gatehouse backup on PostgreSQL: %v, want a pointer to pg_dump", err)
	}

	back := filepath.Join(t.TempDir(), "back.db")
	mustRunTool(t, file, nil, "", "copy", pgURL, back)
	if got := mustRunTool(t, back, nil, "", "policy", "export"); got != policy {
		t.Fatalf("policy copied back:\n%s\nwant\n%s", got, policy)
	}
	url, _, stop = startServe(t, map[string]string{"GATEHOUSE_DB": back})
	defer stop()
	me, err := api.NewClient(url, login.Token).Me(context.Background())
	if err != nil || me.Email != "root@example.com" {
		t.Fatalf("the session made on PostgreSQL, on the copy: %+v, %v", me, err)
	}
	if _, err := api.NewClient(url, "").Login(context.Background(), api.LoginRequest{Email: "kept@example.com", Password: "copy password here"}); err != nil {
		t.Errorf("sign in on the copy: %v", err)
	}
	var ae *api.Error
	if _, err := api.NewClient(url, "").Login(context.Background(), api.LoginRequest{Email: "kept@example.com", Password: "wrong password here"}); !errors.As(err, &ae) || ae.Code != api.CodeInvalidCredentials {
		t.Errorf("wrong password on the copy: %v", err)
	}
}
