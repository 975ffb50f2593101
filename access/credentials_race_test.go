package access

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/store"
)

// TestCredentialChangeLosesToAReset: a password change or a token made by a
// request that proved the password before an admin reset it, or before the
// admin ended the request's session, does not commit: the password check
// and hashing happen before the transaction, and the transaction re-reads
// the stored hash and the session. It is refused as a conflict (409) and
// the admin's change stands.
func TestCredentialChangeLosesToAReset(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustStore(t)
	svc := mustService(t, db)
	if _, err := svc.Bootstrap(ctx, mustSeed(t), "admin@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
	admin := Actor{ID: 1, Name: "admin@example.com"}
	// signedIn makes an account with a login session, and returns the
	// account as a request reads it when it starts, and the session.
	signedIn := func(email string) (store.User, uint64) {
		made, err := svc.CreateUser(ctx, admin, NewUser{Email: email, Name: "X", Password: testPassword})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := store.ParseID(made.ID)
		var u store.User
		sess := store.Session{UserID: id, Kind: store.KindSession, CreatedAt: time.Now()}
		err = db.Update(ctx, func(tx store.Tx) (err error) {
			if u, err = tx.Users().Get(id); err != nil {
				return err
			}
			return tx.Sessions().Create(&sess, []byte("session of "+email))
		})
		if err != nil {
			t.Fatal(err)
		}
		return u, sess.ID
	}
	inFlight := func(name string, u store.User, session uint64) {
		t.Helper()
		_, err := svc.UpdateOwn(ctx, u, session, OwnChange{Password: new("chosen by the thief 1"), CurrentPassword: new(testPassword)})
		var refusal *Error
		if !errors.Is(err, ErrCredentialsChanged) || !errors.As(err, &refusal) || refusal.Kind != Conflict {
			t.Errorf("%s: password change: %v, want ErrCredentialsChanged (conflict)", name, err)
		}
		_, err = svc.CreateToken(ctx, u, NewToken{Name: "kept", Password: testPassword, Session: session}, []byte("token of "+u.Email))
		if !errors.Is(err, ErrCredentialsChanged) {
			t.Errorf("%s: token: %v, want ErrCredentialsChanged", name, err)
		}
		err = db.View(ctx, func(tx store.Tx) error {
			stored, err := tx.Users().Get(u.ID)
			if err != nil {
				return err
			}
			if ok, err := svc.hasher.verify(ctx, "chosen by the thief 1", stored.PasswordHash); err != nil || ok {
				t.Errorf("%s: the thief's password was stored (%v)", name, err)
			}
			tokens, err := tx.Sessions().OfUser(u.ID, store.KindToken)
			if err != nil || len(tokens) != 0 {
				t.Errorf("%s: tokens %v (%v), want none", name, tokens, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	// An admin resets the password while the request runs.
	bob, bobSession := signedIn("bob@example.com")
	if _, err := svc.UpdateUser(ctx, admin, bob.ID, UserChange{Password: new("set by the admin 1")}); err != nil {
		t.Fatal(err)
	}
	inFlight("after a reset", bob, bobSession)

	// An admin ends the user's sessions while the request runs.
	carol, carolSession := signedIn("carol@example.com")
	if err := svc.EndSessions(ctx, admin, carol.ID); err != nil {
		t.Fatal(err)
	}
	inFlight("after ending the sessions", carol, carolSession)

	// Nothing changed meanwhile: both go through.
	dan, danSession := signedIn("dan@example.com")
	if _, err := svc.CreateToken(ctx, dan, NewToken{Name: "ci", Password: testPassword, Session: danSession}, []byte("token of dan")); err != nil {
		t.Fatalf("token: %v", err)
	}
	if _, err := svc.UpdateOwn(ctx, dan, danSession, OwnChange{Password: new("a new password 1"), CurrentPassword: new(testPassword)}); err != nil {
		t.Fatalf("password change: %v", err)
	}
}
