package main

import (
	"context"
	"fmt"
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

// TestImportReplaceKeepsAdminsAble: an offline import with --replace that
// would leave no admin able to sign in and manage the policy (a file
// holding only the admin's role link: no login rule, no policy rule) is
// refused whole; --force imports it anyway.
func TestImportReplaceKeepsAdminsAble(t *testing.T) {
	db := mustSeededDB(t)
	mustRunTool(t, db, map[string]string{"GATEHOUSE_PASSWORD": "first password here"}, "", "user", "create", "--email", "root@example.com", "--admin")
	before := mustRunTool(t, db, nil, "", "policy", "export")
	_, _, err := runTool(t, db, nil, "g, user:1, role:admin\n", "policy", "import", "--replace", "-")
	if err == nil || !strings.Contains(err.Error(), "no enabled admin") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("import: %v, want a refusal that names --force", err)
	}
	if got := mustRunTool(t, db, nil, "", "policy", "export"); got != before {
		t.Fatalf("a refused import changed the policy:\n%s", got)
	}
	out := mustRunTool(t, db, nil, "g, user:1, role:admin\n", "policy", "import", "--replace", "--force", "-")
	removed := strings.Count(before, "\n") - 1 // every rule but the admin's link
	if want := fmt.Sprintf(": 0 rules added, %d removed\n", removed); !strings.HasSuffix(out, want) {
		t.Errorf("forced import said %q", out)
	}
	if got := mustRunTool(t, db, nil, "", "policy", "export"); got != "g, user:1, role:admin\n" {
		t.Fatalf("after the forced import:\n%s", got)
	}
}
