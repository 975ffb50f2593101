package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
)

// TestPasswdEndsSessionsAndTokens performs the attack on account recovery:
// whoever held the account made a personal token and keeps a session;
// the operator recovers the account with `gatehouse user passwd`. On the
// next start neither the token nor the session works (401 unauthorized).
func TestPasswdEndsSessionsAndTokens(t *testing.T) {
	db := mustSeededDB(t)
	mustRunTool(t, db, map[string]string{"GATEHOUSE_PASSWORD": "first password here"}, "", "user", "create", "--email", "root@example.com", "--admin")

	ctx := context.Background()
	url, _, stop := startServe(t, map[string]string{"GATEHOUSE_DB": db})
	res, err := api.NewClient(url, "").Login(ctx, api.LoginRequest{Email: "root@example.com", Password: "first password here"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := api.NewClient(url, res.Token).CreateToken(ctx, api.CreateTokenRequest{Name: "kept", Password: "first password here"})
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	out := mustRunTool(t, db, nil, "second password here\n", "user", "passwd", "--email", "root@example.com")
	if out != "password of user 1 (root@example.com) set; 1 sessions ended, 1 tokens revoked\n" {
		t.Errorf("passwd said %q", out)
	}

	url, _, stop = startServe(t, map[string]string{"GATEHOUSE_DB": db})
	defer stop()
	for name, secret := range map[string]string{"session": res.Token, "token": tok.Secret} {
		_, err := api.NewClient(url, secret).Me(ctx)
		if !api.IsCode(err, api.CodeUnauthorized) {
			t.Errorf("%s after user passwd: %v, want 401 unauthorized", name, err)
		}
	}
}

// TestImportRefusesUnknownUsers: an offline import naming a user who does
// not exist is refused whole, with the line.
func TestImportRefusesUnknownUsers(t *testing.T) {
	db := mustSeededDB(t)
	file := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(file, []byte("g, user:7, role:admin\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := runTool(t, db, nil, "", "policy", "import", file)
	if err == nil || !strings.Contains(err.Error(), "line 1: user:7 is not a user") {
		t.Fatalf("import: %v, want a refusal naming line 1 and user:7", err)
	}
}
