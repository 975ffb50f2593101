package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app"
	"github.com/gatehouse/gatehouse/idp"
	"github.com/ulule/limiter/v3"
)

// serveConfig is what `gatehouse serve` runs with.
type serveConfig struct {
	app.Config
	DB            string
	DatabaseURL   string
	Model         string
	Policy        string
	AdminEmail    string
	AdminPassword string
}

// setting is one configuration value: a flag, its GATEHOUSE_ variable and
// a parser that stores it and says what is wrong with a bad value.
type setting struct {
	flag, env, def, usage string
	set                   func(string) error
}

func serveSettings(c *serveConfig) []setting {
	str := func(p *string) func(string) error { return func(v string) error { *p = v; return nil } }
	return []setting{
		{"addr", "GATEHOUSE_ADDR", "127.0.0.1:8080", "listen address", str(&c.Addr)},
		{"db", "GATEHOUSE_DB", "data/gatehouse.db", "bbolt database file (its folder is created)", str(&c.DB)},
		{"database-url", "GATEHOUSE_DATABASE_URL", "", "a postgres:// URL: the store is that PostgreSQL database instead of the bbolt file", func(v string) error {
			if v != "" && !isDatabaseURL(v) {
				return errors.New("want a postgres:// or postgresql:// URL")
			}
			c.DatabaseURL = v
			return nil
		}},
		{"redis-url", "GATEHOUSE_REDIS_URL", "", "a redis:// URL: rate-limit counters shared by every instance (memory while it is down)", func(v string) error {
			if v != "" && !strings.HasPrefix(v, "redis://") && !strings.HasPrefix(v, "rediss://") && !strings.HasPrefix(v, "unix://") {
				return errors.New("want a redis://, rediss:// or unix:// URL")
			}
			c.RedisURL = v
			return nil
		}},
		{"model", "GATEHOUSE_MODEL", "model.conf", "Casbin model", str(&c.Model)},
		{"policy", "GATEHOUSE_POLICY", "policy.csv", "seed policy, loaded only into a database without one", str(&c.Policy)},
		{"admin-email", "GATEHOUSE_ADMIN_EMAIL", "admin@localhost", "first admin, created only in a database without users", str(&c.AdminEmail)},
		{"", "GATEHOUSE_ADMIN_PASSWORD", "", "first admin's password (random and printed once when empty)", str(&c.AdminPassword)},
		{"rate-limit", "GATEHOUSE_RATE_LIMIT", "600-M", "requests per client IP, as N-S, N-M, N-H or N-D", func(v string) error {
			_, err := parseRate(v)
			c.RateLimit = v
			return err
		}},
		{"login-rate-limit", "GATEHOUSE_LOGIN_RATE_LIMIT", "10-M", "login and register attempts per client IP and per email", func(v string) error {
			_, err := parseRate(v)
			c.LoginRateLimit = v
			return err
		}},
		{"trusted-proxies", "GATEHOUSE_TRUSTED_PROXIES", "", "comma-separated CIDRs whose X-Forwarded-For is believed", func(v string) (err error) {
			c.TrustedProxies, err = parsePrefixes(v)
			return err
		}},
		{"cookie-secure", "GATEHOUSE_COOKIE_SECURE", "true", "Secure flag on cookies (and HSTS)", func(v string) (err error) {
			c.CookieSecure, err = parseBool(v)
			return err
		}},
		{"cookie-samesite", "GATEHOUSE_COOKIE_SAMESITE", "strict", "SameSite of the session and CSRF cookies: strict or lax", func(v string) (err error) {
			c.CookieSameSite, err = parseSameSite(v)
			return err
		}},
		{"cors-origins", "GATEHOUSE_CORS_ORIGINS", "", "comma-separated browser origins allowed to call the API", func(v string) (err error) {
			c.CORSOrigins, err = parseOrigins(v)
			return err
		}},
		{"body-limit", "GATEHOUSE_BODY_LIMIT", "1M", "largest request body (K, M suffixes)", func(v string) (err error) {
			c.BodyLimit, err = parseSize(v)
			return err
		}},
		{"session-ttl", "GATEHOUSE_SESSION_TTL", "24h", "session lifetime", func(v string) (err error) {
			c.SessionTTL, err = parsePositiveDuration(v)
			return err
		}},
		{"allow-registration", "GATEHOUSE_ALLOW_REGISTRATION", "true", "whether POST /api/auth/register is open", func(v string) (err error) {
			c.AllowRegistration, err = parseBool(v)
			return err
		}},
		{"failure-retention", "GATEHOUSE_FAILURE_RETENTION", "720h", "how long auth-failure records are kept", func(v string) (err error) {
			c.FailureRetention, err = parsePositiveDuration(v)
			return err
		}},
		{"failure-max-records", "GATEHOUSE_FAILURE_MAX_RECORDS", "50000", "most auth-failure records kept (the oldest go first)", func(v string) (err error) {
			c.FailureMaxRecords, err = parseCount(v, 10_000_000)
			return err
		}},
		{"shutdown-timeout", "GATEHOUSE_SHUTDOWN_TIMEOUT", "10s", "how long in-flight requests may take to finish on shutdown", func(v string) (err error) {
			c.ShutdownTimeout, err = parsePositiveDuration(v)
			return err
		}},
		{"read-header-timeout", "GATEHOUSE_READ_HEADER_TIMEOUT", "5s", "how long a client may take to send the request headers", func(v string) (err error) {
			c.ReadHeaderTimeout, err = parsePositiveDuration(v)
			return err
		}},
		{"read-timeout", "GATEHOUSE_READ_TIMEOUT", "30s", "how long a client may take to send a whole request, body included", func(v string) (err error) {
			c.ReadTimeout, err = parsePositiveDuration(v)
			return err
		}},
		{"write-timeout", "GATEHOUSE_WRITE_TIMEOUT", "60s", "how long an answer may take to write (event streams extend theirs)", func(v string) (err error) {
			c.WriteTimeout, err = parsePositiveDuration(v)
			return err
		}},
		{"idle-timeout", "GATEHOUSE_IDLE_TIMEOUT", "120s", "how long a keep-alive connection may wait for its next request", func(v string) (err error) {
			c.IdleTimeout, err = parsePositiveDuration(v)
			return err
		}},
		{"oidc-issuer", "GATEHOUSE_OIDC_ISSUER", "", "OpenID Connect provider whose tokens are credentials (its issuer URL; empty: none)", func(v string) error {
			c.OIDC.Issuer = strings.TrimSpace(v)
			if c.OIDC.Issuer == "" {
				return nil
			}
			return idp.CheckIssuer(c.OIDC.Issuer)
		}},
		{"oidc-audience", "GATEHOUSE_OIDC_AUDIENCE", "", "audience the provider's tokens must name (this API's identifier or client id)", str(&c.OIDC.Audience)},
		{"oidc-groups-claim", "GATEHOUSE_OIDC_GROUPS_CLAIM", "groups", "claim of the provider's tokens holding the caller's groups (a dotted path: realm_access.roles)", func(v string) error {
			c.OIDC.GroupsClaim = v
			return idp.CheckClaimPath(v)
		}},
		{"oidc-email-claim", "GATEHOUSE_OIDC_EMAIL_CLAIM", "email", "claim of the provider's tokens holding the email of a user made on first use", func(v string) error {
			c.OIDC.EmailClaim = v
			return idp.CheckClaimPath(v)
		}},
		{"oidc-reauth-max-age", "GATEHOUSE_OIDC_REAUTH_MAX_AGE", "5m", "how recent a provider sign-in must be to stand in for a linked user's password", func(v string) (err error) {
			c.OIDCReauthMaxAge, err = parsePositiveDuration(v)
			return err
		}},
	}
}

// checkOIDC checks the provider settings together: an issuer needs an
// audience, and an audience alone is a mistake.
func (c *serveConfig) checkOIDC() error {
	switch {
	case c.OIDC.Issuer != "" && strings.TrimSpace(c.OIDC.Audience) == "":
		return errors.New("GATEHOUSE_OIDC_AUDIENCE: required with GATEHOUSE_OIDC_ISSUER (the audience the provider puts in tokens for this API)")
	case c.OIDC.Issuer == "" && c.OIDC.Audience != "":
		return errors.New("GATEHOUSE_OIDC_ISSUER: required with GATEHOUSE_OIDC_AUDIENCE (the provider's issuer URL)")
	}
	return nil
}

// parseSettings applies defaults, then the environment, then flags: flags
// win. A bad value is one line naming where it came from and what is wrong.
func parseSettings(name string, settings []setting, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("gatehouse "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	given := map[string]*string{}
	for _, s := range settings {
		if s.flag == "" {
			continue
		}
		v := new(string)
		given[s.flag] = v
		fs.StringVar(v, s.flag, "", fmt.Sprintf("%s (env %s, default %q)", s.usage, s.env, s.def))
	}
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, s := range settings {
		value, source := s.def, "default of "+s.env
		if v := getenv(s.env); v != "" {
			value, source = v, s.env
		}
		if s.flag != "" && set[s.flag] {
			value, source = *given[s.flag], "--"+s.flag
		}
		if err := s.set(value); err != nil {
			return fmt.Errorf("%s: %q %v", source, value, err)
		}
	}
	return nil
}

// errUsage means the flag package already printed what was wrong.
var errUsage = errors.New("usage")

func parseRate(v string) (limiter.Rate, error) {
	r, err := limiter.NewRateFromFormatted(v)
	if err != nil || r.Limit <= 0 {
		return r, errors.New("is not a rate like 600-M (requests per S, M, H or D)")
	}
	return r, nil
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("is not true or false")
	}
	return b, nil
}

func parseSameSite(v string) (http.SameSite, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "strict":
		return http.SameSiteStrictMode, nil
	case "lax":
		return http.SameSiteLaxMode, nil
	}
	return 0, errors.New("is not strict or lax")
}

func parsePositiveDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("is not a positive duration like 24h or 30m")
	}
	return d, nil
}

func parseCount(v string, most int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > most {
		return 0, fmt.Errorf("is not a whole number from 1 to %d", most)
	}
	return n, nil
}

func parseSize(v string) (int64, error) {
	mult := int64(1)
	num := strings.ToUpper(strings.TrimSpace(v))
	switch {
	case strings.HasSuffix(num, "K"):
		mult, num = 1<<10, strings.TrimSuffix(num, "K")
	case strings.HasSuffix(num, "M"):
		mult, num = 1<<20, strings.TrimSuffix(num, "M")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (64<<20)/mult {
		return 0, errors.New("is not a size from 1 to 64M, like 512K or 1M")
	}
	return n * mult, nil
}

func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(v) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("has %q, which is not a CIDR like 10.0.0.0/8 or an IP", s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func parseOrigins(v string) ([]string, error) {
	var out []string
	for _, s := range splitList(v) {
		if s == "*" {
			return nil, errors.New("may not be *: list the origins, credentials are never shared with any origin")
		}
		if !strings.HasPrefix(s, "http://") && !strings.HasPrefix(s, "https://") || strings.Count(s, "/") != 2 {
			return nil, fmt.Errorf("has %q, which is not an origin like https://app.example.com", s)
		}
		out = append(out, s)
	}
	return out, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
