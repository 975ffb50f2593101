package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
	bbolt "go.etcd.io/bbolt"
)

// runGatehouse runs the binary to completion (bounded) and returns its exit
// code and output.
func runGatehouse(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, mustBuildGatehouse(t), args...)
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run gatehouse: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("gatehouse %v did not exit within 30s", args)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// mustGatehouseDB makes a closed gatehouse database at path with some notes.
func mustGatehouseDB(t *testing.T, path string) []byte {
	t.Helper()
	db, err := bolt.Open(path, bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(context.Background(), func(tx store.Tx) error {
		u := store.User{Email: "someone@example.com"}
		if err := tx.Users().Create(&u); err != nil {
			return err
		}
		for i := range 200 {
			n := app.Note{Owned: store.Owned{OwnerID: u.ID}, Title: fmt.Sprint(i), Body: strings.Repeat("n", 1000)}
			if err := app.Notes.Create(tx, &n); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestStartupRefusesBadFiles starts the real binary on files it must not
// run with: each stops start-up with exit code 1 and one line on stderr
// naming the file and the problem, and leaves the file as it was (the
// database is not even created when the model or policy is bad).
func TestStartupRefusesBadFiles(t *testing.T) {
	t.Parallel()
	good := mustGatehouseDB(t, filepath.Join(t.TempDir(), "good.db"))
	foreign := func() []byte {
		path := filepath.Join(t.TempDir(), "foreign.db")
		b, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = b.Update(func(tx *bbolt.Tx) error {
			_, err := tx.CreateBucket([]byte("widgets"))
			return err
		})
		b.Close()
		data, _ := os.ReadFile(path)
		return data
	}()
	model, err := os.ReadFile(repoFile(t, "model.conf"))
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		// db, model, policy: file contents; nil means no such file, and
		// for model and policy the shipped file.
		db, model, policy []byte
		noModel, noPolicy bool
		want              []string // in the one line of stderr
	}{
		{name: "text file as database", db: []byte("my notes\n"), want: []string{"not a gatehouse database", "left untouched"}},
		{name: "another program's bbolt file", db: foreign, want: []string{"not a gatehouse database", "no gatehouse schema"}},
		{name: "database cut short", db: good[:len(good)/3], want: []string{"damaged", "cut short"}},
		{name: "database under two pages", db: good[:5000], want: []string{"damaged", "cut short"}},
		{name: "database page overwritten", db: overwritePage(t, good), want: []string{"damaged", "left untouched"}},
		{name: "missing model", noModel: true, want: []string{"model", "no such file"}},
		{name: "model not a model", model: []byte("this is not a casbin model\n"), want: []string{"model"}},
		{name: "model without matchers", model: bytes.Split(model, []byte("[matchers]"))[0], want: []string{"model.conf", "matchers"}},
		{name: "missing policy", noPolicy: true, want: []string{"policy", "no such file"}},
		{name: "policy rule of the wrong shape", policy: []byte("p, role:user, /api/notes, GET\n"), want: []string{"policy.csv", "line 1", "a p rule has 4 values, got 3"}},
		{name: "policy with an unknown rule type", policy: []byte("x, a, b\n"), want: []string{"policy.csv", "line 1", "unknown rule type"}},
		{name: "policy with a broken quote", policy: []byte("p, \"role:user, /api/notes, GET, *\n"), want: []string{"policy.csv", "line 1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			dbPath := filepath.Join(dir, "data", "gatehouse.db")
			if tt.db != nil {
				if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(dbPath, tt.db, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := serveEnv(t, dbPath)
			if tt.model != nil || tt.noModel {
				p := filepath.Join(dir, "model.conf")
				if !tt.noModel {
					if err := os.WriteFile(p, tt.model, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				env = append(env, "GATEHOUSE_MODEL="+p)
			}
			if tt.policy != nil || tt.noPolicy {
				p := filepath.Join(dir, "policy.csv")
				if !tt.noPolicy {
					if err := os.WriteFile(p, tt.policy, 0o600); err != nil {
						t.Fatal(err)
					}
				}
				env = append(env, "GATEHOUSE_POLICY="+p)
			}
			code, stdout, stderr := runGatehouse(t, env, "serve")
			if code != 1 {
				t.Fatalf("exit code %d, want 1\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			line := strings.TrimSuffix(stderr, "\n")
			if strings.Contains(line, "\n") || !strings.HasPrefix(line, "gatehouse: ") {
				t.Errorf("stderr is not one line starting with gatehouse: %q", stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("stderr %q does not say %q", line, w)
				}
			}
			if strings.Contains(line, "goroutine ") || strings.Contains(line, "panic") {
				t.Errorf("stderr holds a crash: %q", line)
			}
			got, err := os.ReadFile(dbPath)
			switch {
			case tt.db == nil && err == nil:
				t.Errorf("a database was created though start-up failed")
			case tt.db != nil && !bytes.Equal(got, tt.db):
				t.Errorf("the database file was changed (%d bytes, was %d)", len(got), len(tt.db))
			}
		})
	}
}

// overwritePage returns a copy of a database with the root page of its
// notes bucket overwritten.
func overwritePage(t *testing.T, good []byte) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "page.db")
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root, size int
	_ = b.View(func(tx *bbolt.Tx) error {
		root, size = int(tx.Bucket([]byte("notes")).RootPage()), tx.DB().Info().PageSize
		return nil
	})
	b.Close()
	if root == 0 {
		t.Fatal("the notes bucket is inline")
	}
	out := bytes.Clone(good)
	copy(out[root*size+8:(root+1)*size], bytes.Repeat([]byte{0x5a}, size))
	return out
}

// TestStartupRefusesHeldDatabase starts a second server on a file a first
// one holds: it stops with a message that says so, within the lock
// timeout, and the first one goes on.
func TestStartupRefusesHeldDatabase(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "gatehouse.db")
	env := serveEnv(t, dbPath)
	first := startGatehouse(t, env)
	code, _, stderr := runGatehouse(t, env, "serve")
	if code != 1 || !strings.Contains(stderr, "in use by another process") || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("second server: exit %d, stderr %q", code, stderr)
	}
	r, err := call(context.Background(), httpClient(t), "GET", first.url+"/api/health", "", nil)
	if err != nil || r.status != 200 {
		t.Fatalf("the first server after the refused second: %v %d", err, r.status)
	}
}
