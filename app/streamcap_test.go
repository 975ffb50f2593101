package app

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
)

// TestStreamsPerCallerCapped performs the attack: one admin opens stream
// after stream of the auth-failure log. The fifth open stream is 429
// rate_limited with Retry-After; another admin is not affected; once one
// stream ends, its caller may open another.
func TestStreamsPerCallerCapped(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	_, admin := mustUser(t, ls.srv, "root@example.com", "admin")
	_, other := mustUser(t, ls.srv, "ops@example.com", "admin")
	var first *http.Response
	for i := range maxStreamsPerCaller {
		_, resp := openStream(t, ls, admin, "")
		if i == 0 {
			first = resp
		}
	}
	over := func() answer {
		return ls.do(t, request{path: "/api/admin/auth-failures/stream", headers: []string{bearer(admin)}})
	}
	a := over()
	wantError(t, a, http.StatusTooManyRequests, api.CodeRateLimited)
	if a.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	openStream(t, ls, other, "")

	first.Body.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if openStreamOrNot(t, ls, admin) != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a closed stream still counts after 5 s")
		}
		time.Sleep(20 * time.Millisecond) // polling for the server to notice the close
	}
}

// openStreamOrNot opens a stream, or returns nil when the server answers
// 429 (any other answer fails the test).
func openStreamOrNot(t *testing.T, ls *liveServer, secret string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ls.url+"/api/admin/auth-failures/stream", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		resp.Body.Close()
		return nil
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	return resp
}
