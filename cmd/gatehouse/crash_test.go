package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatehouse/gatehouse/app"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
	bbolt "go.etcd.io/bbolt"
)

// The crash-safety promise: what the API acknowledged is on disk. A write
// is acknowledged when its 2xx answer reached the client; bbolt has then
// fsynced it. A write whose answer never came (the process died first) may
// or may not be stored: its commit can land just before the kill. Either is
// correct; what is not is an acknowledged write missing, or a damaged file.

// crashLedger is what the writers were told, and what may have happened to
// writes whose answer never came.
type crashLedger struct {
	mu    sync.Mutex
	notes map[uint64]*noteRecord
	// sentTitles are the titles of every create sent, acknowledged or not:
	// a stored note must have one of them.
	sentTitles map[string]bool
	users      map[string]uint64 // acknowledged registrations: email to id
	sentEmails map[string]bool
	// unackedStored counts writes that were never acknowledged but were
	// found on disk (allowed; reported).
	unackedStored int
}

// noteRecord is the acknowledged state of one note, and what else it may
// be after a write whose answer never came.
type noteRecord struct {
	writer       int
	title        string   // last acknowledged title
	maybeTitles  []string // titles sent since, without an answer
	deleted      bool     // an acknowledged delete
	maybeDeleted bool     // a delete sent without an answer
}

func newCrashLedger() *crashLedger {
	return &crashLedger{
		notes: map[uint64]*noteRecord{}, sentTitles: map[string]bool{},
		users: map[string]uint64{}, sentEmails: map[string]bool{},
	}
}

// crashConfig is how hard TestCrashSafety tries: a few kills in make test,
// many in make soak (GATEHOUSE_SOAK=1, GATEHOUSE_SOAK_KILLS=n).
func crashKills(t *testing.T) int {
	kills := 4
	if os.Getenv("GATEHOUSE_SOAK") != "" {
		kills = 200
		if n, err := strconv.Atoi(os.Getenv("GATEHOUSE_SOAK_KILLS")); err == nil && n > 0 {
			kills = n
		}
	}
	if testing.Short() {
		kills = 2
	}
	return kills
}

// TestCrashSafety runs the real binary, streams writes at it from several
// clients, SIGKILLs it at a random moment, checks the file offline, and
// starts it again on the same file, many times over.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "data", "gatehouse.db")
	env := serveEnv(t, dbPath)
	kills := crashKills(t)
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 1))
	t.Logf("%d kills, seed %d", kills, seed)

	led := newCrashLedger()
	var token string
	acked := 0
	for cycle := range kills {
		p := startGatehouse(t, env)
		if token == "" {
			// One login for the whole run: the session is a write too, and
			// must outlive every crash.
			token = mustLogin(t, p.url)
		}
		client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
		ctx, stop := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var count sync.Map
		for w := range 4 {
			wg.Go(func() {
				n := runCrashWriter(ctx, t, client, p.url, token, w, cycle, led)
				count.Store(w, n)
			})
		}
		// The kill lands anywhere in the stream: mid-request, mid-commit,
		// mid-fsync.
		time.Sleep(time.Duration(50+rng.IntN(600)) * time.Millisecond)
		p.kill()
		stop()
		wg.Wait()
		client.CloseIdleConnections()
		count.Range(func(_, v any) bool { acked += v.(int); return true })
		if t.Failed() {
			t.Fatalf("cycle %d: stopping after the failures above", cycle)
		}
		verifyCrashLedger(t, dbPath, led)
		if t.Failed() {
			t.Fatalf("cycle %d: an acknowledged write was lost or the file is damaged", cycle)
		}
	}
	t.Logf("%d kills, %d acknowledged writes all present; %d unacknowledged writes found stored (allowed)",
		kills, acked, led.unackedStored)
}

// runCrashWriter sends writes until the server dies or ctx ends, recording
// each in the ledger, and returns how many were acknowledged. Writer w owns
// the notes it created: only it changes them, so their order is known.
func runCrashWriter(ctx context.Context, t *testing.T, client *http.Client, base, token string, w, cycle int, led *crashLedger) int {
	rng := rand.New(rand.NewPCG(uint64(w), uint64(cycle)))
	acked := 0
	for seq := 0; ctx.Err() == nil; seq++ {
		own := led.ownNotes(w)
		op := rng.IntN(100)
		switch {
		case w == 0 && seq%12 == 5:
			email := fmt.Sprintf("u%d-%d@example.com", cycle, seq)
			led.mu.Lock()
			led.sentEmails[email] = true
			led.mu.Unlock()
			r, err := call(ctx, client, http.MethodPost, base+"/api/auth/register", "",
				map[string]string{"email": email, "password": "a long enough password", "name": "crash"})
			if err != nil {
				return acked
			}
			if r.status != http.StatusCreated {
				t.Errorf("register %s: %d %s", email, r.status, r.body)
				return acked
			}
			var u struct{ ID string }
			_ = json.Unmarshal(r.body, &u)
			id, _ := strconv.ParseUint(u.ID, 10, 64)
			led.mu.Lock()
			led.users[email] = id
			led.mu.Unlock()
		case op < 25 && len(own) > 0:
			id := own[rng.IntN(len(own))]
			title := fmt.Sprintf("w%d c%d s%d patched", w, cycle, seq)
			led.mu.Lock()
			rec := led.notes[id]
			rec.maybeTitles = append(rec.maybeTitles, title)
			led.mu.Unlock()
			r, err := call(ctx, client, http.MethodPatch, fmt.Sprint(base, "/api/notes/", id), token, map[string]string{"title": title})
			if err != nil {
				return acked
			}
			if r.status != http.StatusOK {
				t.Errorf("patch note %d (acknowledged before): %d %s", id, r.status, r.body)
				return acked
			}
			led.mu.Lock()
			rec.title, rec.maybeTitles = title, nil
			led.mu.Unlock()
		case op < 35 && len(own) > 0:
			id := own[rng.IntN(len(own))]
			led.mu.Lock()
			rec := led.notes[id]
			rec.maybeDeleted = true
			led.mu.Unlock()
			r, err := call(ctx, client, http.MethodDelete, fmt.Sprint(base, "/api/notes/", id), token, nil)
			if err != nil {
				return acked
			}
			if r.status != http.StatusNoContent {
				t.Errorf("delete note %d (acknowledged before): %d %s", id, r.status, r.body)
				return acked
			}
			led.mu.Lock()
			rec.deleted = true
			led.mu.Unlock()
		default:
			title := fmt.Sprintf("w%d c%d s%d", w, cycle, seq)
			led.mu.Lock()
			led.sentTitles[title] = true
			led.mu.Unlock()
			r, err := call(ctx, client, http.MethodPost, base+"/api/notes", token,
				map[string]string{"title": title, "body": strings.Repeat("crash safety ", 1+rng.IntN(200))})
			if err != nil {
				return acked
			}
			if r.status != http.StatusCreated {
				t.Errorf("create note: %d %s", r.status, r.body)
				return acked
			}
			var n struct{ ID string }
			_ = json.Unmarshal(r.body, &n)
			id, _ := strconv.ParseUint(n.ID, 10, 64)
			led.mu.Lock()
			led.notes[id] = &noteRecord{writer: w, title: title}
			led.mu.Unlock()
		}
		acked++
	}
	return acked
}

// ownNotes are the ids of writer w's notes that are not deleted.
func (l *crashLedger) ownNotes(w int) []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []uint64
	for id, rec := range l.notes {
		if rec.writer == w && !rec.deleted && !rec.maybeDeleted {
			out = append(out, id)
		}
	}
	return out
}

// verifyCrashLedger opens the file of a killed server and checks it against
// the ledger: bbolt's consistency check passes, every acknowledged write is
// there, nothing is there that was never sent. What a write without an
// answer did is settled from what is found, so later rounds check it too.
func verifyCrashLedger(t *testing.T, path string, led *crashLedger) {
	t.Helper()
	// Open inspects the file first (page walk and bbolt's check); the check
	// below says it again, in the words of this test.
	db, err := bolt.Open(path, bolt.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open after kill: %v", err)
	}
	defer db.Close()
	err = db.Bolt().View(func(tx *bbolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		t.Fatalf("bbolt check after kill: %v", err)
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	err = db.View(context.Background(), func(tx store.Tx) error {
		for id, rec := range led.notes {
			n, err := app.Notes.Get(tx, id)
			switch {
			case rec.deleted && err == nil:
				t.Errorf("note %d: its acknowledged delete is lost", id)
			case rec.deleted:
			case errors.Is(err, store.ErrNotFound) && rec.maybeDeleted:
				rec.deleted = true // the delete committed before the kill
				led.unackedStored++
			case err != nil:
				t.Errorf("note %d (%q): acknowledged, now %v", id, rec.title, err)
			case n.Title == rec.title:
				rec.maybeTitles, rec.maybeDeleted = nil, false
			case slices.Contains(rec.maybeTitles, n.Title):
				rec.title, rec.maybeTitles, rec.maybeDeleted = n.Title, nil, false
				led.unackedStored++
			default:
				t.Errorf("note %d: title %q, acknowledged %q (unanswered since: %q)", id, n.Title, rec.title, rec.maybeTitles)
			}
		}
		// Every stored note was sent by someone: no write from nowhere.
		for p := (store.Page{Limit: 100}); ; {
			notes, next, err := app.Notes.List(tx, 0, p)
			if err != nil {
				return err
			}
			for _, n := range notes {
				if _, known := led.notes[n.ID]; known {
					continue
				}
				if !led.sentTitles[n.Title] {
					t.Errorf("note %d %q was never sent", n.ID, n.Title)
					continue
				}
				// A create that committed just before the kill.
				led.notes[n.ID] = &noteRecord{writer: -1, title: n.Title}
				led.unackedStored++
			}
			if next == "" {
				break
			}
			p.Cursor = next
		}
		// Every stored user is the admin or was sent by a writer; those
		// whose answer never came are settled here.
		for p := (store.Page{Limit: 100}); ; {
			users, next, err := tx.Users().List("", p)
			if err != nil {
				return err
			}
			for _, u := range users {
				if _, known := led.users[u.Email]; known || u.Email == testAdminEmail {
					continue
				}
				if !led.sentEmails[u.Email] {
					t.Errorf("user %d %q was never sent", u.ID, u.Email)
					continue
				}
				led.users[u.Email] = u.ID
				led.unackedStored++
			}
			if next == "" {
				break
			}
			p.Cursor = next
		}
		for email, id := range led.users {
			u, err := tx.Users().ByEmail(email)
			if err != nil || u.ID != id {
				t.Errorf("user %s (%d): acknowledged, now %v (id %d)", email, id, err, u.ID)
				continue
			}
			if _, err := tx.Rules().Find("g", []string{rbac.UserSubject(id), rbac.RoleUser}); err != nil {
				t.Errorf("user %s: their role link, written with them, is %v", email, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read after kill: %v", err)
	}
}
