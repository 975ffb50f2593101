package bolt

import (
	"context"
	"errors"
	"fmt"
	"github.com/gatehouse/gatehouse/store"
	"os"
	"slices"
	"testing"
	"time"
)

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

func TestUsersAndEmailIndex(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	var ada store.User
	mustUpdate(t, db, func(tx store.Tx) error {
		ada = store.User{Email: "Ada@Example.com", Name: "Ada"}
		return tx.Users().Create(&ada)
	})
	err := db.Update(context.Background(), func(tx store.Tx) error {
		return tx.Users().Create(&store.User{Email: "ada@example.COM"})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("same email in other case: %v, want ErrConflict", err)
	}
	mustUpdate(t, db, func(tx store.Tx) error {
		u, err := tx.Users().ByEmail("ADA@example.com")
		if err != nil || u.ID != ada.ID {
			return fmt.Errorf("lookup by email: %v %v", u.ID, err)
		}
		u.Email = "ada@new.example"
		return tx.Users().Update(&u)
	})
	db.View(context.Background(), func(tx store.Tx) error {
		if _, err := tx.Users().ByEmail("ada@example.com"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old email still indexed: %v", err)
		}
		if u, err := tx.Users().ByEmail("ada@new.example"); err != nil || u.ID != ada.ID {
			t.Errorf("new email: %v %v", u.ID, err)
		}
		return nil
	})
}

// TestDeleteUserCascades: a deleted user's sessions, tokens, notes and index
// entries go in the same transaction; other users keep theirs.
func TestDeleteUserCascades(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	var a, b store.User
	mustUpdate(t, db, func(tx store.Tx) error {
		a, b = store.User{Email: "a@x.io"}, store.User{Email: "b@x.io"}
		if err := tx.Users().Create(&a); err != nil {
			return err
		}
		if err := tx.Users().Create(&b); err != nil {
			return err
		}
		for i, u := range []store.User{a, a, b} {
			if err := tx.Sessions().Create(&store.Session{UserID: u.ID, Kind: store.KindSession}, []byte(fmt.Sprintf("%032d", i))); err != nil {
				return err
			}
			if err := tx.Notes().Create(&store.Note{OwnerID: u.ID, Title: "t"}); err != nil {
				return err
			}
		}
		return tx.Sessions().Create(&store.Session{UserID: a.ID, Kind: store.KindToken, Name: "ci"}, []byte("token-hash-0000000000000000000000"))
	})
	mustUpdate(t, db, func(tx store.Tx) error { return tx.Users().Delete(a.ID) })
	db.View(context.Background(), func(tx store.Tx) error {
		if s, _ := tx.Sessions().OfUser(a.ID, ""); len(s) != 0 {
			t.Errorf("a keeps %d sessions", len(s))
		}
		if s, _ := tx.Sessions().OfUser(b.ID, ""); len(s) != 1 {
			t.Errorf("b has %d sessions, want 1", len(s))
		}
		if n, _, _ := tx.Notes().List(0, store.Page{Limit: 100}); len(n) != 1 || n[0].OwnerID != b.ID {
			t.Errorf("notes left: %+v, want b's one", n)
		}
		if _, err := tx.Users().ByEmail("a@x.io"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a's email still indexed: %v", err)
		}
		if _, err := tx.Sessions().ByHash([]byte("token-hash-0000000000000000000000")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a's token still works: %v", err)
		}
		return nil
	})
}

func TestRulesIndexes(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	mustUpdate(t, db, func(tx store.Tx) error {
		for _, r := range [][]string{{"g", "user:1", "group:staff"}, {"g", "group:staff", "role:editor"}, {"p", "group:staff", "/x,y", "GET", "*"}, {"g", "user:10", "role:editor"}} {
			if _, err := tx.Rules().Add(r[0], r[1:]); err != nil {
				return err
			}
		}
		if _, err := tx.Rules().Add("g", []string{"user:1", "group:staff"}); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("duplicate: %v, want ErrConflict", err)
		}
		return nil
	})
	var removed []store.Rule
	mustUpdate(t, db, func(tx store.Tx) error {
		var err error
		removed, err = tx.Rules().RemoveReferencing("group:staff")
		if len(tx.Rules().Changes()) != 3 {
			t.Errorf("changes recorded: %d, want 3", len(tx.Rules().Changes()))
		}
		return err
	})
	if len(removed) != 3 {
		t.Fatalf("removed %d rules referencing group:staff, want 3", len(removed))
	}
	db.View(context.Background(), func(tx store.Tx) error {
		rules, _, _ := tx.Rules().List(store.Page{Limit: 10})
		if len(rules) != 1 || !slices.Equal(rules[0].Values, []string{"user:10", "role:editor"}) {
			t.Errorf("left: %+v, want only user:10's link (user:1 is not a prefix of user:10)", rules)
		}
		return nil
	})
}

func TestPagination(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	mustUpdate(t, db, func(tx store.Tx) error {
		for i := 0; i < 7; i++ {
			if err := tx.Audit().Append(&store.AuditRecord{Action: fmt.Sprint(i)}); err != nil {
				return err
			}
		}
		return nil
	})
	var got []string
	cursor := ""
	for pages := 0; pages < 10; pages++ {
		var recs []store.AuditRecord
		db.View(context.Background(), func(tx store.Tx) error {
			var err error
			recs, cursor, err = tx.Audit().List(store.Page{Limit: 3, Cursor: cursor})
			return err
		})
		for _, r := range recs {
			got = append(got, r.Action)
		}
		if cursor == "" {
			break
		}
	}
	if want := []string{"6", "5", "4", "3", "2", "1", "0"}; !slices.Equal(got, want) {
		t.Fatalf("newest first over pages: %v, want %v", got, want)
	}
	for _, bad := range []string{"%%", string(make([]byte, 300)), "AA=="} {
		if _, err := store.DecodeCursor(bad); !errors.Is(err, store.ErrInvalidCursor) {
			t.Errorf("cursor %q: %v, want ErrInvalidCursor", bad, err)
		}
	}
}

func TestParseID(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "0", "01", "-1", "1.0", "18446744073709551616", "99999999999999999999999", "abc", " 1"} {
		if _, err := store.ParseID(s); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("store.ParseID(%q): %v, want ErrNotFound", s, err)
		}
	}
	if id, err := store.ParseID("18446744073709551615"); err != nil || id != 1<<64-1 {
		t.Errorf("max id: %d %v", id, err)
	}
}
