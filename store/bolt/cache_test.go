package bolt

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

// TestKeptRecordsFollowCommits: the decoded records a read keeps are those
// of the state it read, so a change committed after them (a revoked
// credential, a disabled user, an edited or deleted resource) is what the
// next read sees; what a read hands out is the caller's to change.
func TestKeptRecordsFollowCommits(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	u := store.User{Email: "kept@example.com", Name: "kept"}
	hash := sha256.Sum256([]byte("a secret"))
	n := testNote{Title: "one"}
	mustUpdate(t, db, func(tx store.Tx) error {
		if err := tx.Users().Create(&u); err != nil {
			return err
		}
		if err := tx.Sessions().Create(&store.Session{UserID: u.ID, Kind: store.KindToken, Name: "t"}, hash[:]); err != nil {
			return err
		}
		n.OwnerID = u.ID
		return testNotes.Create(tx, &n)
	})
	// read returns what a read transaction finds, twice in a row so that
	// the second answer comes from what the first kept.
	type found struct {
		user     store.User
		userErr  error
		sessErr  error
		note     testNote
		noteErr  error
		noteData string
	}
	read := func() found {
		t.Helper()
		var f found
		for range 2 {
			err := db.View(ctx, func(tx store.Tx) error {
				f.user, f.userErr = tx.Users().Get(u.ID)
				_, f.sessErr = tx.Sessions().ByHash(hash[:])
				f.note, f.noteErr = testNotes.Get(tx, n.ID)
				d, err := tx.Docs().Get("notes", n.ID)
				if err == nil {
					f.noteData = string(d.Data)
					// A caller changing its copy changes nothing kept.
					for i := range d.Data {
						d.Data[i] = 'x'
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		return f
	}

	f := read()
	if f.userErr != nil || f.sessErr != nil || f.noteErr != nil || f.note.Title != "one" || !strings.Contains(f.noteData, `"title":"one"`) {
		t.Fatalf("first reads: %+v", f)
	}

	mustUpdate(t, db, func(tx store.Tx) error {
		u.Disabled = true
		if err := tx.Users().Update(&u); err != nil {
			return err
		}
		s, err := tx.Sessions().ByHash(hash[:])
		if err != nil {
			return err
		}
		if err := tx.Sessions().Delete(s.ID); err != nil {
			return err
		}
		n.Title = "two"
		return testNotes.Update(tx, &n)
	})
	f = read()
	if !f.user.Disabled || !errors.Is(f.sessErr, store.ErrNotFound) || f.note.Title != "two" || !strings.Contains(f.noteData, `"title":"two"`) {
		t.Fatalf("reads after the change: %+v", f)
	}
	mustUpdate(t, db, func(tx store.Tx) error { return testNotes.Delete(tx, n.ID) })
	if f = read(); !errors.Is(f.noteErr, store.ErrNotFound) {
		t.Fatalf("a deleted note: %+v", f)
	}
}

// TestKeptRecordsAreBounded: one state of the file keeps at most
// cacheBytes of records; beyond that, reads decode as before.
func TestKeptRecordsAreBounded(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	u := store.User{Email: "bounded@example.com", Name: "b"}
	body := strings.Repeat("n", 40000)
	var ids []uint64
	mustUpdate(t, db, func(tx store.Tx) error {
		if err := tx.Users().Create(&u); err != nil {
			return err
		}
		for range cacheBytes/len(body) + 10 {
			n := testNote{Owned: store.Owned{OwnerID: u.ID}, Title: "t", Body: body}
			if err := testNotes.Create(tx, &n); err != nil {
				return err
			}
			ids = append(ids, n.ID)
		}
		return nil
	})
	err := db.View(ctx, func(tx store.Tx) error {
		for _, id := range ids {
			n, err := testNotes.Get(tx, id)
			if err != nil {
				return err
			}
			if n.Body != body {
				t.Fatalf("note %d: body of %d bytes", id, len(n.Body))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := db.cache.docs.cur.Load()
	kept := 0
	if s != nil {
		s.m.Range(func(any, any) bool { kept++; return true })
	}
	if s == nil || s.size > cacheBytes || kept >= len(ids) || kept == 0 {
		t.Fatalf("kept %d of %d notes, bound %d bytes", kept, len(ids), cacheBytes)
	}
}

// TestKeptCredentialFollowsCommits: a request's credential read again in
// the same state comes from what was kept, without a transaction (bbolt's
// count of read transactions stays), and the first read after any commit
// returns until then (Update has returned) sees that commit.
func TestKeptCredentialFollowsCommits(t *testing.T) {
	t.Parallel()
	db := mustOpen(t)
	ctx := context.Background()
	u := store.User{Email: "cred@example.com", Name: "cred"}
	hash := sha256.Sum256([]byte("a secret"))
	n := testNote{Title: "one"}
	var sess store.Session
	mustUpdate(t, db, func(tx store.Tx) error {
		if err := tx.Users().Create(&u); err != nil {
			return err
		}
		sess = store.Session{UserID: u.ID, Kind: store.KindSession}
		if err := tx.Sessions().Create(&sess, hash[:]); err != nil {
			return err
		}
		n.OwnerID = u.ID
		return testNotes.Create(tx, &n)
	})
	ref := store.DocRef{Kind: "notes", ID: n.ID}
	read := func() (store.Credential, int) {
		t.Helper()
		before := db.bolt.Stats().TxN
		c, err := db.ReadCredential(ctx, hash[:], ref)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		return c, db.bolt.Stats().TxN - before
	}
	if _, txs := read(); txs != 1 {
		t.Fatalf("the first read opened %d transactions, want 1", txs)
	}
	c, txs := read()
	if txs != 0 || c.User.Disabled || c.Session.ID != sess.ID {
		t.Fatalf("the second read: %d transactions, %+v; want the kept credential", txs, c)
	}
	c.Doc.Data[0] = 'x' // the caller's copy
	changes := []struct {
		name   string
		change func(tx store.Tx) error
		seen   func(c store.Credential) bool
	}{
		{"disabled", func(tx store.Tx) error { u.Disabled = true; return tx.Users().Update(&u) },
			func(c store.Credential) bool { return c.User.Disabled }},
		{"policy", func(tx store.Tx) error {
			_, err := tx.Rules().Add("p", []string{"role:x", "/x", "GET", "allow"})
			return err
		},
			func(c store.Credential) bool { return c.Version == 1 }},
		{"note edited", func(tx store.Tx) error { n.Title = "two"; return testNotes.Update(tx, &n) },
			func(c store.Credential) bool { return strings.Contains(string(c.Doc.Data), `"title":"two"`) }},
	}
	for _, ch := range changes {
		mustUpdate(t, db, ch.change)
		if c, _ := read(); !ch.seen(c) {
			t.Errorf("%s: the next read %+v", ch.name, c)
		}
		if c, txs := read(); txs != 0 || !ch.seen(c) {
			t.Errorf("%s: read again with %d transactions: %+v", ch.name, txs, c)
		}
	}
	mustUpdate(t, db, func(tx store.Tx) error { return tx.Sessions().Delete(sess.ID) })
	if _, err := db.ReadCredential(ctx, hash[:], ref); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a revoked session read: %v", err)
	}
}
