package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
