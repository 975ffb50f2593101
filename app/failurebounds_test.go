package app

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
)

// TestJunkMethodFlood performs the attack on the failure log: hundreds of
// anonymous requests, each with its own random 16 KB method, from a few
// addresses, nearly all answered 429 (and so recorded). Every method is
// stored and logged as one value, so the failures of an address fold into
// one record; the log and the database file grow by well under a
// megabyte. Before the fix every request was a fresh 16 KB record and a
// 16 KB log line.
func TestJunkMethodFlood(t *testing.T) {
	t.Parallel()
	const requests, addresses, methodLen = 400, 8, 16 << 10
	ls := mustLiveServer(t, func(c *Config) { c.RateLimit = "2-M" })
	ls.flush(t)
	sizeOf := func() int64 {
		fi, err := os.Stat(ls.db.Path())
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	fileBefore, logBefore := sizeOf(), len(ls.logs.String())

	r := rand.New(rand.NewPCG(1, 2))
	letters := "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	limited := 0
	for i := range requests {
		var m strings.Builder
		for range methodLen {
			m.WriteByte(letters[r.IntN(len(letters))])
		}
		a := ls.do(t, request{method: m.String(), path: "/api/admin/users", headers: []string{xff(fmt.Sprintf("198.51.100.%d", i%addresses+1))}})
		switch a.status {
		case http.StatusTooManyRequests:
			wantError(t, a, http.StatusTooManyRequests, api.CodeRateLimited)
			limited++
		case http.StatusMethodNotAllowed:
			wantError(t, a, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed)
		default:
			t.Fatalf("request %d: %d %s", i, a.status, a.body)
		}
	}
	ls.flush(t)
	recs := ls.failures(t, "")
	total := 0
	for _, f := range recs {
		if f.Method != otherMethod {
			t.Fatalf("stored method %.40q…, want %q", f.Method, otherMethod)
		}
		total += f.Count
	}
	if total != limited || len(recs) != addresses {
		t.Fatalf("%d records counting %d failures, want %d records counting %d", len(recs), total, addresses, limited)
	}
	fileGrowth, logGrowth := sizeOf()-fileBefore, len(ls.logs.String())-logBefore
	t.Logf("%d requests with %d-byte methods (%d answered 429): database file grew %d bytes, log %d bytes, %d records",
		requests, methodLen, limited, fileGrowth, logGrowth, len(recs))
	const bound = 256 << 10 // well under a megabyte
	if fileGrowth > bound || logGrowth > bound {
		t.Fatalf("file grew %d bytes, log %d bytes: want at most %d each", fileGrowth, logGrowth, bound)
	}
}

// TestFailureFieldsBounded: every field a client controls is cut before a
// record is logged or stored, and a cut never leaves invalid UTF-8.
func TestFailureFieldsBounded(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"GET", "GET"}, {"PATCH", "PATCH"}, {"get", otherMethod}, {strings.Repeat("X", 70000), otherMethod}, {"", otherMethod},
	} {
		if got := failureMethod(tc.in); got != tc.want {
			t.Errorf("failureMethod(%.20q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := cutText("ab\u00e9cd", 3); got != "ab" {
		t.Errorf("cut inside a character: %q", got)
	}
	if got := cutText("a\xffb", 10); got != "a\uFFFDb" {
		t.Errorf("invalid UTF-8 kept: %q", got)
	}
}
