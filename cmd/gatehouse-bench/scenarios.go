package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/gatehouse/gatehouse/store/bolt"
	bbolt "go.etcd.io/bbolt"
)

// getNote is GET /api/notes/:id with a Bearer token, as its owner would
// send it; note ids equal their owner's id in a generated database.
func getNote(base string, id int, token string) *http.Request {
	req, _ := http.NewRequest(http.MethodGet, base+"/api/notes/"+strconv.Itoa(id), nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// httpComparison is the real server against a bare Echo, round by round.
type httpComparison struct {
	gatehouse, bare []loadResult
}

// compareHTTP serves GET /api/notes/:id to owners sending a personal API
// token as a Bearer token, from the real server and from a bare Echo
// answering the same JSON from memory, in alternating rounds of d each, so
// that both see the same noise.
func compareHTTP(ctx context.Context, srv *inProcess, g *generated, conns int, d time.Duration, rounds int) (*httpComparison, error) {
	owners := min(conns, 8, g.size.Users-1)
	tokens := make([]string, owners)
	notes := map[string]api.Note{}
	client := newClient(conns)
	var want []byte
	for i := range owners {
		id := i + 2
		tok, err := personalToken(ctx, srv.url, g, id)
		if err != nil {
			return nil, err
		}
		tokens[i] = tok
		body, err := fetch(client, getNote(srv.url, id, tok))
		if err != nil {
			return nil, fmt.Errorf("GET note %d as its owner: %w", id, err)
		}
		var n api.Note
		if err := json.Unmarshal(body, &n); err != nil {
			return nil, err
		}
		notes[n.ID] = n
		if i == 0 {
			want = body
		}
	}
	bareURL, stopBare, err := startBare(notes)
	if err != nil {
		return nil, err
	}
	defer stopBare()
	got, err := fetch(client, getNote(bareURL, 2, ""))
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(got, want) {
		return nil, fmt.Errorf("the baseline answers %s, the server %s: not the same work", got, want)
	}
	cmp := &httpComparison{}
	for range rounds {
		cmp.bare = append(cmp.bare, closedLoop(ctx, client, conns, d, http.StatusOK, func(w int) *http.Request {
			return getNote(bareURL, w%owners+2, "")
		}))
		cmp.gatehouse = append(cmp.gatehouse, closedLoop(ctx, client, conns, d, http.StatusOK, func(w int) *http.Request {
			return getNote(srv.url, w%owners+2, tokens[w%owners])
		}))
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	return cmp, nil
}

// fetch makes one request that must answer 200 and returns the body.
func fetch(client *http.Client, req *http.Request) ([]byte, error) {
	return fetchStatus(client, req, http.StatusOK)
}

// fetchStatus makes one request that must answer want and returns the
// body.
func fetchStatus(client *http.Client, req *http.Request, want int) ([]byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, body)
	}
	return body, nil
}

// changeVisibility is how long policy changes took to be honoured by the
// very next request, by kind of change.
type changeVisibility struct {
	via                    string
	ruleAdded, ruleRemoved []time.Duration
	linkAdded, linkRemoved []time.Duration
	admin                  *api.Client // nil: through Authorizer.Mutate
	viewer, owner          int
	viewerToken            string
	ruleValues, linkValues []string
	pendingRuleID          string
	pendingStoreID         uint64
	srv                    *inProcess
	client                 *http.Client
}

// measureChanges adds and removes a rule that lets one user read another's
// note, and a role link that does the same, times times each, and measures
// from the start of each change until a request sees it. The change goes
// through the admin API when the server has it, else Authorizer.Mutate
// (what the admin API calls).
func measureChanges(ctx context.Context, srv *inProcess, g *generated, times int) (*changeVisibility, error) {
	cv := &changeVisibility{srv: srv, client: newClient(1), via: "Authorizer.Mutate (no admin API on this build)"}
	// A viewer that may not read the owner's note: not an admin, and not
	// in a group whose role reads every note.
	for id := 2; id < g.size.Users; id++ {
		req := rbac.Request{Sub: rbac.UserSubject(uint64(id)), Obj: "/api/notes/:id", Act: http.MethodGet,
			Owner: rbac.UserSubject(uint64(id + 1)), MFA: rbac.MFANone}
		if !srv.authz.Decide(req).Allowed {
			cv.viewer, cv.owner = id, id+1
			break
		}
	}
	if cv.viewer == 0 {
		return nil, errors.New("no user is denied another's note: cannot measure")
	}
	tok, err := personalToken(ctx, srv.url, g, cv.viewer)
	if err != nil {
		return nil, err
	}
	cv.viewerToken = tok
	if srv.hasRoute(http.MethodPost, "/api/admin/policies") && srv.hasRoute(http.MethodDelete, "/api/admin/policies/:id") {
		adminToken, err := login(ctx, srv.url, g, 1)
		if err != nil {
			return nil, err
		}
		cv.admin = api.NewClient(srv.url, adminToken)
		cv.via = "the admin API (POST and DELETE /api/admin/policies)"
	}
	sub := rbac.UserSubject(uint64(cv.viewer))
	cv.ruleValues = []string{sub, "/api/notes/:id", http.MethodGet, rbac.CondAny}
	cv.linkValues = []string{sub, "role:editor"}
	if err := cv.expect(http.StatusForbidden); err != nil {
		return nil, fmt.Errorf("before any change: %w", err)
	}
	for range times {
		for _, c := range []struct {
			typ            string
			values         []string
			added, removed *[]time.Duration
		}{
			{"p", cv.ruleValues, &cv.ruleAdded, &cv.ruleRemoved},
			{"g", cv.linkValues, &cv.linkAdded, &cv.linkRemoved},
		} {
			start := time.Now()
			if err := cv.add(ctx, c.typ, c.values); err != nil {
				return nil, err
			}
			if err := cv.expect(http.StatusOK); err != nil {
				return nil, fmt.Errorf("after adding %s %v: %w", c.typ, c.values, err)
			}
			*c.added = append(*c.added, time.Since(start))
			start = time.Now()
			if err := cv.remove(ctx); err != nil {
				return nil, err
			}
			if err := cv.expect(http.StatusForbidden); err != nil {
				return nil, fmt.Errorf("after removing %s %v: %w", c.typ, c.values, err)
			}
			*c.removed = append(*c.removed, time.Since(start))
		}
	}
	return cv, nil
}

func (cv *changeVisibility) add(ctx context.Context, typ string, values []string) error {
	if cv.admin != nil {
		r, err := cv.admin.AddPolicy(ctx, api.RuleInput{Type: typ, Rule: values})
		cv.pendingRuleID = r.ID
		return err
	}
	return cv.srv.authz.Mutate(ctx, func(tx store.Tx) error {
		r, err := cv.srv.authz.AddRule(tx, typ, values)
		cv.pendingStoreID = r.ID
		return err
	})
}

func (cv *changeVisibility) remove(ctx context.Context) error {
	if cv.admin != nil {
		return cv.admin.RemovePolicy(ctx, cv.pendingRuleID)
	}
	return cv.srv.authz.Mutate(ctx, func(tx store.Tx) error {
		_, err := tx.Rules().Remove(cv.pendingStoreID)
		return err
	})
}

// expect sends the viewer's request for the owner's note once: the change
// must be visible to the very next request, so there is no retry.
func (cv *changeVisibility) expect(status int) error {
	if got := send(cv.client, getNote(cv.srv.url, cv.owner, cv.viewerToken)); got != status {
		return fmt.Errorf("GET another's note answered %d, want %d", got, status)
	}
	return nil
}

// floodResult is an auth-failure flood and what legitimate callers saw
// meanwhile.
type floodResult struct {
	attack, legit loadResult
	// writes is the number of write transactions the store committed
	// during the flood; flushedWrites the same once the failures still
	// queued at its end were stored.
	writes, flushedWrites uint64
}

// measureFlood sends requests with well-formed but unknown personal
// tokens (401, each one recorded by the auth-failure log) from conns
// connections, each as a different client address, for d, while one
// legitimate owner reads their note every 10 ms. It counts the store's
// write transactions by bbolt's transaction id, which grows by one with
// every committed write, whoever makes it.
func measureFlood(ctx context.Context, srv *inProcess, g *generated, conns int, d time.Duration) (*floodResult, error) {
	legitID := min(3, g.size.Users)
	tok, err := personalToken(ctx, srv.url, g, legitID)
	if err != nil {
		return nil, err
	}
	before, err := lastTxID(srv.db)
	if err != nil {
		return nil, err
	}
	res := &floodResult{}
	lctx, cancel := context.WithTimeout(ctx, d+d/5)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		client := newClient(4)
		res.legit = paced(lctx, client, 10*time.Millisecond, http.StatusOK, func() *http.Request {
			return getNote(srv.url, legitID, tok)
		})
	})
	res.attack = closedLoop(ctx, newClient(conns), conns, d, http.StatusUnauthorized, func(w int) *http.Request {
		var b [32]byte
		_, _ = rand.Read(b[:])
		req := getNote(srv.url, 1, "gatehouse_pat_"+base64.RawURLEncoding.EncodeToString(b[:]))
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.100.%d", w%250+1))
		return req
	})
	wg.Wait()
	after, err := lastTxID(srv.db)
	if err != nil {
		return nil, err
	}
	// Wait for the last batch, so that every failure of the flood is
	// counted, then count again.
	if err := srv.srv.FlushAuthFailures(ctx); err != nil {
		return nil, err
	}
	if res.flushedWrites, err = lastTxID(srv.db); err != nil {
		return nil, err
	}
	res.writes = after - before
	res.flushedWrites -= before
	return res, nil
}

// lastTxID is the id of the last committed write transaction.
func lastTxID(db *bolt.DB) (uint64, error) {
	var id uint64
	err := db.Bolt().View(func(tx *bbolt.Tx) error { id = uint64(tx.ID()); return nil })
	return id, err
}

// loginBurst is n concurrent logins against a serve process.
type loginBurst struct {
	n, failed int
	wall      time.Duration
	// idleRSS is the resident memory before the logins; peakRSS and
	// peakAnon the most seen while they ran (all of it, and the
	// anonymous part: without the database file's mapped pages).
	idleRSS, peakRSS, peakAnon int64
	probe                      loadResult
}

// measureLogins starts bin serve, signs in n different users at once, and
// meanwhile reads a note every 10 ms as another user (personal token); it
// reports the process's resident memory before and, sampled every 5 ms,
// at its peak during the logins. (The kernel's own peak, VmHWM, would
// include start-up, where the integrity check reads the whole database
// file through bbolt's mapping.)
func measureLogins(ctx context.Context, bin string, env []string, g *generated, n int) (*loginBurst, error) {
	n = min(n, g.size.Users-2)
	p, err := startProcess(ctx, bin, env)
	if err != nil {
		return nil, err
	}
	defer p.stop()
	tok, err := personalToken(ctx, p.url, g, 2)
	if err != nil {
		return nil, err
	}
	lb := &loginBurst{n: n}
	lb.idleRSS, _ = p.memory()
	sctx, stopSampling := context.WithCancel(ctx)
	var sampled sync.WaitGroup
	sampled.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			rss, anon := p.anonymous()
			lb.peakRSS, lb.peakAnon = max(lb.peakRSS, rss), max(lb.peakAnon, anon)
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
		}
	})
	pctx, cancel := context.WithCancel(ctx)
	var probeDone sync.WaitGroup
	probeDone.Go(func() {
		lb.probe = paced(pctx, newClient(4), 10*time.Millisecond, http.StatusOK, func() *http.Request {
			return getNote(p.url, 2, tok)
		})
	})
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range n {
		wg.Go(func() {
			if _, err := login(ctx, p.url, g, i+3); err != nil {
				mu.Lock()
				lb.failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	lb.wall = time.Since(start)
	cancel()
	probeDone.Wait()
	stopSampling()
	sampled.Wait()
	return lb, nil
}

// measureStartup starts bin serve runs times on the database and returns
// the time to the first healthy answer of each, and the resident memory of
// the last once it answers.
func measureStartup(ctx context.Context, bin string, env []string, runs int) ([]time.Duration, int64, error) {
	var times []time.Duration
	var rss int64
	for range runs {
		p, err := startProcess(ctx, bin, env)
		if err != nil {
			return nil, 0, err
		}
		times = append(times, p.ready)
		rss, _ = p.memory()
		if err := p.stop(); err != nil {
			return nil, 0, fmt.Errorf("stop server: %w", err)
		}
	}
	return times, rss, nil
}

// medianDuration is the median of ds (the mean of the middle two when
// there is an even number).
func medianDuration(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
