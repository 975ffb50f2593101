package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
)

func TestEveryFailureIsRecordedOnce(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, func(c *Config) { c.RateLimit = "3-M" })
	user, secret := mustUser(t, ls.srv, "mallory@example.com", "user")
	cases := []struct {
		name   string
		req    request
		status int
		code   string
		reason string // recorded reason, when not the code
		check  func(t *testing.T, f store.AuthFailure)
	}{
		{"401", request{path: "/api/auth/me"}, http.StatusUnauthorized, api.CodeUnauthorized, "", func(t *testing.T, f store.AuthFailure) {
			if f.Subject != rbac.Anonymous || f.Object != "/api/auth/me" || f.Action != http.MethodGet || f.UserID != 0 || f.Explanation == "" {
				t.Fatalf("record %+v", f)
			}
		}},
		{"401 bad bearer", request{path: "/api/notes", headers: []string{bearer("gatehouse_sess_forged")}}, http.StatusUnauthorized, api.CodeUnauthorized, "", nil},
		{"403", request{path: "/api/admin/auth-failures?ip=1.2.3.4", headers: []string{bearer(secret)}}, http.StatusForbidden, api.CodeForbidden, "", func(t *testing.T, f store.AuthFailure) {
			if f.Subject != rbac.UserSubject(user.ID) || f.Object != "/api/admin/auth-failures" || f.Action != http.MethodGet ||
				f.UserID != user.ID || !strings.HasPrefix(f.Explanation, "denied") || f.Path != "/api/admin/auth-failures" {
				t.Fatalf("record %+v", f)
			}
		}},
		{"csrf", request{method: http.MethodPost, path: "/api/notes", body: `{"title":"x"}`, headers: []string{cookie(secret)}}, http.StatusForbidden, api.CodeCSRFFailed, failCSRFMissing, func(t *testing.T, f store.AuthFailure) {
			if f.UserID != user.ID || f.Subject != "" {
				t.Fatalf("record %+v", f)
			}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ip := fmt.Sprintf("198.51.100.%d", i+1)
			tc.req.headers = append(tc.req.headers, xff(ip))
			a := ls.do(t, tc.req)
			wantError(t, a, tc.status, tc.code)
			ls.flush(t)
			recs := ls.failures(t, ip)
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1: %+v", len(recs), recs)
			}
			f := recs[0]
			if f.Count != 1 || f.Status != tc.status || f.Reason != cmpOr(tc.reason, tc.code) || f.RequestID != a.err.RequestID ||
				f.Method != cmpOr(tc.req.method, http.MethodGet) || f.IP != ip || f.Time.IsZero() || !f.LastTime.Equal(f.Time) {
				t.Fatalf("record %+v", f)
			}
			if tc.check != nil {
				tc.check(t, f)
			}
			if n := ls.logs.count(`"msg":"auth failure"`, a.err.RequestID); n != 1 {
				t.Fatalf("%d log lines for the failure, want 1", n)
			}
			// The same failure again is one more count, not one more record.
			a = ls.do(t, tc.req)
			ls.flush(t)
			if recs := ls.failures(t, ip); len(recs) != 1 || recs[0].Count != 2 || recs[0].ID != f.ID || !recs[0].LastTime.After(f.Time) {
				t.Fatalf("after a second failure: %+v", recs)
			}
		})
	}
	t.Run("429", func(t *testing.T) {
		ip := "198.51.100.200"
		for range 3 {
			wantStatus(t, ls.do(t, request{path: "/api/health", headers: []string{xff(ip)}}), http.StatusOK)
		}
		a := ls.do(t, request{path: "/api/health", headers: []string{xff(ip)}})
		wantError(t, a, http.StatusTooManyRequests, api.CodeRateLimited)
		ls.flush(t)
		recs := ls.failures(t, ip)
		if len(recs) != 1 || recs[0].Count != 1 || recs[0].Status != http.StatusTooManyRequests || recs[0].Reason != reasonRateLimited || recs[0].Route != "/api/health" {
			t.Fatalf("records %+v", recs)
		}
	})
	t.Run("no log line holds a secret", func(t *testing.T) {
		if logs := ls.logs.String(); strings.Contains(logs, secret) || strings.Contains(logs, "gatehouse_sess_forged") || strings.Contains(logs, csrfToken(secret)) {
			t.Fatal("a credential reached the log")
		}
	})
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestAuthFailureListFiltersAndPages(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, func(c *Config) { c.FailureMaxRecords = 8 })
	_, admin := mustUser(t, ls.srv, "admin@example.com", "admin")
	auditor, auditorSecret := mustUser(t, ls.srv, "auditor@example.com", "user")
	_, userSecret := mustUser(t, ls.srv, "user@example.com", "user")
	if err := ls.srv.authz.Mutate(t.Context(), func(tx store.Tx) error {
		_, err := ls.srv.authz.AddRule(tx, "g", []string{rbac.UserSubject(auditor.ID), "group:auditors"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// Ten distinct failures, from ten addresses; retention keeps eight.
	for i := range 10 {
		ls.do(t, request{path: "/api/auth/me", headers: []string{xff(fmt.Sprintf("2001:db8:0:%d::1", i))}})
	}
	wantError(t, ls.do(t, request{path: "/api/admin/auth-failures", headers: []string{bearer(userSecret), xff("192.0.2.1")}}), http.StatusForbidden, api.CodeForbidden)
	ls.flush(t)

	client := api.NewClient(ls.url, admin)
	all, err := client.ListAuthFailures(t.Context(), api.ListOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Items) != 8 || all.NextCursor != "" || all.Items[0].Status != http.StatusForbidden || all.Items[7].IP != "2001:db8:0:3::1" {
		t.Fatalf("list %+v", all)
	}
	var seen []string
	opts := api.ListOptions{Limit: 3}
	for range 4 {
		l, err := client.ListAuthFailures(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range l.Items {
			seen = append(seen, f.ID)
		}
		if opts.Cursor = l.NextCursor; opts.Cursor == "" {
			break
		}
	}
	if len(seen) != 8 || seen[0] != all.Items[0].ID || seen[7] != all.Items[7].ID {
		t.Fatalf("paged ids %v, want those of %+v", seen, all.Items)
	}

	auditors := api.NewClient(ls.url, auditorSecret)
	for filter, want := range map[[2]string]int{
		{"reason", api.CodeForbidden}:    1,
		{"reason", api.CodeUnauthorized}: 7,
		{"ip", "2001:db8:0:5::1"}:        1,
		{"ip", "2001:db8:0:4::/63"}:      2,
		{"ip", "2001:db8::/32"}:          7,
		{"user", "999"}:                  0,
		{"user", "user:999"}:             0,
		{"reason", "no_such_reason"}:     0,
		{"ip", "::ffff:192.0.2.1"}:       1,
		{"ip", "192.0.2.0/24"}:           1,
	} {
		l, err := auditors.ListAuthFailures(t.Context(), api.ListOptions{Filter: map[string]string{filter[0]: filter[1]}})
		if err != nil {
			t.Fatalf("%v: %v", filter, err)
		}
		if len(l.Items) != want {
			t.Errorf("filter %v: %d items, want %d", filter, len(l.Items), want)
		}
	}
	for _, bad := range []string{"ip=not-an-ip", "user=abc", "user=0", "limit=101", "limit=0", "cursor=%25%25", "reason=" + strings.Repeat("r", 65)} {
		a := ls.do(t, request{path: "/api/admin/auth-failures?" + bad, headers: []string{bearer(admin)}})
		wantError(t, a, http.StatusBadRequest, api.CodeInvalidInput)
	}
	a := ls.do(t, request{path: "/api/admin/auth-failures", headers: []string{bearer(admin)}})
	if a.header.Get(headerFailuresShed) != "0" {
		t.Fatalf("%s: %q", headerFailuresShed, a.header.Get(headerFailuresShed))
	}
}

// openStream connects to the stream and returns its lines once the server
// has subscribed it (the ": connected" comment is written after that).
func openStream(t *testing.T, ls *liveServer, secret, query string) (lines <-chan string, resp *http.Response) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ls.url+"/api/admin/auth-failures/stream"+query, nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := make(chan string, 1024)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			out <- sc.Text()
		}
	}()
	if l := nextLine(t, out, 2*time.Second); l != ": connected" {
		t.Fatalf("first line %q", l)
	}
	return out, resp
}

func nextLine(t *testing.T, lines <-chan string, within time.Duration) string {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			return "<EOF>"
		}
		return l
	case <-time.After(within):
		t.Fatalf("no line within %v", within)
		return ""
	}
}

// nextEvent skips blank and comment lines and decodes the next data line.
func nextEvent(t *testing.T, lines <-chan string, within time.Duration) api.AuthFailure {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		l := nextLine(t, lines, time.Until(deadline))
		if l == "<EOF>" {
			t.Fatal("stream ended")
		}
		data, ok := strings.CutPrefix(l, "data: ")
		if !ok {
			continue
		}
		var f api.AuthFailure
		if err := json.Unmarshal([]byte(data), &f); err != nil {
			t.Fatalf("data line %q: %v", l, err)
		}
		return f
	}
}

func TestStreamDeliversFailuresLive(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, func(c *Config) { c.StreamHeartbeat = 50 * time.Millisecond })
	_, admin := mustUser(t, ls.srv, "admin@example.com", "admin")
	lines, _ := openStream(t, ls, admin, "")
	filtered, _ := openStream(t, ls, admin, "?ip=192.0.2.0/24")

	start := time.Now()
	a := ls.do(t, request{path: "/api/auth/me", headers: []string{xff("198.51.100.1")}})
	f := nextEvent(t, lines, time.Second)
	if took := time.Since(start); took > time.Second {
		t.Fatalf("the failure took %v to arrive", took)
	}
	if f.RequestID != a.err.RequestID || f.Status != http.StatusUnauthorized || f.IP != "198.51.100.1" || f.Count != 1 || f.ID == "" {
		t.Fatalf("event %+v", f)
	}
	// The filtered stream skipped it and gets the next one that matches.
	a = ls.do(t, request{path: "/api/auth/me", headers: []string{xff("192.0.2.7")}})
	if f := nextEvent(t, filtered, time.Second); f.IP != "192.0.2.7" || f.RequestID != a.err.RequestID {
		t.Fatalf("filtered event %+v", f)
	}
	// Idle streams get heartbeats.
	for {
		if l := nextLine(t, lines, time.Second); l == ": heartbeat" {
			break
		}
	}
}

func TestStreamSpeaksTheClientsFormat(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	_, admin := mustUser(t, ls.srv, "admin@example.com", "admin")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got := make(chan api.AuthFailure, 64)
	done := make(chan error, 1)
	go func() {
		done <- api.NewClient(ls.url, admin).StreamAuthFailures(ctx, func(f api.AuthFailure) { got <- f })
	}()
	// The client says nothing when it is connected: fail until it hears.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for heard := false; !heard; {
		select {
		case f := <-got:
			if f.Reason != api.CodeUnauthorized || f.Route != "/api/auth/me" {
				t.Fatalf("event %+v", f)
			}
			heard = true
		case <-tick.C:
			ls.do(t, request{path: "/api/auth/me", headers: []string{xff("198.51.100.1")}})
		case <-ctx.Done():
			t.Fatal("the client heard nothing")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("client ended with %v", err)
	}
}

func TestStreamEndsWhenAccessIsLost(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, func(c *Config) { c.StreamHeartbeat = 20 * time.Millisecond })
	u, secret := mustUser(t, ls.srv, "admin@example.com", "admin")
	_, _ = mustUser(t, ls.srv, "other-admin@example.com", "admin") // the last admin cannot lose the role
	lines, _ := openStream(t, ls, secret, "")
	err := ls.srv.authz.Mutate(t.Context(), func(tx store.Tx) error {
		_, err := tx.Rules().RemoveReferencing(rbac.UserSubject(u.ID))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for {
		switch l := nextLine(t, lines, 2*time.Second); l {
		case ": access revoked":
			if l := nextLine(t, lines, 2*time.Second); l != "" {
				t.Fatalf("after the reason: %q", l)
			}
			if l := nextLine(t, lines, 2*time.Second); l != "<EOF>" {
				t.Fatalf("stream goes on: %q", l)
			}
			return
		case "<EOF>":
			t.Fatal("stream ended without saying why")
		}
	}
}

func TestShutdownEndsStreamsAndFlushes(t *testing.T) {
	t.Parallel()
	ls := mustLiveServer(t, nil)
	_, admin := mustUser(t, ls.srv, "admin@example.com", "admin")
	lines, _ := openStream(t, ls, admin, "")
	for i := range 20 {
		ls.do(t, request{path: "/api/auth/me", headers: []string{xff(fmt.Sprintf("198.51.100.%d", i+1))}})
	}
	// No flush asked for: shutting down must store them.
	if err := ls.stop(); err != nil {
		t.Fatal(err)
	}
	sawEnd := false
	for l := range lines {
		sawEnd = sawEnd || l == ": server shutting down"
	}
	if !sawEnd {
		t.Fatal("the stream ended without its last comment")
	}
	recs := ls.failures(t, "")
	if len(recs) != 20 {
		t.Fatalf("%d records after shutdown, want 20", len(recs))
	}
	if err := ls.srv.FlushAuthFailures(t.Context()); err == nil {
		t.Fatal("flush after stop succeeded")
	}
}

// The server's WriteTimeout cuts a response that lasts longer; the stream
// sets its own deadlines instead.
func TestStreamOutlivesTheWriteTimeout(t *testing.T) {
	t.Parallel()
	srv, _, _ := newBareServer(t, func(c *Config) { c.StreamHeartbeat = 50 * time.Millisecond })
	_, admin := mustUser(t, srv, "admin@example.com", "admin")
	hs := srv.HTTPServer()
	hs.WriteTimeout = 300 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(l)
	srv.failures.start()
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		srv.failures.stop()
	})
	ls := &liveServer{srv: srv, url: "http://" + l.Addr().String(), http: http.DefaultClient}
	lines, _ := openStream(t, ls, admin, "")
	until := time.Now().Add(3 * hs.WriteTimeout)
	for time.Now().Before(until) {
		if l := nextLine(t, lines, time.Second); l == "<EOF>" {
			t.Fatal("the stream was cut")
		}
	}
	a := ls.do(t, request{path: "/api/auth/me"})
	if f := nextEvent(t, lines, time.Second); f.RequestID != a.err.RequestID {
		t.Fatalf("event %+v", f)
	}
}

func TestSlowSubscriberIsDropped(t *testing.T) {
	t.Parallel()
	srv, _, _ := newBareServer(t, nil)
	l := srv.failures
	slow, err := l.subscribe(1)
	if err != nil {
		t.Fatal(err)
	}
	fast, err := l.subscribe(2)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []store.AuthFailure)
	go func() {
		defer close(got)
		for b := range fast.ch {
			got <- b
		}
	}()
	// The writer publishes more batches than the slow one can hold; it
	// must never wait for it, and the fast one gets every batch.
	for i := range streamBacklog + 5 {
		l.publish([]store.AuthFailure{{ID: uint64(i + 1)}})
		if b := <-got; len(b) != 1 || b[0].ID != uint64(i+1) {
			t.Fatalf("fast subscriber got %+v", b)
		}
	}
	n := 0
	for range slow.ch {
		n++
	}
	if n != streamBacklog || !strings.HasPrefix(slow.why, "dropped") {
		t.Fatalf("slow subscriber got %d batches before the end (%q), want %d", n, slow.why, streamBacklog)
	}
	l.stop()
	if _, ok := <-got; ok {
		t.Fatal("fast subscriber got more")
	}
	if fast.why != "server shutting down" {
		t.Fatalf("fast subscriber ended with %q", fast.why)
	}
	if sub, err := l.subscribe(3); sub != nil || err == nil {
		t.Fatal("subscribed after stop")
	}
}
