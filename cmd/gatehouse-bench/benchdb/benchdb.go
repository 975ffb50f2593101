// Package benchdb generates large gatehouse databases for benchmarks and
// for tests at real size: users, notes, groups and a policy of the size
// asked for, built fast (no fsync, thousands of writes per transaction).
package benchdb

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/rbac/rbactest"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
)

// Options say what database to build.
type Options struct {
	DB, Model, Policy string
	Users, Notes      int
}

// Generated describes a database built by Generate.
type Generated struct {
	Path     string
	Password string // every user's
	Size     rbactest.Size
	Rules    int
	Took     time.Duration
}

// Email is the address of generated user id; user 1 is the admin.
func Email(id int) string { return fmt.Sprintf("user%d@bench.test", id) }

// Generate builds a database of the size asked for, fast: no fsync (store
// option NoSync, for generators only) and thousands of writes per
// transaction. The first user is created by the server's own bootstrap, so
// that the seed policy and the password hash are exactly a server's; the
// others share that hash, as hashing 100k passwords would take an hour.
func Generate(ctx context.Context, o Options) (*Generated, error) {
	start := time.Now()
	if o.Users < 2 {
		return nil, errors.New("gen: need at least 2 users")
	}
	if _, err := os.Stat(o.DB); err == nil {
		return nil, fmt.Errorf("gen: %s exists: give a new file", o.DB)
	}
	model, err := rbac.LoadModel(o.Model)
	if err != nil {
		return nil, err
	}
	seed, err := readPolicy(o.Policy, model)
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(o.DB, bolt.Options{NoSync: true})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	authz, err := rbac.New(ctx, db, model)
	if err != nil {
		return nil, err
	}
	srv, err := app.NewServer(slog.New(slog.DiscardHandler), app.DefaultConfig(), db, authz)
	if err != nil {
		return nil, err
	}
	var pw [18]byte
	_, _ = rand.Read(pw[:])
	password := base64.RawURLEncoding.EncodeToString(pw[:])
	if _, err := srv.Bootstrap(ctx, seed, Email(1), password); err != nil {
		return nil, fmt.Errorf("gen: bootstrap: %w", err)
	}
	var hash string
	if err := db.View(ctx, func(tx store.Tx) error {
		u, err := tx.Users().Get(1)
		hash = u.PasswordHash
		return err
	}); err != nil {
		return nil, fmt.Errorf("gen: the bootstrap admin is not user 1: %w", err)
	}

	size := rbactest.SizeFor(o.Users)
	const batch = 10_000
	// Users 2..N, so that user:N in the policy is the user with id N.
	if err := inBatches(ctx, db, 2, o.Users, batch, func(tx store.Tx, id int) error {
		u := store.User{Email: Email(id), Name: fmt.Sprintf("User %d", id), PasswordHash: hash}
		if err := tx.Users().Create(&u); err != nil {
			return err
		}
		if u.ID != uint64(id) {
			return fmt.Errorf("gen: user %d got id %d: the database was not empty", id, u.ID)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// Notes round by round, so that each user's first note has their id.
	body := strings.Repeat("Lorem ipsum dolor sit amet. ", 8)
	for round := range o.Notes {
		if err := inBatches(ctx, db, 1, o.Users, batch, func(tx store.Tx, id int) error {
			return app.Notes.Create(tx, &app.Note{Owned: store.Owned{OwnerID: uint64(id)}, Title: fmt.Sprintf("Note %d of user %d", round+1, id), Body: body})
		}); err != nil {
			return nil, err
		}
	}
	if err := inBatches(ctx, db, 0, size.Groups-1, batch, func(tx store.Tx, i int) error {
		err := tx.Groups().Create(&store.Group{Name: fmt.Sprintf("g%d", i), Description: "generated"})
		if errors.Is(err, store.ErrConflict) {
			return nil
		}
		return err
	}); err != nil {
		return nil, err
	}
	rules := rbactest.Policy(seed, size)
	if err := inBatches(ctx, db, 0, len(rules)-1, 2*batch, func(tx store.Tx, i int) error {
		// The seed rules and user 1's admin link are there already.
		_, err := tx.Rules().Add(rules[i].Type, rules[i].Values)
		if errors.Is(err, store.ErrConflict) {
			return nil
		}
		return err
	}); err != nil {
		return nil, err
	}
	// The file was written without fsync: sync it once now.
	if err := db.Bolt().Sync(); err != nil {
		return nil, err
	}
	return &Generated{Path: o.DB, Password: password, Size: size, Rules: len(rules), Took: time.Since(start)}, nil
}

// inBatches calls fn for every i from first to last, committing every
// batch calls.
func inBatches(ctx context.Context, db store.Store, first, last, batch int, fn func(tx store.Tx, i int) error) error {
	for lo := first; lo <= last; lo += batch {
		hi := min(lo+batch-1, last)
		err := db.Update(ctx, func(tx store.Tx) error {
			for i := lo; i <= hi; i++ {
				if err := fn(tx, i); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("gen: %d..%d: %w", lo, hi, err)
		}
	}
	return nil
}

func readPolicy(path string, m *rbac.Model) ([]rbac.CSVRule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rules, err := rbac.ParseCSV(f, m)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rules, nil
}
