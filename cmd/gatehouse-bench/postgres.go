package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/app/redistest"
	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
	"github.com/jackc/pgx/v5"
)

// The request path on PostgreSQL and Redis: `gatehouse serve` with
// GATEHOUSE_DATABASE_URL and GATEHOUSE_REDIS_URL, against a bare Echo
// making one indexed pgx query per request on the same PostgreSQL server,
// both measured with wrk like the comparison on bbolt.

// pgPrograms are the programs the comparison on PostgreSQL runs.
type pgPrograms struct {
	postgres string // folder of initdb and postgres
	redis    string // redis-server
}

// findPgPrograms finds wrk, PostgreSQL and redis-server, or says in one
// line which is missing.
func findPgPrograms() (pgPrograms, error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return pgPrograms{}, errNoWrk
	}
	pg, err := pgtest.FindBinaries()
	if err != nil {
		return pgPrograms{}, fmt.Errorf("%v (apt-get install postgresql): the comparison on PostgreSQL was skipped", err)
	}
	redis, err := redistest.FindBinary()
	if err != nil {
		return pgPrograms{}, fmt.Errorf("%v (apt-get install redis-server): the comparison on PostgreSQL was skipped", err)
	}
	return pgPrograms{postgres: pg, redis: redis}, nil
}

// comparePostgres starts a PostgreSQL server and a redis-server in
// temporary folders on loopback, gatehouseBin serve on them (a database of
// its own), and the one-query baseline on another database of the same
// server; it has a new user create a note, and measures the owner reading
// it with a session's Bearer token against the baseline answering the same
// bytes, with wrk in alternating rounds of d. Everything it started is
// stopped before it returns.
func comparePostgres(ctx context.Context, progs pgPrograms, gatehouseBin, modelPath, policyPath string, d time.Duration, rounds int) (*wrkComparison, error) {
	pg, err := pgtest.Start(progs.postgres)
	if err != nil {
		return nil, err
	}
	defer pg.Close()
	for _, name := range []string{"gatehouse", "baseline"} {
		if err := pg.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			return nil, err
		}
	}
	redis, err := redistest.Start(progs.redis)
	if err != nil {
		return nil, err
	}
	defer redis.Close()
	srv, err := startProcess(ctx, gatehouseBin, benchEnv(modelPath, policyPath,
		"GATEHOUSE_DATABASE_URL="+pg.URL("gatehouse"), "GATEHOUSE_REDIS_URL="+redis.URL()))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	if err := hasTables(ctx, pg.URL("gatehouse")); err != nil {
		return nil, err
	}
	token, path, body, err := ownNote(ctx, srv.url)
	if err != nil {
		return nil, err
	}
	baseURL, stopBase, err := startOneQuery(ctx, pg.URL("baseline"), body)
	if err != nil {
		return nil, err
	}
	defer stopBase()
	got, err := call(ctx, http.MethodGet, baseURL+path, "", nil, http.StatusOK)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(got, body) {
		return nil, fmt.Errorf("the baseline answers %s, the server %s: not the same work", got, body)
	}
	return compareWrk(ctx, srv.url+path, token, baseURL+path, d, rounds)
}

// hasTables checks that gatehouse made its schema in the database at
// dbURL: that it runs on PostgreSQL, not on a file.
func hasTables(ctx context.Context, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return errors.New("gatehouse made no table in PostgreSQL: GATEHOUSE_DATABASE_URL was not used")
	}
	return nil
}

// ownNote registers a user on the server at base, signs in, and creates a
// note; it returns the session token, the note's path and its answer to
// GET by its owner.
func ownNote(ctx context.Context, base string) (token, path string, body []byte, err error) {
	user := api.RegisterRequest{Email: "bench@example.com", Password: rand.Text(), Name: "bench"}
	if _, err := call(ctx, http.MethodPost, base+"/api/auth/register", "", user, http.StatusCreated); err != nil {
		return "", "", nil, fmt.Errorf("register: %w", err)
	}
	res, err := api.NewClient(base, "").Login(ctx, api.LoginRequest{Email: user.Email, Password: user.Password})
	if err != nil {
		return "", "", nil, fmt.Errorf("login: %w", err)
	}
	title, text := "bench", "a note used to measure the protected request path"
	created, err := call(ctx, http.MethodPost, base+"/api/notes", res.Token, api.NoteInput{Title: &title, Body: &text}, http.StatusCreated)
	if err != nil {
		return "", "", nil, fmt.Errorf("create a note: %w", err)
	}
	var n api.Note
	if err := json.Unmarshal(created, &n); err != nil {
		return "", "", nil, err
	}
	path = "/api/notes/" + n.ID
	body, err = call(ctx, http.MethodGet, base+path, res.Token, nil, http.StatusOK)
	if err != nil {
		return "", "", nil, fmt.Errorf("read the note: %w", err)
	}
	return res.Token, path, body, nil
}

// call sends one request, with in as its JSON body unless nil and token as
// a Bearer token unless empty, and returns the answer's body, which must
// come with status want.
func call(ctx context.Context, method, url, token string, in any, want int) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return fetchStatus(http.DefaultClient, req, want)
}

// Rows of the comparisons measured with wrk.
const (
	wrkFigure = "GET /api/notes/:id as its owner, measured with wrk, requests/s (baseline: bare Echo serving the same bytes)"
	pgFigure  = "GET /api/notes/:id as its owner on PostgreSQL and Redis, measured with wrk, requests/s (baseline: bare Echo making one indexed pgx query per request on the same PostgreSQL)"
)

// addWrk measures the comparisons with wrk, on bbolt and (unless
// -postgres=false) on PostgreSQL and Redis, and puts their rows and notes
// in t. A missing program or a failure is the row's one-line reason (the
// full error goes to progress): the rest of the report stands.
func addWrk(ctx context.Context, t *table, o reportOptions, work string, progress io.Writer) {
	precondition := func() error {
		switch {
		case o.gatehouseBin == "":
			return errors.New("needs the gatehouse binary (-gatehouse)")
		case !o.wrk:
			return errors.New("skipped (-wrk=false)")
		}
		if _, err := exec.LookPath("wrk"); err != nil {
			return errNoWrk
		}
		return nil
	}
	row := func(figure string, goal float64, cmp *wrkComparison, err error) bool {
		if err != nil {
			fmt.Fprintln(progress, figure+":", err)
			reason, _, _ := strings.Cut(err.Error(), "\n")
			t.add(figure, "not measured", "", reason)
			return false
		}
		gh, base := median(cmp.gatehouse), median(cmp.bare)
		t.add(figure, fmt.Sprintf("%.0f", gh), fmt.Sprintf("%.0f", base),
			fmt.Sprintf("ratio %.2f; %s", gh/base, target(gh >= goal*base, fmt.Sprintf(">= %.1f", goal))))
		return true
	}
	cmp, err := func() (*wrkComparison, error) {
		if err := precondition(); err != nil {
			return nil, err
		}
		return compareBolt(ctx, o.gatehouseBin, o.model, o.policy, filepath.Join(work, "wrk.db"), o.duration, o.rounds)
	}()
	if row(wrkFigure, 0.6, cmp, err) {
		t.note(fmt.Sprintf("wrk: gatehouse serve in its own process on a fresh database file (one user's note) against a bare Echo in this process serving the same bytes; "+
			"-t1 -c%d, a login session's Bearer token (gatehouse_sess_...), %d rounds of %s per side, alternating; medians of the rounds; every answer 2xx.", wrkConns, len(cmp.gatehouse), o.duration))
	}
	if !o.postgres {
		return
	}
	cmp, err = func() (*wrkComparison, error) {
		if err := precondition(); err != nil {
			return nil, err
		}
		progs, err := findPgPrograms()
		if err != nil {
			return nil, err
		}
		return comparePostgres(ctx, progs, o.gatehouseBin, o.model, o.policy, o.duration, o.rounds)
	}()
	if row(pgFigure, 0.5, cmp, err) {
		t.note(fmt.Sprintf("wrk on PostgreSQL: gatehouse serve with GATEHOUSE_DATABASE_URL and GATEHOUSE_REDIS_URL on a PostgreSQL server and a redis-server started in temporary folders on loopback "+
			"(durability off, as in the tests: the measured requests only read), a database of its own, one user's note; "+
			"the baseline reads that note's answer bytes from a table of another database of the same server (SELECT doc ... WHERE id = 1, its primary key, through a pgx pool of default size); "+
			"-t1 -c%d, a login session's Bearer token, %d rounds of %s per side, alternating; medians of the rounds; every answer 2xx.", wrkConns, len(cmp.gatehouse), o.duration))
	}
}

// compareBolt runs gatehouseBin serve on a new database file at dbPath,
// has a new user create a note, and measures the owner reading it with a
// session's Bearer token against a bare Echo answering the same bytes
// from memory, with wrk in alternating rounds of d.
func compareBolt(ctx context.Context, gatehouseBin, modelPath, policyPath, dbPath string, d time.Duration, rounds int) (*wrkComparison, error) {
	defer os.Remove(dbPath)
	srv, err := startProcess(ctx, gatehouseBin, benchEnv(modelPath, policyPath, "GATEHOUSE_DB="+dbPath))
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	token, path, body, err := ownNote(ctx, srv.url)
	if err != nil {
		return nil, err
	}
	baseURL, stopBase, err := startBlob(body)
	if err != nil {
		return nil, err
	}
	defer stopBase()
	return compareWrk(ctx, srv.url+path, token, baseURL+path, d, rounds)
}
