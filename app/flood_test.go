package app

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var floodSize = flag.Int("flood", 4000, "requests the flood test sends")

// A flood of failures over loopback: the auth-failure log keeps exact
// counts, costs a few transactions a second, keeps the file small, and a
// legitimate client stays fast meanwhile.
func TestFailureFlood(t *testing.T) {
	t.Parallel()
	const (
		attackers = 16
		workers   = 8
		perMinute = 200
	)
	ls := mustLiveServer(t, func(c *Config) { c.RateLimit = fmt.Sprintf("%d-M", perMinute) })
	_, user := mustUser(t, ls.srv, "mallory@example.com", "user")
	_, legit := mustUser(t, ls.srv, "alice@example.com", "user")

	// Each attacker sends 401s, CSRF refusals and 403s until its limit,
	// then gets 429s.
	kinds := []request{
		{path: "/api/auth/me"},
		{method: http.MethodPost, path: "/api/notes", body: `{"title":"x"}`, headers: []string{"Sec-Fetch-Site: cross-site"}},
		{path: "/api/admin/auth-failures", headers: []string{bearer(user)}},
	}
	var (
		mu       sync.Mutex
		byStatus = map[int]int{}
		failed   error
	)
	flushesBefore := ls.srv.failures.flushes.Load()
	start := time.Now()
	deadline := start.Add(60 * time.Second)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			seen := map[int]int{}
			for i := range jobs {
				r := kinds[i%len(kinds)]
				r.headers = append(slices.Clip(r.headers), xff(fmt.Sprintf("203.0.113.%d", i%attackers+1)))
				a, err := ls.try(r)
				if err != nil {
					mu.Lock()
					failed = err
					mu.Unlock()
					return
				}
				seen[a.status]++
			}
			mu.Lock()
			for s, n := range seen {
				byStatus[s] += n
			}
			mu.Unlock()
		})
	}

	// The legitimate client asks every 20ms while the flood lasts, and at
	// least five times.
	var latencies []time.Duration
	legitDone := make(chan struct{})
	floodDone := make(chan struct{})
	go func() {
		defer close(legitDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for len(latencies) < perMinute-10 {
			select {
			case <-floodDone:
				if len(latencies) >= 5 { // a short flood: a few samples after it
					return
				}
			case <-tick.C:
			}
			t0 := time.Now()
			a, err := ls.try(request{path: "/api/auth/me", headers: []string{bearer(legit), xff("192.0.2.200")}})
			if err != nil || a.status != http.StatusOK {
				mu.Lock()
				failed = fmt.Errorf("legitimate request: %v %d %s", err, a.status, a.body)
				mu.Unlock()
				return
			}
			latencies = append(latencies, time.Since(t0))
		}
	}()
	for i := 0; i < *floodSize && time.Now().Before(deadline); i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	close(floodDone)
	<-legitDone
	ls.flush(t)
	flushes := ls.srv.failures.flushes.Load() - flushesBefore
	if failed != nil {
		t.Fatal(failed)
	}

	sent := 0
	for _, n := range byStatus {
		sent += n
	}
	if sent != *floodSize {
		t.Fatalf("sent %d of %d within the deadline", sent, *floodSize)
	}
	// Each attacker sent the same number of requests; all but perMinute of
	// them were over its limit.
	if byStatus[http.StatusTooManyRequests] != *floodSize-attackers*perMinute || byStatus[http.StatusOK] != 0 {
		t.Fatalf("answers %v", byStatus)
	}

	// Counts are exact: every answer is in a record's count, once.
	recs := ls.failures(t, "")
	stored := map[int]int{}
	for _, f := range recs {
		if !strings.HasPrefix(f.IP, "203.0.113.") {
			t.Fatalf("record of a client that was not refused: %+v", f)
		}
		stored[f.Status] += f.Count
	}
	for s, n := range byStatus {
		if stored[s] != n {
			t.Errorf("status %d: %d answers, %d stored", s, n, stored[s])
		}
	}
	if shed := ls.srv.failures.shed.Load(); shed != 0 {
		t.Errorf("%d failures shed", shed)
	}
	if n := ls.logs.count(`"msg":"auth failure"`); n != sent {
		t.Errorf("%d log lines for %d failures", n, sent)
	}
	// Identical failures fold: one record per attacker and kind of failure
	// (the three refusals, and a 429 on each of the three routes).
	if len(recs) > attackers*6 {
		t.Errorf("%d records for %d attackers", len(recs), attackers)
	}
	fi, err := os.Stat(ls.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 1<<20 {
		t.Errorf("database file is %d bytes", fi.Size())
	}
	// Writes are batched: one transaction per flush interval that passed,
	// plus the flush this test asked for, however many failures came.
	txPerSecond := float64(flushes) / elapsed.Seconds()
	if limit := uint64(elapsed/failureFlushEvery) + 2; flushes > limit {
		t.Errorf("%d write transactions in %v, want at most %d", flushes, elapsed, limit)
	}

	slices.Sort(latencies)
	p50, p99 := latencies[len(latencies)/2], latencies[(len(latencies)*99)/100]
	t.Logf("flood: %d failures in %v (%.0f/s) by %d clients: %d write transactions (%.1f/s), %d records, file %d KiB; legitimate: %d requests, p50 %v, p99 %v, max %v",
		sent, elapsed.Round(time.Millisecond), float64(sent)/elapsed.Seconds(), attackers, flushes, txPerSecond, len(recs), fi.Size()>>10,
		len(latencies), p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), latencies[len(latencies)-1].Round(100*time.Microsecond))
}
