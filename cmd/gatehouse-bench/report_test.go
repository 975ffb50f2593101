package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/redistest"
	"github.com/gatehouse/gatehouse/store/postgres/pgtest"
)

// TestReportEndToEnd runs the in-process part of `make bench` on a small
// generated database, against the real server: a policy change must be
// honoured by the very next request through the admin API, the baseline
// must answer the same JSON as the server, and every figure must be in the
// table. (Start-up and logins need the gatehouse binary; make bench covers
// them.)
func TestReportEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gobench := filepath.Join(dir, "decisions.txt")
	if err := os.WriteFile(gobench, []byte(strings.Join([]string{
		"BenchmarkDecide/users=1k/gatehouse/allow-2   1000  150.0 ns/op  0 B/op  0 allocs/op",
		"BenchmarkDecide/users=1k/casbin/allow-2      1000  40000 ns/op  13000 B/op  159 allocs/op",
		"BenchmarkDecide/users=100k/gatehouse/allow-2 1000  300.0 ns/op  0 B/op  0 allocs/op",
		"BenchmarkDecide/users=100k/casbin/allow-2    1000  39000 ns/op  13000 B/op  159 allocs/op",
	}, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	o := reportOptions{
		genOptions: genOptions{model: "../../model.conf", policy: "../../policy.csv", users: 300, notes: 1},
		gobench:    gobench, conns: 2, duration: 300 * time.Millisecond, rounds: 1, changes: 1, work: dir,
	}
	tbl, err := report(ctx, o, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	out := tbl.String()
	for _, want := range []string{
		"| one decision, 100k users, allow (time; allocs) vs plain Casbin Enforce | 300 ns; 0 | 39.0 µs; 159 | 130x faster; target <= 5 µs: met; target aim >= 100x: met |",
		"| flat in users: one decision (allow), 100k users vs 1k users | 300 ns | 150 ns | 2.00x |",
		"rule added, then the next request sees it",
		"role link removed, then the next request sees it",
		"the admin API (POST and DELETE /api/admin/policies)",
		"GET /api/notes/:id as its owner, requests/s",
		"auth-failure flood: store write transactions/s",
		"0 failed requests",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the table lacks %q:\n%s", want, out)
		}
	}
}

// TestWrkComparisons runs the comparisons with wrk of `make bench` end to
// end, for one short round, against real servers: gatehouse serve built
// from this module, on a database file and on PostgreSQL and Redis, the
// bare and one-query baselines, and wrk. Each row must hold two positive
// figures and their ratio against its goal, and its note must say how
// they were measured. (The ratios mean nothing here: the baselines run in
// this test binary, built with -race under make test.)
func TestWrkComparisons(t *testing.T) {
	t.Parallel()
	pgtest.Binaries(t)
	redistest.Binary(t)
	if _, err := exec.LookPath("wrk"); err != nil {
		msg := "wrk is not installed (apt-get install wrk; .ci/run installs it)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "gatehouse")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "../gatehouse").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	o := reportOptions{
		genOptions:   genOptions{model: "../../model.conf", policy: "../../policy.csv"},
		gatehouseBin: bin, duration: time.Second, rounds: 1, wrk: true, postgres: true,
	}
	tbl := &table{}
	var progress bytes.Buffer
	addWrk(ctx, tbl, o, t.TempDir(), &progress)
	out := tbl.String()
	for _, c := range []struct{ figure, goal, note string }{
		{wrkFigure, `0\.6`, "-t1 -c32, a login session's Bearer token (gatehouse_sess_...), 1 rounds of 1s per side, alternating; medians of the rounds; every answer 2xx."},
		{pgFigure, `0\.5`, "-t1 -c32, a login session's Bearer token, 1 rounds of 1s per side, alternating; medians of the rounds; every answer 2xx."},
	} {
		row := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(c.figure) + ` \| ([0-9]+) \| ([0-9]+) \| ratio ([0-9.]+); target >= ` + c.goal + `: (met|NOT MET) \|$`).FindStringSubmatch(out)
		if row == nil {
			t.Fatalf("no measured row %q in the table:\n%s\n%s", c.figure, out, progress.String())
		}
		t.Log(row[0])
		for _, figure := range row[1:3] {
			if n, _ := strconv.Atoi(figure); n <= 0 {
				t.Errorf("requests/s %d, want more than 0:\n%s", n, out)
			}
		}
		if !strings.Contains(out, c.note) {
			t.Errorf("the note lacks %q:\n%s", c.note, out)
		}
	}
}
