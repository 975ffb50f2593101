package app

import (
	"fmt"

	"github.com/gatehouse/gatehouse/idp"
	"net/http"
	"net/netip"
	"time"
)

// Config is everything the server needs to know, already parsed and
// checked. Only cmd/gatehouse reads flags and the environment.
type Config struct {
	// Addr is the listen address.
	Addr string
	// RateLimit is the limit per client IP on all of /api, in limiter's
	// format ("600-M"); LoginRateLimit the stricter one on login and
	// register, per client IP and separately per email.
	RateLimit      string
	LoginRateLimit string
	// RedisURL, when set (redis://...), keeps the rate-limit counters in
	// that Redis, shared by every instance; while it cannot be reached,
	// each instance counts in its own memory.
	RedisURL string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// CookieSecure sets the Secure flag on cookies (and turns on HSTS).
	CookieSecure bool
	// CookieSameSite is the SameSite attribute of the session and CSRF
	// cookies: http.SameSiteStrictMode (the default, also when zero) or
	// http.SameSiteLaxMode. None is not offered: an app on another site
	// signs in for a Bearer token instead.
	CookieSameSite http.SameSite
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string
	// BodyLimit is the largest request body in bytes.
	BodyLimit int64
	// SessionTTL is how long a login session lasts.
	SessionTTL time.Duration
	// AllowRegistration opens POST /api/auth/register.
	AllowRegistration bool
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// on shutdown. Zero means the default.
	ShutdownTimeout time.Duration
	// FailureRetention is how long auth-failure records are kept (zero:
	// no age limit); FailureMaxRecords how many at most (oldest go first).
	FailureRetention  time.Duration
	FailureMaxRecords int
	// StreamHeartbeat is how often an idle auth-failure stream sends a
	// comment line, so that proxies keep it open.
	StreamHeartbeat time.Duration
	// Connection timeouts, so that slow or idle clients cannot hold a
	// connection (a goroutine and a file descriptor) forever. Zero means
	// the default.
	//
	// ReadHeaderTimeout bounds the time to send the request headers
	// (slowloris); ReadTimeout the whole request, body included; WriteTimeout
	// the time from the end of the request headers to the end of the answer
	// (event streams extend it themselves); IdleTimeout how long a keep-alive
	// connection may wait for its next request.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// HashConcurrency bounds how many password hashes run at once; each
	// takes about 19 MiB. Zero means the number of CPUs.
	HashConcurrency int
	// OIDC is the OpenID Connect provider whose tokens are credentials
	// (provider.go); an empty Issuer turns it off. Its Now is the clock
	// above.
	OIDC idp.Config
	// OIDCReauthMaxAge is how recent a provider token's auth_time must be
	// for it to stand in for the password of a linked user (making a
	// personal token, turning the second factor on). Zero means the
	// default, five minutes.
	OIDCReauthMaxAge time.Duration
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
}

// DefaultConfig is the configuration of a fresh clone.
func DefaultConfig() Config {
	return Config{
		Addr:              "127.0.0.1:8080",
		RateLimit:         "600-M",
		LoginRateLimit:    "10-M",
		CookieSecure:      true,
		CookieSameSite:    http.SameSiteStrictMode,
		BodyLimit:         1 << 20,
		SessionTTL:        24 * time.Hour,
		AllowRegistration: true,
		ShutdownTimeout:   defaultShutdownTimeout,
		ReadHeaderTimeout: defaultReadHeaderTimeout,
		ReadTimeout:       defaultReadTimeout,
		WriteTimeout:      defaultWriteTimeout,
		IdleTimeout:       defaultIdleTimeout,
		FailureRetention:  30 * 24 * time.Hour,
		FailureMaxRecords: 50000,
		StreamHeartbeat:   15 * time.Second,
	}
}

// Defaults of the durations in Config.
const (
	defaultShutdownTimeout   = 10 * time.Second
	defaultReadHeaderTimeout = 5 * time.Second
	defaultReadTimeout       = 30 * time.Second
	defaultWriteTimeout      = 60 * time.Second
	defaultIdleTimeout       = 120 * time.Second
	defaultReauthMaxAge      = 5 * time.Minute
)

// orDefault is d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// checkSameSite is mode, or strict when unset; any other mode is an error.
func checkSameSite(mode http.SameSite) (http.SameSite, error) {
	switch mode {
	case 0, http.SameSiteDefaultMode, http.SameSiteStrictMode:
		return http.SameSiteStrictMode, nil
	case http.SameSiteLaxMode:
		return mode, nil
	}
	return 0, fmt.Errorf("app: cookie SameSite mode %d: only strict and lax are offered", mode)
}
