package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
)

// syncBuffer is a bytes.Buffer safe to write from the server goroutine
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs `gatehouse serve` in-process on a free port with a temp
// database and returns its base URL, its stdout and a stop function that
// waits for a clean exit.
func startServe(t *testing.T, env map[string]string) (string, *syncBuffer, func() error) {
	t.Helper()
	base := map[string]string{
		"GATEHOUSE_ADDR":          "127.0.0.1:0",
		"GATEHOUSE_DB":            t.TempDir() + "/data/gatehouse.db",
		"GATEHOUSE_MODEL":         "../../model.conf",
		"GATEHOUSE_POLICY":        "../../policy.csv",
		"GATEHOUSE_COOKIE_SECURE": "false",
	}
	for k, v := range env {
		base[k] = v
	}
	stdout, stderr := &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, func(k string) string { return base[k] }, strings.NewReader(""), stdout, stderr)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if i := strings.Index(stdout.String(), "listening on "); i >= 0 {
			line := stdout.String()[i+len("listening on "):]
			url := strings.TrimSpace(strings.SplitN(line, "\n", 2)[0])
			stop := func() error {
				cancel()
				select {
				case err := <-done:
					return err
				case <-time.After(15 * time.Second):
					return errors.New("serve did not stop")
				}
			}
			return url, stdout, stop
		}
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve exited early: %v\nstderr: %s", err, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start; stderr: %s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRunServeWalkthrough starts the whole program and walks what a
// newcomer does: sign in as the printed admin, create a user, see them
// refused another's note, sign out.
func TestRunServeWalkthrough(t *testing.T) {
	url, stdout, stop := startServe(t, nil)
	ctx := context.Background()
	var password string
	sc := bufio.NewScanner(strings.NewReader(stdout.String()))
	for sc.Scan() {
		if _, after, ok := strings.Cut(sc.Text(), "with password "); ok {
			password = after
		}
	}
	if password == "" {
		t.Fatalf("no admin password printed; stdout: %s", stdout.String())
	}
	admin := api.NewClient(url, "")
	if _, err := admin.Login(ctx, api.LoginRequest{Email: "admin@localhost", Password: password}); err != nil {
		t.Fatal(err)
	}
	anon := api.NewClient(url, "")
	reg := api.RegisterRequest{Email: "ada@example.com", Password: "a long enough password", Name: "Ada"}
	if err := postJSON(url+"/api/auth/register", reg, http.StatusCreated); err != nil {
		t.Fatal(err)
	}
	ada := api.NewClient(url, "")
	if _, err := ada.Login(ctx, api.LoginRequest{Email: "ada@example.com", Password: "a long enough password"}); err != nil {
		t.Fatal(err)
	}
	note := mustCreateNote(t, admin, "the admin's note")
	err := getJSON(ada, "/api/notes/"+note.ID, nil)
	if !api.IsCode(err, api.CodeForbidden) {
		t.Fatalf("ada reading the admin's note: %v, want 403 forbidden", err)
	}
	if err := getJSON(anon, "/api/notes/"+note.ID, nil); !api.IsCode(err, api.CodeUnauthorized) {
		t.Fatalf("anonymous reading a note: %v, want 401 unauthorized", err)
	}
	if err := ada.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ada.Me(ctx); !api.IsCode(err, api.CodeUnauthorized) {
		t.Fatalf("me after logout: %v, want 401 unauthorized", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v after shutdown, want nil", err)
	}
}

// TestServeRefusesASecondProcess: a second server on the same file stops
// at once with a clear message instead of hanging.
func TestServeRefusesASecondProcess(t *testing.T) {
	db := t.TempDir() + "/g.db"
	_, _, stop := startServe(t, map[string]string{"GATEHOUSE_DB": db})
	defer stop()
	env := map[string]string{"GATEHOUSE_ADDR": "127.0.0.1:0", "GATEHOUSE_DB": db, "GATEHOUSE_MODEL": "../../model.conf", "GATEHOUSE_POLICY": "../../policy.csv"}
	start := time.Now()
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "database is in use") {
		t.Fatalf("second serve: %v, want database is in use", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second serve took %v to give up", d)
	}
}

// TestBadSettings: a bad value stops start-up with one line naming it.
func TestBadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"GATEHOUSE_RATE_LIMIT": "lots"}, nil, `GATEHOUSE_RATE_LIMIT: "lots" is not a rate`},
		{map[string]string{"GATEHOUSE_SESSION_TTL": "-1h"}, nil, `GATEHOUSE_SESSION_TTL: "-1h" is not a positive duration`},
		{map[string]string{"GATEHOUSE_READ_TIMEOUT": "soon"}, nil, `GATEHOUSE_READ_TIMEOUT: "soon" is not a positive duration`},
		{map[string]string{"GATEHOUSE_COOKIE_SECURE": "yes please"}, nil, `GATEHOUSE_COOKIE_SECURE: "yes please" is not true or false`},
		{map[string]string{"GATEHOUSE_COOKIE_SAMESITE": "none"}, nil, `GATEHOUSE_COOKIE_SAMESITE: "none" is not strict or lax`},
		{nil, []string{"--cookie-samesite", "Relaxed"}, `--cookie-samesite: "Relaxed" is not strict or lax`},
		{map[string]string{"GATEHOUSE_TRUSTED_PROXIES": "10.0.0.0/33"}, nil, `GATEHOUSE_TRUSTED_PROXIES: "10.0.0.0/33" has "10.0.0.0/33"`},
		{map[string]string{"GATEHOUSE_CORS_ORIGINS": "*"}, nil, `GATEHOUSE_CORS_ORIGINS: "*" may not be *`},
		{map[string]string{"GATEHOUSE_BODY_LIMIT": "1T"}, nil, `GATEHOUSE_BODY_LIMIT: "1T" is not a size`},
		{nil, []string{"--body-limit", "0"}, `--body-limit: "0" is not a size`},
		{map[string]string{"GATEHOUSE_MODEL": "missing.conf"}, nil, "missing.conf: rbac: model: open missing.conf: no such file or directory"},
	}
	for _, tt := range tests {
		env := map[string]string{"GATEHOUSE_DB": t.TempDir() + "/g.db", "GATEHOUSE_MODEL": "../../model.conf", "GATEHOUSE_POLICY": "../../policy.csv"}
		for k, v := range tt.env {
			env[k] = v
		}
		err := run(context.Background(), append([]string{"serve"}, tt.args...), func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v %v: got %v, want one line starting %q", tt.env, tt.args, err, tt.want)
		}
	}
}

// TestForeignFileIsLeftAlone: a file that is not a gatehouse database
// stops start-up and is not changed.
func TestForeignFileIsLeftAlone(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/g.db"
	junk := bytes.Repeat([]byte("not a database "), 1000)
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"GATEHOUSE_DB": path, "GATEHOUSE_MODEL": "../../model.conf", "GATEHOUSE_POLICY": "../../policy.csv"}
	err := run(context.Background(), []string{"serve"}, func(k string) string { return env[k] }, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not a gatehouse database") {
		t.Fatalf("serve on junk: %v, want not a gatehouse database", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(after, junk) {
		t.Fatal("serve changed a file that is not a gatehouse database")
	}
}

// TestPolicyTestCommand runs the shipped decisions file and a failing one.
func TestPolicyTestCommand(t *testing.T) {
	t.Parallel()
	env := func(string) string { return "" }
	var out bytes.Buffer
	args := []string{"policy", "test", "--model", "../../model.conf", "--policy", "../../policy.csv"}
	if err := run(context.Background(), append(args, "../../testdata/decisions.csv"), env, nil, &out, io.Discard); err != nil {
		t.Fatalf("shipped decisions: %v\n%s", err, out.String())
	}
	bad := t.TempDir() + "/bad.csv"
	os.WriteFile(bad, []byte("g, user:1, role:user\nuser:1, /api/notes/:id, DELETE, user:2, allow\n"), 0o600)
	out.Reset()
	err := run(context.Background(), append(args, bad), env, nil, &out, io.Discard)
	if err == nil || !strings.Contains(out.String(), "line 2: user:1 DELETE /api/notes/:id (owner user:2, mfa none): expected allow, got deny") {
		t.Fatalf("failing decisions: err %v, output %q", err, out.String())
	}
}

func mustCreateNote(t *testing.T, c *api.Client, title string) api.Note {
	t.Helper()
	var n api.Note
	body, _ := json.Marshal(map[string]string{"title": title})
	req, _ := http.NewRequest("POST", c.BaseURL+"/api/notes", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create note: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func getJSON(c *api.Client, path string, out any) error {
	req, _ := http.NewRequest("GET", c.BaseURL+path, nil)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		var e api.Error
		json.NewDecoder(resp.Body).Decode(&e)
		e.Status = resp.StatusCode
		return &e
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

func postJSON(url string, in any, want int) error {
	body, _ := json.Marshal(in)
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		return errors.New(resp.Status + ": " + string(b))
	}
	return nil
}
