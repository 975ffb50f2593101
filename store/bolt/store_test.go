package bolt

import (
	"context"
	"errors"
	"github.com/gatehouse/gatehouse/store"
	"os"
	"testing"
	"time"
)

// testNote is an owned resource kept where the example resource of the
// server keeps its notes.
type testNote struct {
	store.Owned
	Title string `json:"title"`
	Body  string `json:"body"`
}

var testNotes = store.Collection[testNote, *testNote]{Kind: "notes"}

// mustOpen opens a database on a temp file and checks its consistency when
// the test ends.
func mustOpen(t *testing.T) *DB {
	t.Helper()
	db, err := Open(t.TempDir()+"/sub/g.db", Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Check(); err != nil {
			t.Error(err)
		}
		db.Close()
	})
	return db
}

func mustUpdate(t *testing.T, db *DB, fn func(tx store.Tx) error) {
	t.Helper()
	if err := db.Update(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesASecondHolder(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	start := time.Now()
	_, err := Open(db.Path(), Options{LockTimeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second open: %v, want ErrInUse", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("second open waited too long")
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	junk := dir + "/junk"
	os.WriteFile(junk, []byte("hello, I am not bbolt, but I am long enough to look like a page header....."), 0o600)
	if _, err := Open(junk, Options{}); !errors.Is(err, ErrForeign) {
		t.Fatalf("junk: %v, want ErrForeign", err)
	}
}
