package app

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
	"github.com/ulule/limiter/v3"
	"github.com/ulule/limiter/v3/drivers/store/memory"
)

// Rate limits: one per client IP on every request, and a strict one on
// login and register, counted separately per client IP and per email, so
// that one address cannot lock out every account and many addresses cannot
// guess one account's password.
//
// Our own middleware calls Limiter.Get: limiter's stdlib middleware panics
// on store errors, answers in plain text and takes its key from headers a
// client controls.

// Reasons recorded in the auth-failure log for a 429.
const (
	reasonRateLimited      = "rate_limited"
	reasonLoginLimitIP     = "login_rate_limited_ip"
	reasonLoginLimitEmail  = "login_rate_limited_email"
	ctxLoginAttemptCounted = "gatehouse.login_attempt_counted"
)

// rateLimits holds the limiters. Without Redis they use limiter's memory
// store: counters live in this process, which is right for a server that
// owns its bbolt file alone. With Redis (ratestore.go) every instance
// counts in it, and in memory while it is down.
type rateLimits struct {
	api   *limiter.Limiter
	login *limiter.Limiter
	// redis is the shared counters' connection, nil without Redis; batched
	// counts the general limit in front of it (ratebatch.go).
	redis   *redisCounters
	batched *batchedStore
	// apiLimitValue is the header value of the general limit; lastReset
	// the last X-RateLimit-Reset value made (resetValue).
	apiLimitValue []string
	lastReset     atomic.Pointer[sharedValue]
}

// close adds the counts still pending to Redis and releases the
// connection, if any.
func (l *rateLimits) close() {
	if l.redis != nil {
		l.batched.close()
		l.redis.client.Close()
	}
}

func newRateLimits(log *slog.Logger, apiRate, loginRate, redisURL string) (*rateLimits, error) {
	ar, err := parseRate(apiRate)
	if err != nil {
		return nil, fmt.Errorf("app: rate limit: %w", err)
	}
	lr, err := parseRate(loginRate)
	if err != nil {
		return nil, fmt.Errorf("app: login rate limit: %w", err)
	}
	l := &rateLimits{apiLimitValue: []string{strconv.FormatInt(ar.Limit, 10)}}
	if redisURL != "" {
		if l.redis, err = newRedisCounters(log, redisURL); err != nil {
			return nil, err
		}
	}
	if l.redis != nil {
		l.batched = newBatchedStore(l.redis.store("api"), batchEvery)
		l.api, l.login = limiter.New(l.batched, ar), limiter.New(l.redis.store("login"), lr)
		return l, nil
	}
	mk := func(prefix string, r limiter.Rate) *limiter.Limiter {
		st := memory.NewStoreWithOptions(limiter.StoreOptions{Prefix: prefix, CleanUpInterval: limiter.DefaultCleanUpInterval})
		return limiter.New(st, r)
	}
	l.api, l.login = mk("api", ar), mk("login", lr)
	return l, nil
}

func parseRate(v string) (limiter.Rate, error) {
	r, err := limiter.NewRateFromFormatted(v)
	if err != nil || r.Limit <= 0 {
		return r, fmt.Errorf("%q is not a rate like 600-M (requests per S, M, H or D)", v)
	}
	return r, nil
}

// rateKey is the rate-limit key of a client address: the address itself
// for IPv4, its /64 for IPv6, since one subscriber usually holds a whole
// /64 and could otherwise take a fresh key for every request.
func rateKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// emailKey is the rate-limit key of an email: a hash of its normalized
// form, so that the limiter neither keeps addresses in memory nor grows
// with the length of what a client sends.
func emailKey(email string) string {
	sum := sha256.Sum256([]byte(store.NormalizeEmail(email)))
	return "email:" + hex.EncodeToString(sum[:16])
}

// limitRate counts every request against its client's per-IP limit and
// sets the X-RateLimit headers.
//
// A limiter store error fails open here: the general limit protects
// capacity, and refusing every request because the counter store is down
// would turn its outage into ours. (The memory store never fails; a Redis
// store can.) The login limit fails closed instead: see limitLogin.
func (s *Server) limitRate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		lc, err := s.limits.api.Get(c.Request().Context(), "ip:"+rateKey(c.RealIP()))
		if err != nil {
			s.log.Error("rate limiter failed; letting the request through", "request_id", requestID(c), "error", err.Error())
			return next(c)
		}
		if err := s.applyLimit(c, lc, reasonRateLimited); err != nil {
			return err
		}
		return next(c)
	}
}

// peekRate sets the X-RateLimit headers of the client's per-IP limit
// without counting the request (for CORS preflights, which do no work).
func (s *Server) peekRate(c echo.Context) {
	lc, err := s.limits.api.Peek(c.Request().Context(), "ip:"+rateKey(c.RealIP()))
	if err == nil {
		s.showLimit(c, lc)
	}
}

// limitLogin counts a login or register attempt against the strict limit:
// first per client IP, then, only if the address is within its limit, per
// email, so that a blocked address cannot go on using up other people's
// attempts. Every attempt counts, whatever its outcome: counting only
// failures would let parallel guesses race past the check.
//
// A limiter store error fails closed: this limit is what stands between a
// password list and an account, so without it we refuse (503) rather than
// let guesses through unbounded.
func (s *Server) limitLogin(c echo.Context, email string) error {
	c.Set(ctxLoginAttemptCounted, true)
	if err := s.countLogin(c, "ip:"+rateKey(c.RealIP()), reasonLoginLimitIP); err != nil {
		return err
	}
	return s.countLogin(c, emailKey(email), reasonLoginLimitEmail)
}

// countOTPAttempt counts a proof checked outside a login (the code or
// password that turns the second factor on or off) against the login limit
// of the user's email, so that a stolen session cannot guess codes or
// passwords faster than a login could. A login has counted its attempt
// already.
func (s *Server) countOTPAttempt(c echo.Context, email string) error {
	if counted, _ := c.Get(ctxLoginAttemptCounted).(bool); counted {
		return nil
	}
	return s.countLogin(c, emailKey(email), reasonLoginLimitEmail)
}

var errLimiterDown = apiError(http.StatusServiceUnavailable, api.CodeUnavailable, "signing in is unavailable for a moment: try again soon")

func (s *Server) countLogin(c echo.Context, key, reason string) error {
	lc, err := s.limits.login.Get(c.Request().Context(), key)
	if err != nil {
		s.log.Error("login rate limiter failed; refusing the attempt", "request_id", requestID(c), "error", err.Error())
		return errLimiterDown
	}
	return s.applyLimit(c, lc, reason)
}

// applyLimit shows lc in the headers (the tightest limit the request met
// wins) and refuses the request with 429 when lc is reached.
func (s *Server) applyLimit(c echo.Context, lc limiter.Context, reason string) error {
	s.showLimit(c, lc)
	if !lc.Reached {
		return nil
	}
	retry := max(lc.Reset-time.Now().Unix()+1, 1) // Reset is truncated to the second: round up
	c.Response().Header().Set("Retry-After", strconv.FormatInt(retry, 10))
	c.Set(ctxFailReason, reason)
	return apiError(http.StatusTooManyRequests, api.CodeRateLimited,
		fmt.Sprintf("too many requests: try again in %d seconds", retry))
}

// showLimit sets X-RateLimit-Limit, -Remaining and -Reset (a Unix time in
// seconds) from lc, unless a tighter limit is shown already.
func (s *Server) showLimit(c echo.Context, lc limiter.Context) {
	// Assigned under their canonical names, what Header.Set would store:
	// Set would canonicalize (and allocate) each name on every request.
	h := c.Response().Header()
	if shown := h["X-Ratelimit-Remaining"]; len(shown) == 1 {
		if n, err := strconv.ParseInt(shown[0], 10, 64); err == nil && n < lc.Remaining {
			return
		}
	}
	h["X-Ratelimit-Limit"] = s.limitValue(lc.Limit)
	h["X-Ratelimit-Remaining"] = []string{strconv.FormatInt(lc.Remaining, 10)}
	h["X-Ratelimit-Reset"] = s.limits.resetValue(lc.Reset)
}

// resetValue is the X-RateLimit-Reset value of reset: the last one made is
// kept and shared (never changed in place), since a client's window, and
// often many clients' windows, end in the same second.
func (l *rateLimits) resetValue(reset int64) []string {
	if v := l.lastReset.Load(); v != nil && v.reset == reset {
		return v.value
	}
	v := &sharedValue{reset, []string{strconv.FormatInt(reset, 10)}}
	l.lastReset.Store(v)
	return v.value
}

// sharedValue is a header value made for reset.
type sharedValue struct {
	reset int64
	value []string
}

// limitValue is the X-RateLimit-Limit value of limit: the general limit's
// is made once and shared by every answer (never changed in place).
func (s *Server) limitValue(limit int64) []string {
	if limit == s.limits.api.Rate.Limit {
		return s.limits.apiLimitValue
	}
	return []string{strconv.FormatInt(limit, 10)}
}
