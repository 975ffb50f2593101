package app

import (
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
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// CookieSecure sets the Secure flag on cookies (and turns on HSTS).
	CookieSecure bool
	// CORSOrigins are the browser origins allowed to call the API.
	CORSOrigins []string
	// BodyLimit is the largest request body in bytes.
	BodyLimit int64
	// SessionTTL is how long a login session lasts.
	SessionTTL time.Duration
	// AllowRegistration opens POST /api/auth/register.
	AllowRegistration bool
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// on shutdown.
	ShutdownTimeout time.Duration
	// FailureRetention is how long auth-failure records are kept (zero:
	// no age limit); FailureMaxRecords how many at most (oldest go first).
	FailureRetention  time.Duration
	FailureMaxRecords int
	// StreamHeartbeat is how often an idle auth-failure stream sends a
	// comment line, so that proxies keep it open.
	StreamHeartbeat time.Duration
	// HashConcurrency bounds how many password hashes run at once; each
	// takes about 19 MiB. Zero means twice the number of CPUs.
	HashConcurrency int
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
		BodyLimit:         1 << 20,
		SessionTTL:        24 * time.Hour,
		AllowRegistration: true,
		ShutdownTimeout:   10 * time.Second,
		FailureRetention:  30 * 24 * time.Hour,
		FailureMaxRecords: 50000,
		StreamHeartbeat:   15 * time.Second,
	}
}
