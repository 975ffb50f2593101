package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
)

// concurrencyRunTime is how long TestConcurrentChangesAndDecisions runs
// at least, and at most while waiting for enough settled answers: a couple
// of seconds in make test, GATEHOUSE_SOAK_TIME (default 2m) in make soak.
func concurrencyRunTime() (least, most time.Duration) {
	if os.Getenv("GATEHOUSE_SOAK") == "" {
		return 2 * time.Second, 30 * time.Second
	}
	least = 2 * time.Minute
	if d, err := time.ParseDuration(os.Getenv("GATEHOUSE_SOAK_TIME")); err == nil && d > 0 {
		least = d
	}
	return least, least + time.Minute
}

// minSettled is how many answers given in a settled state, granted and
// refused each, every toggle needs for the run to prove anything.
const minSettled = 3

// openFDs counts the process's open file descriptors, or returns -1 where
// /proc/self/fd does not exist (the descriptor checks are then skipped).
func openFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(entries)
}

// toggled is one piece of access state that a single admin goroutine flips
// through the API, while probes ask the server what it decides. seq works
// like a sequence lock: odd while a change is in flight, even once the
// change is answered, so a probe knows whether the state it read was
// committed before its request began and stayed so until its answer.
type toggled struct {
	name string
	seq  atomic.Uint64
	on   atomic.Bool
	// set makes the change through the API and fails unless it was
	// acknowledged.
	set func(on bool) error
	// probes ask the server, each its own way, and report what the answer
	// says the state is. Each runs in two goroutines.
	probes []func() (on bool, err error)
	// hold is how long each state stays, so that probes land in stable
	// windows.
	hold time.Duration
	// strict counts answers checked against a state settled before the
	// request began, by state; changes counts acknowledged changes.
	strict  [2]atomic.Int64
	changes atomic.Int64
}

// maxHold bounds how long flip keeps a state waiting for a settled answer.
const maxHold = 2 * time.Second

// flip runs the changes until ctx ends. Each state stays for hold, and
// then until a probe has answered in it (at most maxHold): with a fixed
// hold, a loaded machine whose requests take longer than the hold never
// gives a settled answer, and the run proves nothing.
func (tg *toggled) flip(ctx context.Context) error {
	for {
		state := 0
		if tg.on.Load() {
			state = 1
		}
		seen, since := tg.strict[state].Load(), time.Now()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(tg.hold):
		}
		for tg.strict[state].Load() == seen && time.Since(since) < maxHold {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(5 * time.Millisecond): // polling for a settled answer
			}
		}
		next := !tg.on.Load()
		tg.seq.Add(1)
		if err := tg.set(next); err != nil {
			return fmt.Errorf("%s: set %v: %w", tg.name, next, err)
		}
		tg.on.Store(next)
		tg.seq.Add(1)
		tg.changes.Add(1)
	}
}

// check asks probe until ctx ends. An answer given while the state was
// settled from before the request to after the answer must match that
// state.
func (tg *toggled) check(ctx context.Context, probe func() (bool, error)) error {
	for ctx.Err() == nil {
		before := tg.seq.Load()
		want := tg.on.Load()
		settled := before%2 == 0 && tg.seq.Load() == before
		got, err := probe()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%s: %w", tg.name, err)
		}
		if !settled || tg.seq.Load() != before {
			continue
		}
		if got != want {
			return fmt.Errorf("%s: the state %v was committed before the request began, the answer says %v", tg.name, want, got)
		}
		if want {
			tg.strict[1].Add(1)
		} else {
			tg.strict[0].Add(1)
		}
	}
	return nil
}

// concurrencyClient calls the live server and requires the answers it is
// told to expect.
type concurrencyClient struct {
	ls *liveServer
}

// call sends body as JSON with a Bearer secret and decodes a 2xx answer
// into out; it returns the status and the error code of any other answer.
func (cc concurrencyClient) call(secret, method, path string, body, out any) (int, string, error) {
	var text string
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, "", err
		}
		text = string(b)
	}
	var headers []string
	if secret != "" {
		headers = append(headers, bearer(secret))
	}
	a, err := cc.ls.try(request{method: method, path: path, body: text, headers: headers})
	if err != nil {
		return 0, "", fmt.Errorf("%s %s: %w", method, path, err)
	}
	if a.status < 300 && out != nil {
		if err := json.Unmarshal(a.body, out); err != nil {
			return a.status, "", fmt.Errorf("%s %s: %d %s: %w", method, path, a.status, a.body, err)
		}
	}
	return a.status, a.err.Code, nil
}

// must is call that fails unless the answer has status.
func (cc concurrencyClient) must(secret, method, path string, body, out any, status int) error {
	got, code, err := cc.call(secret, method, path, body, out)
	if err != nil {
		return err
	}
	if got != status {
		return fmt.Errorf("%s %s: %d %s, want %d", method, path, got, code, status)
	}
	return nil
}

// decision maps an authorization answer to allowed (200) or denied (403
// forbidden); anything else is an error.
func (cc concurrencyClient) decision(secret, method, path string) (bool, error) {
	status, code, err := cc.call(secret, method, path, nil, nil)
	switch {
	case err != nil:
		return false, err
	case status == http.StatusOK:
		return true, nil
	case status == http.StatusForbidden && code == api.CodeForbidden:
		return false, nil
	}
	return false, fmt.Errorf("%s %s: %d %q", method, path, status, code)
}

// signedIn maps the answer of GET /api/auth/me to signed in (200) or not
// (401 unauthorized); anything else is an error.
func (cc concurrencyClient) signedIn(secret string) (bool, error) {
	status, code, err := cc.call(secret, "GET", "/api/auth/me", nil, nil)
	switch {
	case err != nil:
		return false, err
	case status == http.StatusOK:
		return true, nil
	case status == http.StatusUnauthorized && code == api.CodeUnauthorized:
		return false, nil
	}
	return false, fmt.Errorf("GET /api/auth/me: %d %q", status, code)
}

// TestConcurrentChangesAndDecisions runs decisions, logins, note writes
// and admin changes together through the real server (run it with -race):
// a role granted and revoked, a group membership, a rule added and
// removed, a user disabled and enabled, and unrelated rules churning. No
// answer may contradict the state committed before its request began;
// every acknowledged note is there; and after shutdown the goroutines and
// file descriptors are back to what they were.
func TestConcurrentChangesAndDecisions(t *testing.T) {
	// Not parallel: it counts the goroutines and descriptors of the whole
	// process.
	baseFDs := openFDs(t)
	srv, db, logs := newBareServer(t, func(c *Config) {
		c.RateLimit, c.LoginRateLimit = "10000000-M", "10000000-M"
	})
	// The baseline of goroutines is taken once the server is built: the
	// rate limiters' in-memory stores run a cleaner each for as long as the
	// Server value lives (limiter stops them from a finalizer), which is
	// not what this test is about. Everything Serve starts must end.
	baseGoroutines := runtime.NumGoroutine()
	ls := serveLive(t, srv, db, logs)
	cc := concurrencyClient{ls: ls}
	_, admin := mustUser(t, ls.srv, "admin@example.com", "admin")
	roleUser, roleSecret := mustUser(t, ls.srv, "role@example.com", "user")
	groupUser, groupSecret := mustUser(t, ls.srv, "group@example.com", "user")
	ruleUser, ruleSecret := mustUser(t, ls.srv, "rule@example.com", "user")
	var disabled api.User
	const disabledPassword = "a long enough password"
	setup := []struct {
		method, path string
		body, out    any
		status       int
	}{
		{"POST", "/api/admin/users", api.CreateUserRequest{Email: "disabled@example.com", Name: "d", Password: disabledPassword, Roles: []string{"user"}}, &disabled, http.StatusCreated},
		{"POST", "/api/admin/policies", api.RuleInput{Type: "p", Rule: []string{"role:probe", "/api/admin/routes", "GET", "*"}}, nil, http.StatusCreated},
		{"POST", "/api/admin/groups", api.CreateGroupRequest{Name: "probers"}, nil, http.StatusCreated},
		{"POST", "/api/admin/policies", api.RuleInput{Type: "p", Rule: []string{"group:probers", "/api/admin/audit", "GET", "*"}}, nil, http.StatusCreated},
	}
	for _, s := range setup {
		if err := cc.must(admin, s.method, s.path, s.body, s.out, s.status); err != nil {
			t.Fatal(err)
		}
	}
	ruleRuleID := ""
	var disabledSession atomic.Value // the session secret of the last enabling

	toggles := []*toggled{
		{
			name: "role grant", hold: 60 * time.Millisecond,
			set: func(on bool) error {
				roles := []string{"user"}
				if on {
					roles = append(roles, "probe")
				}
				return cc.must(admin, "PATCH", "/api/admin/users/"+store.FormatID(roleUser.ID), api.UpdateUserRequest{Roles: &roles}, nil, http.StatusOK)
			},
			probes: []func() (bool, error){func() (bool, error) { return cc.decision(roleSecret, "GET", "/api/admin/routes") }},
		},
		{
			name: "group membership", hold: 60 * time.Millisecond,
			set: func(on bool) error {
				method := http.MethodDelete
				if on {
					method = http.MethodPut
				}
				return cc.must(admin, method, "/api/admin/groups/probers/members/"+store.FormatID(groupUser.ID), nil, nil, http.StatusNoContent)
			},
			probes: []func() (bool, error){func() (bool, error) { return cc.decision(groupSecret, "GET", "/api/admin/audit?limit=1") }},
		},
		{
			name: "rule", hold: 60 * time.Millisecond,
			set: func(on bool) error {
				if !on {
					return cc.must(admin, "DELETE", "/api/admin/policies/"+ruleRuleID, nil, nil, http.StatusNoContent)
				}
				var r api.Rule
				err := cc.must(admin, "POST", "/api/admin/policies", api.RuleInput{Type: "p", Rule: []string{"user:" + store.FormatID(ruleUser.ID), "/api/admin/groups", "GET", "*"}}, &r, http.StatusCreated)
				ruleRuleID = r.ID
				return err
			},
			probes: []func() (bool, error){func() (bool, error) { return cc.decision(ruleSecret, "GET", "/api/admin/groups") }},
		},
		{
			// Disabling ends the user's sessions at once; enabling lets them
			// sign in again. One probe uses the session made after the last
			// enabling, the other signs in (an argon2 hash each: slow, so
			// the states last longer).
			name: "disable", hold: 300 * time.Millisecond,
			set: func(on bool) error {
				off := !on
				if err := cc.must(admin, "PATCH", "/api/admin/users/"+disabled.ID, api.UpdateUserRequest{Disabled: &off}, nil, http.StatusOK); err != nil || !on {
					return err
				}
				var login api.LoginResponse
				if err := cc.must("", "POST", "/api/auth/login", api.LoginRequest{Email: "disabled@example.com", Password: disabledPassword}, &login, http.StatusOK); err != nil {
					return err
				}
				disabledSession.Store(login.Token)
				return nil
			},
			probes: []func() (bool, error){
				func() (bool, error) { return cc.signedIn(disabledSession.Load().(string)) },
				func() (bool, error) {
					var login api.LoginResponse
					status, code, err := cc.call("", "POST", "/api/auth/login", api.LoginRequest{Email: "disabled@example.com", Password: disabledPassword}, &login)
					switch {
					case err != nil:
						return false, err
					case status == http.StatusUnauthorized && code == api.CodeInvalidCredentials:
						return false, nil
					case status != http.StatusOK:
						return false, fmt.Errorf("login: %d %q", status, code)
					}
					return cc.signedIn(login.Token)
				},
			},
		},
	}
	// The disabled user starts enabled and signed in, the others without
	// access.
	toggles[3].on.Store(true)
	if err := toggles[3].set(true); err != nil {
		t.Fatal(err)
	}

	least, most := concurrencyRunTime()
	ctx, cancel := context.WithTimeout(context.Background(), most)
	defer cancel()
	enough := func() bool {
		for _, tg := range toggles {
			if tg.strict[0].Load() < minSettled || tg.strict[1].Load() < minSettled {
				return false
			}
		}
		return true
	}
	// The run lasts at least least, then until every toggle has enough
	// settled answers (slow machines need longer), at most most.
	go func() {
		select {
		case <-ctx.Done():
			return
		case <-time.After(least):
		}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for !enough() {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
		cancel()
	}()
	var wg sync.WaitGroup
	var errs sync.Map
	run := func(name string, fn func(context.Context) error) {
		wg.Go(func() {
			if err := fn(ctx); err != nil {
				errs.Store(name, err)
				cancel()
			}
		})
	}
	for _, tg := range toggles {
		run(tg.name+" changes", tg.flip)
		for i, probe := range tg.probes {
			check := func(ctx context.Context) error { return tg.check(ctx, probe) }
			run(fmt.Sprintf("%s probe %d", tg.name, i), check)
			run(fmt.Sprintf("%s probe %d again", tg.name, i), check)
		}
	}
	// Rules nobody is checking, added and removed as fast as the admin
	// can: every change rebuilds the engine under the probes' feet.
	run("churn", func(ctx context.Context) error {
		for i := 0; ctx.Err() == nil; i++ {
			var r api.Rule
			body := api.RuleInput{Type: "p", Rule: []string{fmt.Sprintf("role:churn%d", i%4), "/api/notes", "GET", "*"}}
			if err := cc.must(admin, "POST", "/api/admin/policies", body, &r, http.StatusCreated); err != nil {
				return err
			}
			if err := cc.must(admin, "DELETE", "/api/admin/policies/"+r.ID, nil, nil, http.StatusNoContent); err != nil {
				return err
			}
		}
		return nil
	})
	// Note writers: every acknowledged note reads back at once, and only
	// to its owner.
	acked := map[uint64]*atomic.Int64{roleUser.ID: {}, groupUser.ID: {}}
	for _, w := range []struct {
		id            uint64
		secret, other string
	}{{roleUser.ID, roleSecret, groupSecret}, {groupUser.ID, groupSecret, roleSecret}} {
		run(fmt.Sprintf("notes of user %d", w.id), func(ctx context.Context) error {
			for i := 0; ctx.Err() == nil; i++ {
				var n api.Note
				title, body := fmt.Sprintf("note %d", i), strings.Repeat("x", i%64)
				in := api.NoteInput{Title: &title, Body: &body}
				if err := cc.must(w.secret, "POST", "/api/notes", in, &n, http.StatusCreated); err != nil {
					return err
				}
				acked[w.id].Add(1)
				var got api.Note
				if err := cc.must(w.secret, "GET", "/api/notes/"+n.ID, nil, &got, http.StatusOK); err != nil {
					return err
				}
				if got.Title != title || got.Body != body {
					return fmt.Errorf("note %s reads back as %+v, want %q %q", n.ID, got, title, body)
				}
				if status, code, err := cc.call(w.other, "GET", "/api/notes/"+n.ID, nil, nil); err != nil || status != http.StatusForbidden || code != api.CodeForbidden {
					return fmt.Errorf("another user reads note %s: %d %q %v", n.ID, status, code, err)
				}
			}
			return nil
		})
	}
	wg.Wait()
	errs.Range(func(name, err any) bool {
		t.Errorf("%s: %v", name, err)
		return true
	})
	if t.Failed() {
		return
	}
	for _, tg := range toggles {
		t.Logf("%s: %d changes, %d answers checked while granted, %d while refused",
			tg.name, tg.changes.Load(), tg.strict[1].Load(), tg.strict[0].Load())
		if tg.strict[0].Load() < minSettled || tg.strict[1].Load() < minSettled {
			t.Errorf("%s: fewer than %d settled answers in a state within %s: too few to prove anything", tg.name, minSettled, most)
		}
	}
	err := ls.db.View(context.Background(), func(tx store.Tx) error {
		for owner, n := range acked {
			notes, _, err := Notes.List(tx, owner, store.Page{Limit: 1 << 20})
			if err != nil {
				return err
			}
			if int64(len(notes)) != n.Load() {
				t.Errorf("user %d: %d notes acknowledged, %d stored", owner, n.Load(), len(notes))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Shut down, close the database and the client's connections: every
	// goroutine and descriptor of the run must be gone.
	if err := ls.stop(); err != nil {
		t.Fatal(err)
	}
	if err := ls.db.Close(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	ls.http.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseGoroutines || openFDs(t) > baseFDs {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("after shutdown: %d goroutines (%d before), %d descriptors (%d before)\n%s",
				runtime.NumGoroutine(), baseGoroutines, openFDs(t), baseFDs, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
