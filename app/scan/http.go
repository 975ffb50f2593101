package scan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxBody is how much of an answer's body a scan reads: enough for any
// error answer, and a bound on a deployment that streams.
const maxBody = 64 << 10

// exchange is one request of the scan and what came back.
type exchange struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
	// outside marks an answer to a path outside the inventory that was not
	// gatehouse's: its own check reports it, and the checks over every
	// answer leave it out.
	outside bool
}

// label names the request in evidence: "GET /api/health".
func (e *exchange) label() string { return e.method + " " + e.path }

// code is the error code of an error answer, or "".
func (e *exchange) code() string {
	if b, ok := parseErrorBody(e.body); ok {
		return b.Code
	}
	return ""
}

// summary is the status and code, as evidence: "401 unauthorized".
func (e *exchange) summary() string {
	if c := e.code(); c != "" {
		return strconv.Itoa(e.status) + " " + c
	}
	return strconv.Itoa(e.status)
}

// request is what to send beyond the method and path.
type request struct {
	header http.Header
	body   string
}

// send makes one request and records its answer. An error means there was
// no answer (the budget is spent, or the connection failed).
func (s *scanner) send(ctx context.Context, method, path string, r *request) (*exchange, error) {
	var body io.Reader
	if r != nil && r.body != "" {
		body = strings.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base.String()+path, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if r != nil {
		for k, vs := range r.header {
			req.Header[k] = vs
		}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	e := &exchange{method: method, path: path, status: resp.StatusCode, header: resp.Header, body: b}
	s.seen = append(s.seen, e)
	return e, nil
}

// pacer is the transport of a scan: it spaces requests by interval, stops
// at the budget and, when adaptive, waits for the rate-limit window to
// reset before the deployment would refuse the next request.
type pacer struct {
	next     http.RoundTripper
	interval time.Duration
	budget   int
	maxWait  time.Duration

	mu       sync.Mutex
	adaptive bool
	sent     int
	last     time.Time
	// remaining and reset are the last X-RateLimit-Remaining and -Reset
	// seen (reset is a Unix time); remaining is -1 when unknown.
	remaining, reset int64
	known            bool
}

// errBudget means the scan reached its request budget.
var errBudget = errors.New("the scan's request budget is spent")

// setAdaptive turns waiting for rate-limit resets on or off. The login
// checks turn it off: the login limit is what they mean to reach.
func (p *pacer) setAdaptive(on bool) {
	p.mu.Lock()
	p.adaptive = on
	p.mu.Unlock()
}

func (p *pacer) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

// RoundTrip sends req when its turn comes.
func (p *pacer) RoundTrip(req *http.Request) (*http.Response, error) {
	p.mu.Lock()
	if p.sent >= p.budget {
		p.mu.Unlock()
		return nil, errBudget
	}
	now := time.Now()
	wait := p.interval - now.Sub(p.last)
	if p.adaptive && p.known && p.remaining <= 1 {
		// The window is spent: wait for the next one rather than be
		// refused (the deployment's limit is tighter than the default).
		untilReset := time.Until(time.Unix(p.reset+1, 0))
		if untilReset > p.maxWait {
			p.mu.Unlock()
			return nil, fmt.Errorf("the rate limit is spent and resets in %s, more than the scan waits", untilReset.Round(time.Second))
		}
		wait = max(wait, untilReset)
		p.known = false
	}
	p.sent++
	p.last = now.Add(max(wait, 0))
	p.mu.Unlock()
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-req.Context().Done():
			t.Stop()
			return nil, req.Context().Err()
		case <-t.C:
		}
	}
	resp, err := p.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	rem, err1 := strconv.ParseInt(resp.Header.Get("X-RateLimit-Remaining"), 10, 64)
	reset, err2 := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	p.mu.Lock()
	p.remaining, p.reset, p.known = rem, reset, err1 == nil && err2 == nil
	p.mu.Unlock()
	return resp, nil
}
