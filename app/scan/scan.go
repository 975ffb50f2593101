// Package scan checks a running gatehouse deployment from the outside, as
// its clients see it: through whatever proxy, load balancer or ingress
// stands in front of it. It is an HTTP client only: it never opens the
// store, and it knows the server only through the route inventory it is
// given (or reads from GET /api/admin/routes) and the wire contract of
// app/api.
//
// A scan sends a bounded number of requests (Options.Budget), paced so
// that it stays under the default rate limits, and reports one Check per
// thing it verified: every route of the inventory asked anonymously, a
// few paths outside it, the security headers of every answer, CORS, the
// shape of error answers, unknown methods and HEAD, and (with an email and
// a password) the session cookie, CSRF and the login limit.
package scan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
)

// Defaults of Options.
const (
	// DefaultOrigin is the foreign origin CORS is probed with: the .invalid
	// top-level domain can never be a real site, so no deployment may allow it.
	DefaultOrigin = "https://gatehouse-scan.invalid"
	// DefaultInterval paces the requests: at most 20 a second.
	DefaultInterval = 50 * time.Millisecond
	// DefaultBudget is the most requests a scan may send: half of the
	// default per-IP limit of 600 a minute, so that even unpaced a scan
	// cannot be what exhausts it.
	DefaultBudget = 300
	// DefaultLoginAttempts bounds the wrong-password logins sent to see the
	// login limit answer 429 (the default limit is 10 a minute).
	DefaultLoginAttempts = 25
	// DefaultMaxWait is the longest a scan waits for a rate-limit window to
	// reset when the deployment's limit is tighter than its pace.
	DefaultMaxWait = 65 * time.Second
	// DefaultTimeout bounds each request.
	DefaultTimeout = 10 * time.Second
)

// Options say what to scan and how.
type Options struct {
	// BaseURL is the deployment: "https://api.example.com".
	BaseURL string
	// Inventory is the route table to check. Nil: it is read from
	// GET /api/admin/routes with Token, which is then required.
	Inventory *api.RouteInventory
	// InventorySource names where Inventory came from, for the report.
	InventorySource string
	// Token is an admin token, used only to read the inventory. Every
	// probe of the scan is anonymous.
	Token string
	// Email and Password enable the sign-in checks. They spend the login
	// budget of that email and of the scanning address.
	Email, Password string
	// SignInSkipped says why the sign-in checks do not run when Email is
	// empty ("no --email" when blank).
	SignInSkipped string
	// FrontEnd says a front end is served outside /api at the same origin
	// (README's same-origin setup): / must answer its page, and paths
	// outside /api may answer that same page.
	FrontEnd bool
	// Origin is an origin that must not be allowed by CORS (DefaultOrigin).
	Origin string
	// Interval is the least time between two requests: DefaultInterval
	// when zero, no pause at all when negative.
	Interval time.Duration
	// Budget is the most requests the scan may send (DefaultBudget).
	Budget int
	// LoginAttempts bounds the wrong-password logins (DefaultLoginAttempts).
	LoginAttempts int
	// MaxWait is the longest wait for a rate-limit reset (DefaultMaxWait).
	MaxWait time.Duration
	// Transport sends the requests (http.DefaultTransport when nil).
	Transport http.RoundTripper
}

func (o *Options) defaults() {
	if o.Origin == "" {
		o.Origin = DefaultOrigin
	}
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.Budget <= 0 {
		o.Budget = DefaultBudget
	}
	if o.LoginAttempts <= 0 {
		o.LoginAttempts = DefaultLoginAttempts
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.Transport == nil {
		o.Transport = http.DefaultTransport
	}
	if o.InventorySource == "" {
		o.InventorySource = "given"
	}
}

// ErrUnreachable means the deployment did not answer at all.
var ErrUnreachable = errors.New("scan: the deployment does not answer")

// scanner holds one scan's state.
type scanner struct {
	o      Options
	base   *url.URL
	https  bool
	client *http.Client
	pace   *pacer
	// seen is every answer the scan received, in order.
	seen   []*exchange
	checks []Check
}

// Run scans the deployment at o.BaseURL and returns the report. An error
// means the scan could not be made (a bad URL, no answer at all, no
// inventory, a plan over the budget); failed checks are in the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	base, err := parseBase(o.BaseURL)
	if err != nil {
		return nil, err
	}
	p := &pacer{next: o.Transport, interval: o.Interval, budget: o.Budget, maxWait: o.MaxWait, adaptive: true}
	s := &scanner{
		o:     o,
		base:  base,
		https: base.Scheme == "https",
		pace:  p,
		client: &http.Client{
			Transport: p,
			Timeout:   DefaultTimeout,
			// A redirect is an answer to check, never one to follow.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	start := time.Now()
	if o.Inventory == nil {
		if o.Token == "" {
			return nil, errors.New("scan: no route inventory: give the built-in one or an admin token")
		}
		c := api.NewClient(base.String(), o.Token)
		c.HTTP = s.client
		inv, err := c.Routes(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan: read the route inventory with the token: %w", err)
		}
		s.o.Inventory = &inv
		s.o.InventorySource = "GET /api/admin/routes"
	}
	if planned := s.planned(); planned > o.Budget {
		return nil, fmt.Errorf("scan: %d requests planned (%d routes) but the budget is %d", planned, len(s.o.Inventory.Routes), o.Budget)
	}
	// One request first: a deployment that does not answer at all is an
	// error of the scan, not a page of failed checks.
	if _, err := s.send(ctx, http.MethodGet, "/api/health", nil); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, base, err)
	}
	s.checkTransport()
	s.checkRoutes(ctx)
	s.checkOutsidePaths(ctx)
	s.checkCORS(ctx)
	s.checkMethods(ctx)
	// The sign-in checks come last: the login limit they reach locks the
	// email and the scanning address out of signing in for a while.
	s.checkSignIn(ctx)
	// Checks over every answer received, gatehouse's own answers only (an
	// outside path answered by something else is a finding of its own).
	s.checkHeaders()
	s.checkCORSHeaders()
	s.checkErrorBodies()
	return &Report{
		Target:    base.String(),
		Inventory: s.o.InventorySource,
		Requests:  p.count(),
		Duration:  time.Since(start),
		Checks:    s.checks,
	}, nil
}

// planned is the most requests the scan will send.
func (s *scanner) planned() int {
	n := 1 + len(s.o.Inventory.Routes) + len(outsidePaths) + corsRequests + methodRequests
	if s.o.Token != "" {
		n++
	}
	if s.o.Email != "" {
		n += signInRequests + s.o.LoginAttempts
	}
	return n
}

func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("scan: %q is not a URL like https://api.example.com", raw)
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("scan: %q has a path; give the deployment's root, like https://api.example.com", raw)
	}
	return u, nil
}

// isLoopback reports whether host names this machine, without asking DNS.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (s *scanner) add(name string, r Result, evidence string) {
	s.checks = append(s.checks, Check{Name: name, Result: r, Evidence: evidence})
}

func (s *scanner) checkTransport() {
	host := s.base.Hostname()
	switch {
	case s.https:
		s.add("transport", Pass, "HTTPS")
	case isLoopback(host):
		s.add("transport", Pass, "plain HTTP on loopback")
	default:
		s.add("transport", Warn, "plain HTTP to "+host+": tokens, passwords and cookies cross the network in clear; put TLS in front")
	}
}
