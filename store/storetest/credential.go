package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// testCredential holds ReadCredential to its meaning, ReadCredentialIn
// over one transaction: the same session, user, policy version and
// resource, and the same errors, in every case the request path meets.
func testCredential(t *testing.T, s store.Store) {
	a, b := mustUser(t, s, "a@example.com"), mustUser(t, s, "b@example.com")
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var sess, tok store.Session
	var t1, w1 thing
	mustUpdate(t, s, func(tx store.Tx) error {
		sess = store.Session{UserID: a.ID, Kind: store.KindSession, MFA: true, ExpiresAt: expires}
		if err := tx.Sessions().Create(&sess, []byte("session-hash")); err != nil {
			return err
		}
		tok = store.Session{UserID: b.ID, Kind: store.KindToken, Name: "ci", ReadOnly: true}
		if err := tx.Sessions().Create(&tok, []byte("token-hash")); err != nil {
			return err
		}
		t1 = thing{Owned: store.Owned{OwnerID: b.ID}, Title: "b's thing", Body: "ünïcode \"quoted\""}
		if err := things.Create(tx, &t1); err != nil {
			return err
		}
		w1 = thing{Owned: store.Owned{OwnerID: a.ID}, Title: "a's widget"}
		return widgets.Create(tx, &w1)
	})
	same := func(what string, hash []byte, ref store.DocRef) store.Credential {
		t.Helper()
		got, err := s.ReadCredential(ctx, hash, ref)
		var want store.Credential
		var wantErr error
		mustView(t, s, func(tx store.Tx) error {
			want, wantErr = store.ReadCredentialIn(tx, hash, ref)
			return nil
		})
		if !errors.Is(err, store.ErrNotFound) != !errors.Is(wantErr, store.ErrNotFound) || (err == nil) != (wantErr == nil) {
			t.Fatalf("%s: error %v, over a transaction %v", what, err, wantErr)
		}
		if !errors.Is(got.DocErr, store.ErrNotFound) != !errors.Is(want.DocErr, store.ErrNotFound) || (got.DocErr == nil) != (want.DocErr == nil) {
			t.Errorf("%s: resource error %v, over a transaction %v", what, got.DocErr, want.DocErr)
		}
		g, w := got, want
		g.DocErr, w.DocErr = nil, nil
		if !sameCredential(g, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
		}
		return got
	}
	c := same("a session without a resource", []byte("session-hash"), store.DocRef{})
	if c.Session.ID != sess.ID || c.User.ID != a.ID || !c.Session.MFA || !c.Session.ExpiresAt.Equal(expires) || c.DocErr != nil || c.Doc.ID != 0 {
		t.Errorf("credential %+v: want session %d of user %d, no resource", c, sess.ID, a.ID)
	}
	c = same("a token with another's resource", []byte("token-hash"), store.DocRef{Kind: "things", ID: t1.ID})
	if c.Session.ID != tok.ID || !c.Session.ReadOnly || c.User.ID != b.ID || c.DocErr != nil || c.Doc.ID != t1.ID || c.Doc.OwnerID != b.ID {
		t.Errorf("credential %+v: want token %d of user %d with thing %d", c, tok.ID, b.ID, t1.ID)
	}
	if v, err := things.FromDoc(c.Doc); err != nil || v.Title != t1.Title || v.Body != t1.Body || !v.CreatedAt.Equal(t1.CreatedAt) {
		t.Errorf("the resource read with the credential: %+v, %v; want %+v", v, err, t1)
	}
	c = same("a missing resource", []byte("session-hash"), store.DocRef{Kind: "things", ID: t1.ID + w1.ID + 100})
	if !errors.Is(c.DocErr, store.ErrNotFound) || c.Session.ID != sess.ID {
		t.Errorf("credential %+v: want the session and a missing resource", c)
	}
	c = same("an id of another kind", []byte("session-hash"), store.DocRef{Kind: "widgets", ID: t1.ID})
	if w, err := widgets.FromDoc(c.Doc); c.DocErr == nil && (err != nil || w.Title == t1.Title) {
		t.Errorf("thing %d read as a widget: %+v, %v", t1.ID, w, err)
	}
	c = same("a kind with nothing stored", []byte("session-hash"), store.DocRef{Kind: "gadgets", ID: w1.ID})
	if !errors.Is(c.DocErr, store.ErrNotFound) {
		t.Errorf("gadget %d: %+v", w1.ID, c.Doc)
	}
	same("an unknown hash", []byte("no-such-hash"), store.DocRef{Kind: "things", ID: t1.ID})
	if _, err := s.ReadCredential(ctx, []byte("session-hash"), store.DocRef{Kind: "Not A Kind", ID: 1}); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("a malformed kind: %v, want a refusal", err)
	}

	// What changes is read at once: a disabled user, a newer policy
	// version, a changed resource, a revoked session.
	mustUpdate(t, s, func(tx store.Tx) error {
		u, err := tx.Users().Get(a.ID)
		if err != nil {
			return err
		}
		u.Disabled = true
		if err := tx.Users().Update(&u); err != nil {
			return err
		}
		if _, err := tx.Rules().Add("p", []string{"role:x", "/api/x", "GET", "allow"}); err != nil {
			return err
		}
		w1.Title = "renamed"
		return widgets.Update(tx, &w1)
	})
	c = same("after the changes", []byte("session-hash"), store.DocRef{Kind: "widgets", ID: w1.ID})
	var version uint64
	mustView(t, s, func(tx store.Tx) (err error) { version, err = tx.Rules().Version(); return err })
	if !c.User.Disabled || c.Version != version || version == 0 {
		t.Errorf("credential %+v: want the user disabled and policy version %d", c, version)
	}
	if v, err := widgets.FromDoc(c.Doc); err != nil || v.Title != "renamed" {
		t.Errorf("the changed widget: %+v, %v", v, err)
	}
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Sessions().Delete(sess.ID) })
	same("a revoked session", []byte("session-hash"), store.DocRef{})
	mustUpdate(t, s, func(tx store.Tx) error { return tx.Users().Delete(b.ID) })
	same("a token of a deleted user", []byte("token-hash"), store.DocRef{})
}

// sameCredential compares two credentials as values: times by the instant
// they name, documents by their bytes.
func sameCredential(a, b store.Credential) bool {
	show := func(c store.Credential) string {
		return fmt.Sprintf("%+v %+v %d %+v %q", c.Session, c.User, c.Version, c.Doc.Owned, c.Doc.Data)
	}
	return show(a) == show(b)
}
