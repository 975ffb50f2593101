// Package app is gatehouse's HTTP API: the Echo server, its routes in one
// place, the middleware that authenticates, authorizes and defends every
// request, the handlers, and the one error handler.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/access"
	"github.com/gatehouse/gatehouse/idp"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Server is the gatehouse API.
type Server struct {
	log   *slog.Logger
	cfg   Config
	db    store.Store
	authz *rbac.Authorizer
	echo  *echo.Echo
	// access runs the business operations the handlers call.
	access *access.Service
	// shared is set when other processes write the store too (it keeps a
	// policy log): then a request without credentials also catches the
	// policy up before it is decided.
	shared bool
	// crossOrigin refuses cross-site browser requests (Sec-Fetch-Site,
	// Origin against Host, plus the allowed CORS origins).
	crossOrigin *http.CrossOriginProtection
	now         func() time.Time
	// routes is the table every route is registered from; see routes.go.
	routes []route
	// routeIndex finds a route of the table by method and template.
	routeIndex map[routeKey]*route
	// headers are the security headers of every answer; requestIDs make
	// the requests' ids (middleware.go).
	headers    []header
	requestIDs *requestIDs
	// closing is closed when shutdown starts, ending long-lived streams.
	closing   chan struct{}
	closeOnce sync.Once
	// limits are the rate limiters (ratelimit.go).
	limits *rateLimits
	// failures is the auth-failure log and its streams (failures.go).
	failures *failureLog
	// provider verifies the tokens of the OpenID Connect provider; nil
	// when none is configured (provider.go).
	provider *idp.Verifier
}

// NewServer builds the API over an open database and authorizer.
func NewServer(log *slog.Logger, cfg Config, db store.Store, authz *rbac.Authorizer) (*Server, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	// The server's own copy: the caller may reuse its slice.
	cfg.CORSOrigins = slices.Clone(cfg.CORSOrigins)
	if cfg.FailureMaxRecords <= 0 {
		cfg.FailureMaxRecords = DefaultConfig().FailureMaxRecords
	}
	if cfg.StreamHeartbeat <= 0 {
		cfg.StreamHeartbeat = DefaultConfig().StreamHeartbeat
	}
	sameSite, err := checkSameSite(cfg.CookieSameSite)
	if err != nil {
		return nil, err
	}
	cfg.CookieSameSite = sameSite
	limits, err := newRateLimits(log, cfg.RateLimit, cfg.LoginRateLimit, cfg.RedisURL)
	if err != nil {
		return nil, err
	}
	svc, err := access.New(db, authz, access.Config{HashConcurrency: cfg.HashConcurrency, Now: cfg.Now})
	if err != nil {
		return nil, err
	}
	s := &Server{
		log:     log,
		cfg:     cfg,
		db:      db,
		authz:   authz,
		access:  svc,
		now:     cfg.Now,
		closing: make(chan struct{}),
		limits:  limits,
	}
	if db != nil {
		// Asked once: does the store keep a policy log (several processes)?
		_ = db.View(context.Background(), func(tx store.Tx) error {
			_, s.shared = tx.(store.PolicyLog)
			return nil
		})
	}
	s.failures = newFailureLog(s)
	if cfg.OIDC.Issuer != "" {
		pc := cfg.OIDC
		pc.Now = cfg.Now
		if s.provider, err = idp.New(pc); err != nil {
			return nil, fmt.Errorf("app: OpenID Connect provider: %w", err)
		}
	}
	s.crossOrigin = http.NewCrossOriginProtection()
	for _, o := range cfg.CORSOrigins {
		if err := s.crossOrigin.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("app: CORS origin %q: %w", o, err)
		}
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.handleError
	// The client IP is the peer address unless the peer is a trusted proxy:
	// Echo would otherwise believe any X-Forwarded-For a client sends.
	e.IPExtractor = s.clientIP
	s.echo = e
	s.registerRoutes()
	keys := make([][2]string, len(s.routes))
	for i, r := range s.routes {
		keys[i] = [2]string{r.method, r.path}
	}
	authz.SetRoutes(keys)
	return s, nil
}

// Access is the service that runs the business operations of this server,
// for tools and tests that act as the server would.
func (s *Server) Access() *access.Service { return s.access }

// ServeHTTP makes the server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.echo.ServeHTTP(w, r) }

// HTTPServer wraps the API in an http.Server with timeouts set, so that
// slow or idle clients cannot hold connections forever.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Addr:              s.cfg.Addr,
		Handler:           s,
		ReadHeaderTimeout: orDefault(s.cfg.ReadHeaderTimeout, defaultReadHeaderTimeout),
		ReadTimeout:       orDefault(s.cfg.ReadTimeout, defaultReadTimeout),
		WriteTimeout:      orDefault(s.cfg.WriteTimeout, defaultWriteTimeout),
		IdleTimeout:       orDefault(s.cfg.IdleTimeout, defaultIdleTimeout),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// ErrShutdownTimeout means requests were still running when the shutdown
// deadline passed, and their connections were cut.
var ErrShutdownTimeout = errors.New("requests still running at the shutdown deadline were cut off")

// Serve answers requests on l until ctx ends, then shuts down gracefully:
// it stops accepting (new connections are refused), ends streams, and
// waits up to ShutdownTimeout for in-flight requests to finish. Past the
// deadline it closes the remaining connections and returns
// ErrShutdownTimeout. When Serve returns, every goroutine it started has
// ended, so the caller may close the database.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	srv := s.HTTPServer()
	// Requests keep running when ctx ends: shutdown lets them finish.
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	// The auth-failure writer runs as long as the server, and stops after
	// it: its last flush stores what the last requests noted.
	s.failures.start()
	defer s.failures.stop()
	defer s.limits.close() // after the last request has been counted
	var wg sync.WaitGroup
	defer wg.Wait()
	errc := make(chan error, 1)
	wg.Go(func() { errc <- srv.Serve(l) })
	sweepCtx, stopSweep := context.WithCancel(ctx)
	defer stopSweep()
	wg.Go(func() { s.sweepSessions(sweepCtx) })
	if s.provider != nil {
		wg.Go(func() { s.discoverProvider(sweepCtx) })
	}
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("app: serve: %w", err)
	case <-ctx.Done():
	}
	timeout := orDefault(s.cfg.ShutdownTimeout, defaultShutdownTimeout)
	s.log.Info("shutting down", "timeout", timeout.String())
	s.Close()
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Error("shutdown deadline passed: closing the connections still open", "timeout", timeout.String())
		_ = srv.Close()
		<-errc
		return fmt.Errorf("app: shutdown after %s: %w", timeout, ErrShutdownTimeout)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("app: serve: %w", err)
	}
	return nil
}

// Close ends long-lived streams. Serve calls it on shutdown.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
}

// sweepSessions removes expired sessions now and then, so the file does not
// grow with sessions nobody will use again.
func (s *Server) sweepSessions(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.closing:
			return
		case <-t.C:
			err := s.db.Update(ctx, func(tx store.Tx) error {
				_, err := tx.Sessions().DeleteExpired(s.now(), 10000)
				return err
			})
			if err != nil && ctx.Err() == nil {
				s.log.Warn("sweep expired sessions", "error", err.Error())
			}
		}
	}
}
