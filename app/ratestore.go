package app

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
	redisstore "github.com/ulule/limiter/v3/drivers/store/redis"
)

// Rate-limit counters shared through Redis by every instance of a
// deployment, with this process's memory as the fallback: a limit must
// hold while Redis is down (the login limit above all), so when Redis
// cannot answer within its short timeouts, the counting goes on in memory,
// per instance, until Redis answers again. Each outage is logged once when
// it starts and once when it ends.

// Redis timeouts: a counter that cannot be read quickly is counted in
// memory instead, so a Redis outage costs each request at most this much.
const (
	redisDialTimeout = 250 * time.Millisecond
	redisIOTimeout   = 250 * time.Millisecond
	// redisRetryEvery is how often Redis is tried again during an outage;
	// meanwhile requests count in memory without waiting on it.
	redisRetryEvery = time.Second
)

// redisCounters is the Redis connection and its health, shared by the
// limiters' stores.
type redisCounters struct {
	log    *slog.Logger
	client *redis.Client

	mu      sync.Mutex
	down    bool      // in an outage (logged once)
	retryAt time.Time // during an outage, when to try Redis again
}

// newRedisCounters connects lazily to the Redis at url: nothing is sent
// until the first request, and start-up succeeds while Redis is down.
func newRedisCounters(log *slog.Logger, url string) (*redisCounters, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("app: Redis URL: %w", err)
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = redisDialTimeout, redisIOTimeout, redisIOTimeout
	opts.MaxRetries = -1 // a failed command falls back at once rather than retrying
	return &redisCounters{log: log, client: redis.NewClient(opts)}, nil
}

// usable reports whether to try Redis now: always when it is up, once per
// redisRetryEvery when it is down.
func (r *redisCounters) usable() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.down || time.Now().After(r.retryAt) {
		r.retryAt = time.Now().Add(redisRetryEvery)
		return true
	}
	return false
}

// result records the outcome of a Redis call, logging the start and the end
// of an outage.
func (r *redisCounters) result(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil && !r.down:
		r.down = true
		r.retryAt = time.Now().Add(redisRetryEvery)
		r.log.Warn("Redis is unreachable: rate limits are counted in this instance's memory until it answers again", "error", err.Error())
	case err == nil && r.down:
		r.down = false
		r.log.Info("Redis answers again: rate limits are counted in Redis")
	}
}

// store returns the counters of one limiter, keys under prefix.
func (r *redisCounters) store(prefix string) limiter.Store {
	return &fallbackStore{redis: r, prefix: prefix,
		memory: memory.NewStoreWithOptions(limiter.StoreOptions{Prefix: prefix, CleanUpInterval: limiter.DefaultCleanUpInterval})}
}

// fallbackStore is a limiter.Store over Redis that counts in memory while
// Redis is unreachable.
type fallbackStore struct {
	redis  *redisCounters
	prefix string
	memory limiter.Store

	mu     sync.Mutex
	shared limiter.Store // limiter's Redis store, made once Redis first answers
}

// sharedStore returns limiter's Redis store, making it on first use (it
// loads its scripts into Redis, so it cannot be made while Redis is down).
func (f *fallbackStore) sharedStore(ctx context.Context) (limiter.Store, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shared != nil {
		return f.shared, nil
	}
	st, err := redisstore.NewStoreWithOptions(f.redis.client, limiter.StoreOptions{Prefix: "gatehouse:" + f.prefix})
	if err != nil {
		return nil, err
	}
	f.shared = st
	return st, nil
}

// do runs op on Redis when it is usable, else (or when it fails) on memory.
func (f *fallbackStore) do(ctx context.Context, op func(limiter.Store) (limiter.Context, error)) (limiter.Context, error) {
	if f.redis.usable() {
		st, err := f.sharedStore(ctx)
		if err == nil {
			var lc limiter.Context
			if lc, err = op(st); err == nil {
				f.redis.result(nil)
				return lc, nil
			}
		}
		f.redis.result(err)
	}
	return op(f.memory)
}

func (f *fallbackStore) Get(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return f.do(ctx, func(st limiter.Store) (limiter.Context, error) { return st.Get(ctx, key, rate) })
}

func (f *fallbackStore) Peek(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return f.do(ctx, func(st limiter.Store) (limiter.Context, error) { return st.Peek(ctx, key, rate) })
}

func (f *fallbackStore) Reset(ctx context.Context, key string, rate limiter.Rate) (limiter.Context, error) {
	return f.do(ctx, func(st limiter.Store) (limiter.Context, error) { return st.Reset(ctx, key, rate) })
}

func (f *fallbackStore) Increment(ctx context.Context, key string, count int64, rate limiter.Rate) (limiter.Context, error) {
	return f.do(ctx, func(st limiter.Store) (limiter.Context, error) { return st.Increment(ctx, key, count, rate) })
}
