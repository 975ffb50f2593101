package app

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ulule/limiter/v3"
)

// The general limit of several instances, counted without a Redis round
// trip per request: each instance counts in memory and adds what it
// counted to the shared counter of each key at most batchEvery later. A
// request is decided on the deployment's count as of the last exchange
// plus what this instance counted since, so one instance refuses as soon
// as its own traffic alone is over the limit, and the others' traffic
// reaches every instance within batchEvery. Every request is counted once
// in Redis; what the batching allows is that, for batchEvery, a client
// spreading its requests over several instances gets up to what each of
// the others let through meanwhile beyond the limit. The login limit is
// not batched: it guards passwords, and counts in Redis on every attempt.

// batchEvery is how long an instance's counts wait before they are added
// to the shared counters.
const batchEvery = 50 * time.Millisecond

// batchedStore is a limiter.Store counting in memory in front of a shared
// one (fallbackStore: Redis, or memory while Redis is down).
type batchedStore struct {
	shared limiter.Store
	// every is how often counts are exchanged: batchEvery (tests exchange
	// by hand).
	every time.Duration

	mu   sync.Mutex
	keys map[string]*batchedKey

	flushing atomic.Bool
	last     atomic.Int64 // when the last exchange started, Unix nanoseconds
	wg       sync.WaitGroup
}

// batchedKey is one key's count: the deployment's as of the last exchange
// (base, in the window ending at reset) and this instance's since
// (pending).
type batchedKey struct {
	rate    limiter.Rate
	base    int64
	pending int64
	reset   time.Time
}

func newBatchedStore(shared limiter.Store, every time.Duration) *batchedStore {
	b := &batchedStore{shared: shared, every: every, keys: map[string]*batchedKey{}}
	b.last.Store(time.Now().UnixNano())
	return b
}

// context is what the limiter answers for a count.
func (k *batchedKey) context() limiter.Context {
	count := k.base + k.pending
	return limiter.Context{Limit: k.rate.Limit, Remaining: max(k.rate.Limit-count, 0), Reset: k.reset.Unix(), Reached: count > k.rate.Limit}
}

// Get counts one request of key. A key this instance does not know yet in
// its window is counted in the shared store at once, which tells its count
// and window; the next ones are counted here and exchanged later.
func (b *batchedStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	now := time.Now()
	b.mu.Lock()
	k := b.keys[key]
	if k != nil && now.Before(k.reset) {
		k.pending++
		lc := k.context()
		b.mu.Unlock()
		b.maybeFlush(now)
		return lc, nil
	}
	b.mu.Unlock()
	lc, err := b.shared.Get(ctx, key, rate)
	if err != nil {
		return lc, err
	}
	b.mu.Lock()
	if k := b.keys[key]; k == nil || !now.Before(k.reset) {
		fresh := &batchedKey{rate: rate, base: rate.Limit - lc.Remaining, reset: time.Unix(lc.Reset, 0)}
		if k != nil {
			// Counted here but not sent yet: they go with the next
			// exchange (Reset is in whole seconds, so a window may
			// seem over here before it is in Redis).
			fresh.pending = k.pending
		}
		b.keys[key] = fresh
	}
	b.mu.Unlock()
	b.maybeFlush(now)
	return lc, nil
}

// maybeFlush starts an exchange when the last one is batchEvery old and
// none is running.
func (b *batchedStore) maybeFlush(now time.Time) {
	if now.UnixNano()-b.last.Load() < int64(b.every) || !b.flushing.CompareAndSwap(false, true) {
		return
	}
	b.last.Store(now.UnixNano())
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer b.flushing.Store(false)
		b.flush(context.Background())
	}()
}

// flush adds every key's pending count to the shared counter and takes the
// deployment's count back; keys whose window ended are forgotten.
func (b *batchedStore) flush(ctx context.Context) {
	type send struct {
		key   string
		count int64
		rate  limiter.Rate
	}
	now := time.Now()
	var sends []send
	b.mu.Lock()
	for key, k := range b.keys {
		switch {
		case k.pending > 0:
			sends = append(sends, send{key, k.pending, k.rate})
		case !now.Before(k.reset):
			delete(b.keys, key)
		}
	}
	b.mu.Unlock()
	for _, s := range sends {
		lc, err := b.shared.Increment(ctx, s.key, s.count, s.rate)
		b.mu.Lock()
		if k := b.keys[s.key]; k != nil {
			k.pending -= s.count
			if err == nil {
				k.base, k.reset = s.rate.Limit-lc.Remaining, time.Unix(lc.Reset, 0)
			}
		}
		b.mu.Unlock()
	}
}

// close adds what is still pending to the shared counters.
func (b *batchedStore) close() {
	b.wg.Wait()
	b.flush(context.Background())
}

// Peek answers from this instance's count when it has one.
func (b *batchedStore) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	b.mu.Lock()
	if k := b.keys[key]; k != nil && time.Now().Before(k.reset) {
		lc := k.context()
		b.mu.Unlock()
		return lc, nil
	}
	b.mu.Unlock()
	return b.shared.Peek(ctx, key, rate)
}

// Reset and Increment go to the shared store (an increment with what this
// instance counted meanwhile); this instance forgets the key, so that its
// next request learns the count again.
func (b *batchedStore) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	b.forget(key)
	return b.shared.Reset(ctx, key, rate)
}

func (b *batchedStore) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	return b.shared.Increment(ctx, key, count+b.forget(key), rate)
}

// forget drops key and returns what was pending for it.
func (b *batchedStore) forget(key string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	var pending int64
	if k := b.keys[key]; k != nil {
		pending = k.pending
	}
	delete(b.keys, key)
	return pending
}
