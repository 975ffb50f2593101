package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store/bolt"
	bbolt "go.etcd.io/bbolt"
)

// mustSeededDB makes a database file holding the seed policy, as the first
// start of a server leaves it (without users), and returns its path.
func mustSeededDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	db, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	model, err := rbac.LoadModel("../../model.conf")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := readPolicyFile("../../policy.csv", model)
	if err != nil {
		t.Fatal(err)
	}
	authz, err := rbac.New(context.Background(), db, model)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := authz.Seed(context.Background(), seed); err != nil {
		t.Fatal(err)
	}
	return path
}

// runTool runs gatehouse in-process with the database at db, the shipped
// model, env on top, and stdin.
func runTool(t *testing.T, db string, env map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	getenv := func(k string) string {
		switch k {
		case "GATEHOUSE_DB":
			return db
		case "GATEHOUSE_MODEL":
			return "../../model.conf"
		}
		return env[k]
	}
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, getenv, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func mustRunTool(t *testing.T, db string, env map[string]string, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := runTool(t, db, env, stdin, args...)
	if err != nil {
		t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// TestUserCreateAndPasswdOffline makes an admin and resets a password on
// the file, then signs in through a server over that file.
func TestUserCreateAndPasswdOffline(t *testing.T) {
	t.Parallel()
	db := mustSeededDB(t)
	pw := map[string]string{"GATEHOUSE_PASSWORD": "first password here"}
	out := mustRunTool(t, db, pw, "", "user", "create", "--email", "root@example.com", "--name", "Root", "--admin")
	if out != "created user 1 (root@example.com) with role admin\n" {
		t.Errorf("create said %q", out)
	}
	refusals := []struct {
		name  string
		env   map[string]string
		stdin string
		args  []string
		says  string
	}{
		{"taken email", pw, "", []string{"user", "create", "--email", "ROOT@example.com"}, "exists"},
		{"short password", map[string]string{"GATEHOUSE_PASSWORD": "short"}, "", []string{"user", "create", "--email", "a@example.com"}, "password must be 12 to 128 characters"},
		{"no password", nil, "", []string{"user", "create", "--email", "a@example.com"}, "no password"},
		{"bad email", pw, "", []string{"user", "create", "--email", "root"}, "email must be"},
		{"password as a flag", pw, "", []string{"user", "create", "--email", "a@example.com", "--password", "x"}, "usage"},
		{"unknown user", pw, "", []string{"user", "passwd", "--email", "nobody@example.com"}, "no user with email"},
		{"no database", pw, "", []string{"user", "create", "--email", "a@example.com", "--db", filepath.Join(t.TempDir(), "none.db")}, "no database here"},
	}
	for _, r := range refusals {
		_, _, err := runTool(t, db, r.env, r.stdin, r.args...)
		if err == nil || !strings.Contains(err.Error(), r.says) {
			t.Errorf("%s: err %v, want one saying %q", r.name, err, r.says)
		}
	}

	// The password from standard input, as a script would pipe it.
	out = mustRunTool(t, db, nil, "second password here\n", "user", "passwd", "--email", "root@example.com")
	if !strings.HasPrefix(out, "password of user 1 (root@example.com) set") {
		t.Errorf("passwd said %q", out)
	}

	url, _, stop := startServe(t, map[string]string{"GATEHOUSE_DB": db})
	defer stop()
	login := func(password string) int {
		body, _ := json.Marshal(api.LoginRequest{Email: "root@example.com", Password: password})
		resp, err := http.Post(url+"/api/auth/login", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == 200 {
			var res api.LoginResponse
			if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
				t.Fatal(err)
			}
			if strings.Join(res.User.Roles, ",") != "admin" {
				t.Errorf("roles %v", res.User.Roles)
			}
		}
		return resp.StatusCode
	}
	if got := login("first password here"); got != 401 {
		t.Errorf("old password: %d", got)
	}
	if got := login("second password here"); got != 200 {
		t.Errorf("new password: %d", got)
	}
	// Only two users were ever made: the refusals left nothing behind, and
	// the audit log names the offline tool.
	c := api.NewClient(url, "")
	if _, err := c.Login(context.Background(), api.LoginRequest{Email: "root@example.com", Password: "second password here"}); err != nil {
		t.Fatal(err)
	}
	users, err := c.ListUsers(context.Background(), api.ListOptions{})
	if err != nil || len(users.Items) != 1 {
		t.Fatalf("users %+v, %v", users.Items, err)
	}
	audit, err := c.ListAudit(context.Background(), api.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit.Items) != 2 || audit.Items[0].Actor != "offline" || audit.Items[0].Action != "user.update" ||
		audit.Items[0].After["password_changed"] != true || audit.Items[1].Action != "user.create" {
		t.Errorf("audit %+v", audit.Items)
	}
}

// TestPolicyExportImportOffline round-trips the policy through a file with
// quoted values, and refuses a malformed file whole.
func TestPolicyExportImportOffline(t *testing.T) {
	t.Parallel()
	db := mustSeededDB(t)
	seed := mustRunTool(t, db, nil, "", "policy", "export")
	if !strings.HasPrefix(seed, "p, anonymous, /api/health, GET, *\n") {
		t.Fatalf("export starts %q", seed[:min(len(seed), 80)])
	}
	edited := seed + `p, role:user, "/api/a,b", GET, *` + "\n" + `p, role:user, "/api/""q""", GET, *` + "\n"
	in := filepath.Join(t.TempDir(), "policy.csv")
	if err := os.WriteFile(in, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustRunTool(t, db, nil, "", "policy", "import", "--replace", in)
	if !strings.HasSuffix(out, ": 2 rules added, 0 removed\n") {
		t.Errorf("import said %q", out)
	}
	exported := filepath.Join(t.TempDir(), "out.csv")
	mustRunTool(t, db, nil, "", "policy", "export", exported)
	if got, _ := os.ReadFile(exported); string(got) != edited {
		t.Fatalf("export after import:\n%s\nwant\n%s", got, edited)
	}

	_, _, err := runTool(t, db, nil, "p, role:user, /api/fine, GET, *\np, role:user\n", "policy", "import", "--replace", "-")
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("malformed import: %v", err)
	}
	if got := mustRunTool(t, db, nil, "", "policy", "export"); got != edited {
		t.Errorf("a refused import changed the policy:\n%s", got)
	}
	// Replacing the policy with one that has no admin link is allowed when
	// the file has no admin yet (nobody to lock out), and is all or nothing.
	out = mustRunTool(t, db, nil, seed, "policy", "import", "--replace", "-")
	if !strings.HasSuffix(out, ": 0 rules added, 2 removed\n") {
		t.Errorf("replace said %q", out)
	}
}

// TestBackupOffline copies the file and checks the copy.
func TestBackupOffline(t *testing.T) {
	t.Parallel()
	db := mustSeededDB(t)
	mustRunTool(t, db, map[string]string{"GATEHOUSE_PASSWORD": "first password here"}, "", "user", "create", "--email", "root@example.com", "--admin")
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	out := mustRunTool(t, db, nil, "", "backup", copyPath)
	if !strings.Contains(out, "written to "+copyPath) {
		t.Errorf("backup said %q", out)
	}
	if fi, err := os.Stat(copyPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("copy: %v, mode %v", err, fi.Mode())
	}
	b, err := bbolt.Open(copyPath, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	err = b.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("check: %v", err)
		}
		return nil
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	// The copy holds the user and the same policy.
	if got, want := mustRunTool(t, copyPath, nil, "", "policy", "export"), mustRunTool(t, db, nil, "", "policy", "export"); got != want {
		t.Error("the copy's policy differs")
	}
	_, _, err = runTool(t, copyPath, map[string]string{"GATEHOUSE_PASSWORD": "first password here"}, "", "user", "create", "--email", "root@example.com")
	if err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("the copy lacks the user: %v", err)
	}
	if _, _, err := runTool(t, db, nil, "", "backup", db); err == nil || !strings.Contains(err.Error(), "the database itself") {
		t.Errorf("backup onto the database: %v", err)
	}
	var stdout bytes.Buffer
	getenv := func(k string) string {
		if k == "GATEHOUSE_DB" {
			return db
		}
		return ""
	}
	if err := run(context.Background(), []string{"backup", "-"}, getenv, strings.NewReader(""), &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if raw, _ := os.ReadFile(copyPath); stdout.Len() != len(raw) {
		t.Errorf("backup to stdout: %d bytes, file copy %d", stdout.Len(), len(raw))
	}
}

// TestOfflineToolsRefuseWhileServed: while a server holds the file, every
// offline tool refuses with one line that says why.
func TestOfflineToolsRefuseWhileServed(t *testing.T) {
	t.Parallel()
	db := mustSeededDB(t)
	_, _, stop := startServe(t, map[string]string{"GATEHOUSE_DB": db})
	t.Cleanup(func() { _ = stop() }) // after the parallel subtests
	csv := filepath.Join(t.TempDir(), "p.csv")
	if err := os.WriteFile(csv, []byte("p, role:user, /api/x, GET, *\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pw := map[string]string{"GATEHOUSE_PASSWORD": "first password here"}
	for _, args := range [][]string{
		{"user", "create", "--email", "a@example.com", "--admin"},
		{"user", "passwd", "--email", "a@example.com"},
		{"policy", "export"},
		{"policy", "import", csv},
		{"backup", filepath.Join(t.TempDir(), "b.db")},
	} {
		name := args[0]
		if args[0] != "backup" {
			name += " " + args[1]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, _, err := runTool(t, db, pw, "", args...)
			if err == nil || !strings.Contains(err.Error(), "in use by another process (is a gatehouse server running?)") || strings.Contains(err.Error(), "\n") {
				t.Errorf("err %v, want one line saying the database is in use", err)
			}
		})
	}
}
