package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// dumpAll reads every record of d.
func dumpAll(t *testing.T, d store.Dumper) []store.Record {
	t.Helper()
	var out []store.Record
	if err := d.Dump(context.Background(), func(r store.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// load writes recs into d.
func load(d store.Dumper, recs []store.Record) error {
	i := 0
	return d.Load(context.Background(), func() (store.Record, error) {
		if i == len(recs) {
			return store.Record{}, io.EOF
		}
		i++
		return recs[i-1], nil
	})
}

// A database of every kind of record, with gaps in its ids, moves from
// bbolt to PostgreSQL and back unchanged, and new ids continue after the
// copied ones.
func TestDumpAndLoadRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, err := bolt.Open(filepath.Join(t.TempDir(), "src.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	notes := store.Collection[note, *note]{Kind: "notes"}
	projects := store.Collection[note, *note]{Kind: "projects"}
	err = src.Update(ctx, func(tx store.Tx) error {
		var us []store.User
		for _, email := range []string{"a@x.example", "gone@x.example", "B@x.example"} {
			u := store.User{Email: email, Name: "N " + email, PasswordHash: "$argon2id$hash", MFA: store.MFA{Enabled: true, Secret: "S", LastStep: 7}}
			if email == "B@x.example" {
				// Linked to a provider: the link travels, index included.
				u.Issuer, u.Subject, u.PasswordHash = "https://id.x.example", "b-sub", ""
			}
			if err := tx.Users().Create(&u); err != nil {
				return err
			}
			us = append(us, u)
		}
		if err := tx.Groups().Create(&store.Group{Name: "staff", Description: "the staff"}); err != nil {
			return err
		}
		if _, err := tx.Rules().Add("g", []string{"user:1", "role:admin"}); err != nil {
			return err
		}
		if _, err := tx.Rules().Add("p", []string{"role:user", "/api/a,b", "GET", "*"}); err != nil {
			return err
		}
		s := store.Session{UserID: us[0].ID, Kind: store.KindToken, Name: "ci", ExpiresAt: tx.Now().Add(time.Hour)}
		if err := tx.Sessions().Create(&s, []byte("0123456789abcdef0123456789abcdef")); err != nil {
			return err
		}
		for _, c := range []store.Collection[note, *note]{notes, projects, notes} {
			if err := c.Create(tx, &note{Owned: store.Owned{OwnerID: us[2].ID}, Title: "t \"q\" ü"}); err != nil {
				return err
			}
		}
		if err := tx.Audit().Append(&store.AuditRecord{ActorID: 1, Actor: "a", Action: "user.create", Target: "user:3", After: json.RawMessage(`{"b": 1,  "a": [2]}`)}); err != nil {
			return err
		}
		for range 3 {
			if err := tx.Failures().Add(&store.AuthFailure{Time: tx.Now(), LastTime: tx.Now(), Count: 2, IP: "::ffff:10.0.0.1", Method: "GET", Path: "/api/x", Status: 401, Reason: "no_credentials"}); err != nil {
				return err
			}
		}
		_, err := tx.Failures().Prune(time.Time{}, 2, 10)
		if err != nil {
			return err
		}
		return tx.Users().Delete(us[1].ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := dumpAll(t, src)

	pg := mustOpen(t)
	if err := load(pg, want); err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "PostgreSQL after the load", dumpAll(t, pg), want)
	if err := load(pg, want); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second load: %v, want ErrConflict", err)
	}
	back, err := bolt.Open(filepath.Join(t.TempDir(), "back.db"), bolt.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer back.Close()
	if err := load(back, dumpAll(t, pg)); err != nil {
		t.Fatal(err)
	}
	sameRecords(t, "bbolt after the round trip", dumpAll(t, back), want)
	for _, s := range []store.Store{pg, back} {
		err := s.View(ctx, func(tx store.Tx) error {
			u, err := tx.Users().ByIdentity("https://id.x.example", "b-sub")
			if err != nil || u.ID != 3 {
				t.Errorf("%T: the linked user after the copy: %+v, %v; want user 3", s, u, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// Ids made after a load continue after the loaded ones, on both.
	for _, s := range []store.Store{pg, back} {
		err := s.Update(ctx, func(tx store.Tx) error {
			u := store.User{Email: "new@x.example"}
			if err := tx.Users().Create(&u); err != nil {
				return err
			}
			n := note{Owned: store.Owned{OwnerID: u.ID}}
			if err := notes.Create(tx, &n); err != nil {
				return err
			}
			f := store.AuthFailure{Time: tx.Now(), LastTime: tx.Now(), Count: 1}
			if err := tx.Failures().Add(&f); err != nil {
				return err
			}
			if u.ID != 4 || n.ID != 3 || f.ID != 4 {
				t.Errorf("%T: new ids user %d note %d failure %d, want 4, 3, 4", s, u.ID, n.ID, f.ID)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// sameRecords compares records by their JSON form, one line each.
func sameRecords(t *testing.T, what string, got, want []store.Record) {
	t.Helper()
	lines := func(recs []store.Record) []string {
		var out []string
		for _, r := range recs {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
		return out
	}
	g, w := lines(got), lines(want)
	if len(g) != len(w) {
		t.Fatalf("%s: %d records, want %d:\n%s", what, len(g), len(w), strings.Join(g, "\n"))
	}
	for i := range g {
		if g[i] != w[i] {
			t.Errorf("%s: record %d\n got %s\nwant %s", what, i, g[i], w[i])
		}
	}
}

// note is an owned resource for the tests.
type note struct {
	store.Owned
	Title string `json:"title"`
}
