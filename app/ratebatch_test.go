package app

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/redistest"
	"github.com/ulule/limiter/v3"
)

// TestBatchedCountsAddUp: two instances' general limits on one Redis
// (batchedStore over fallbackStore, as newRateLimits builds them). Each
// counts its own requests at once and refuses as soon as its own are over
// the limit; after an exchange, the shared counter holds every request of
// both, and each instance decides on the others' counts too.
func TestBatchedCountsAddUp(t *testing.T) {
	t.Parallel()
	redis := redistest.New(t)
	ctx := context.Background()
	rate := limiter.Rate{Period: time.Minute, Limit: 10}
	instance := func() *batchedStore {
		rc, err := newRedisCounters(slog.New(slog.NewTextHandler(io.Discard, nil)), redis.URL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rc.client.Close() })
		return newBatchedStore(rc.store("api"), time.Hour) // exchanged by hand
	}
	a, b := instance(), instance()
	get := func(s *batchedStore, key string) limiter.Context {
		t.Helper()
		lc, err := s.Get(ctx, key, rate)
		if err != nil {
			t.Fatal(err)
		}
		return lc
	}
	// The first request of a key is counted in Redis; the next ones here.
	for i := range 3 {
		if lc := get(a, "ip:one"); lc.Remaining != int64(10-1-i) || lc.Reached {
			t.Fatalf("a's request %d: %+v", i+1, lc)
		}
	}
	if lc := get(b, "ip:one"); lc.Remaining != 10-2 {
		t.Fatalf("b's first request sees %+v, want a's first one counted (remaining 8)", lc)
	}
	get(b, "ip:one")
	a.wg.Wait()
	b.wg.Wait()
	a.flush(ctx)
	b.flush(ctx)
	shared, err := a.shared.Peek(ctx, "ip:one", rate)
	if err != nil || shared.Remaining != 10-5 {
		t.Fatalf("Redis after the exchange: %+v, %v; want the 5 requests counted", shared, err)
	}
	// a learns b's counts at its next exchange.
	get(a, "ip:one")
	a.wg.Wait()
	a.flush(ctx)
	if lc := get(a, "ip:one"); lc.Remaining != 10-7 {
		t.Fatalf("a after exchanging: %+v, want 7 counted", lc)
	}
	// An instance alone over the limit refuses without waiting for any
	// exchange.
	for i := range 10 {
		lc := get(a, "ip:two")
		if lc.Reached {
			t.Fatalf("request %d refused: %+v", i+1, lc)
		}
	}
	if lc := get(a, "ip:two"); !lc.Reached || lc.Remaining != 0 {
		t.Fatalf("the 11th request: %+v, want refused", lc)
	}
	// What is pending when an instance stops is added on close.
	get(b, "ip:three")
	get(b, "ip:three")
	b.close()
	if shared, err := b.shared.Peek(ctx, "ip:three", rate); err != nil || shared.Remaining != 10-2 {
		t.Fatalf("Redis after b closed: %+v, %v; want 2 counted", shared, err)
	}
}

// TestBatchedKeysEndWithTheirWindow: a key whose window ended is
// forgotten at the next exchange, so the instance holds only live keys,
// and its next request starts a new window.
func TestBatchedKeysEndWithTheirWindow(t *testing.T) {
	t.Parallel()
	redis := redistest.New(t)
	ctx := context.Background()
	rc, err := newRedisCounters(slog.New(slog.NewTextHandler(io.Discard, nil)), redis.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.client.Close()
	s := newBatchedStore(rc.store("api"), time.Hour) // exchanged by hand
	rate := limiter.Rate{Period: time.Second, Limit: 2}
	for range 3 {
		if _, err := s.Get(ctx, "ip:short", rate); err != nil {
			t.Fatal(err)
		}
	}
	s.wg.Wait()
	s.flush(ctx) // sends the pending counts
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.flush(ctx)
		s.mu.Lock()
		n := len(s.keys)
		s.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d keys still held 10s after a window of 1s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Redis's window ends within a second of the Reset it tells (whole
	// seconds): the first request it lets through opens the new window.
	deadline = time.Now().Add(10 * time.Second)
	for {
		lc, err := s.Get(ctx, "ip:short", rate)
		if err != nil {
			t.Fatal(err)
		}
		if !lc.Reached {
			if lc.Remaining != 1 {
				t.Fatalf("first request of the next window: %+v", lc)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused 10s after a window of 1s: %+v", lc)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
