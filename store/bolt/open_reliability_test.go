package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/gatehouse/gatehouse/store"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"
)

// mustDatabaseFile makes a closed gatehouse database with a user and notes
// spread over many pages, and returns its bytes.
func mustDatabaseFile(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "good.db")
	db, err := Open(path, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(context.Background(), func(tx store.Tx) error {
		u := store.User{Email: "owner@example.com"}
		if err := tx.Users().Create(&u); err != nil {
			return err
		}
		for i := range 300 {
			n := testNote{Owned: store.Owned{OwnerID: u.ID}, Title: fmt.Sprint("note ", i), Body: strings.Repeat("b", 400+i*7)}
			if err := testNotes.Create(tx, &n); err != nil {
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

// mustRefuse writes data to a file, opens it, and checks that Open refuses
// it with want and has not changed a byte of it.
func mustRefuse(t *testing.T, data []byte, want error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bad.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(path, Options{LockTimeout: 100e6})
	if err == nil {
		db.Close()
		t.Fatalf("Open accepted the file")
	}
	if !errors.Is(err, want) {
		t.Fatalf("Open: %v, want %v", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the error is more than one line: %q", err)
	}
	after, rerr := os.ReadFile(path)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !bytes.Equal(after, data) {
		t.Errorf("Open changed the file it refused")
	}
}

func TestOpenRefusesForeignAndDamagedFiles(t *testing.T) {
	t.Parallel()
	good := mustDatabaseFile(t)

	foreignBolt := func() []byte {
		path := filepath.Join(t.TempDir(), "other.db")
		b, err := bbolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = b.Update(func(tx *bbolt.Tx) error {
			bk, err := tx.CreateBucket([]byte("someone-else"))
			if err != nil {
				return err
			}
			return bk.Put([]byte("k"), []byte("v"))
		})
		if err != nil {
			t.Fatal(err)
		}
		b.Close()
		data, _ := os.ReadFile(path)
		return data
	}
	random := make([]byte, 64<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	// The root page of the notes bucket overwritten with nonsense.
	overwritten := bytes.Clone(good)
	{
		path := filepath.Join(t.TempDir(), "root.db")
		if err := os.WriteFile(path, good, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		var root, pageSize int
		_ = b.View(func(tx *bbolt.Tx) error {
			root, pageSize = int(tx.Bucket(bucketNotes).RootPage()), tx.DB().Info().PageSize
			return nil
		})
		b.Close()
		if root == 0 {
			t.Fatal("the notes bucket is inline; the test needs more notes")
		}
		copy(overwritten[root*pageSize+8:], bytes.Repeat([]byte{0xa5}, pageSize-8))
	}

	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"text file", []byte("hello, I am a text file\n"), ErrForeign},
		{"random bytes", random, ErrForeign},
		{"sqlite header", append([]byte("SQLite format 3\x00"), make([]byte, 8192)...), ErrForeign},
		{"another program's bbolt file", foreignBolt(), ErrForeign},
		{"cut in half", good[:len(good)/2], ErrCorrupt},
		{"cut after the meta pages", good[:3*4096], ErrCorrupt},
		{"page overwritten", overwritten, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mustRefuse(t, tt.data, tt.want)
		})
	}
}

// TestOpenNeverCrashesOnDamage damages a good file at random places, many
// times over: Open must refuse the file untouched, or open it; and what it
// opens must be readable without a crash. A fault in bbolt here would kill
// the test binary, which is the point.
func TestOpenNeverCrashesOnDamage(t *testing.T) {
	t.Parallel()
	good := mustDatabaseFile(t)
	trials := 150
	if testing.Short() {
		trials = 30
	}
	if os.Getenv("GATEHOUSE_SOAK") != "" {
		trials = 5000
	}
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	counts := map[string]int{}
	for i := range trials {
		data := bytes.Clone(good)
		switch i % 4 {
		case 0: // a run of garbage somewhere
			off := rng.IntN(len(data) - 64)
			for j := range 64 {
				data[off+j] = byte(rng.Uint32())
			}
		case 1: // single bit flips
			for range 8 {
				off := rng.IntN(len(data))
				data[off] ^= 1 << rng.IntN(8)
			}
		case 2: // a page header zeroed
			page := 2 + rng.IntN(len(data)/4096-2)
			clear(data[page*4096 : page*4096+16])
		case 3: // cut short
			data = data[:rng.IntN(len(data))]
		}
		path := filepath.Join(dir, fmt.Sprint(i, ".db"))
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		db, err := Open(path, Options{NoSync: true})
		switch {
		case errors.Is(err, ErrCorrupt), errors.Is(err, ErrForeign):
			counts["refused"]++
			if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
				t.Fatalf("trial %d: Open changed the file it refused", i)
			}
			continue
		case err != nil:
			t.Fatalf("trial %d: Open: %v", i, err)
		}
		counts["opened"]++
		err = db.View(context.Background(), func(tx store.Tx) error {
			_, _, err := testNotes.List(tx, 0, store.Page{Limit: 1000})
			return err
		})
		if err != nil {
			counts["opened, a value unreadable"]++
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		os.Remove(path)
	}
	t.Logf("%d trials: %v", trials, counts)
}
