package app

import (
	"strconv"
	"strings"
	"testing"
)

// TestRequestIDs: ids are 24 hex digits, distinct from one request to the
// next and between two servers (processes).
func TestRequestIDs(t *testing.T) {
	a, b := newRequestIDs(), newRequestIDs()
	seen := map[string]bool{}
	for range 1000 {
		for _, id := range []string{a.next(), b.next()} {
			if len(id) != 24 || strings.Trim(id, "0123456789abcdef") != "" || seen[id] {
				t.Fatalf("id %q: want 24 hex digits, never seen before", id)
			}
			seen[id] = true
		}
	}
}

// TestRequestIDsOfOneServer: a server's answers carry ids of its one
// generator (Echo sets up global middleware for every request: what they
// need must be made once), the counter going up by one per request.
func TestRequestIDsOfOneServer(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	var ids []string
	for range 3 {
		resp, err := ls.http.Get(ls.url + "/api/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ids = append(ids, resp.Header.Get("X-Request-Id"))
	}
	for i := 1; i < len(ids); i++ {
		prev, _ := strconv.ParseUint(ids[i-1][12:], 16, 64)
		cur, err := strconv.ParseUint(ids[i][12:], 16, 64)
		if len(ids[i]) != 24 || ids[i][:12] != ids[0][:12] || err != nil || cur != prev+1 {
			t.Fatalf("ids %q: want one prefix and a counter going up by one", ids)
		}
	}
}
