package app

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync/atomic"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Keys of values a request carries in its Echo context: its id, its caller,
// and what authorization decided (for the failure log).
const (
	ctxRequestID = "gatehouse.request_id"
	ctxCaller    = "gatehouse.caller"
	ctxDenied    = "gatehouse.denied"
	ctxResource  = "gatehouse.resource"
)

// recoverPanic turns a panic in a handler into a plain 500, logging the
// stack; the client learns nothing of it.
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				buf := make([]byte, 8<<10)
				buf = buf[:runtime.Stack(buf, false)]
				err = fmt.Errorf("panic: %v\n%s", r, buf)
			}
		}()
		return next(c)
	}
}

// requestIDs make request ids: a random prefix drawn once per process
// and a counter, so that ids are unique across instances and restarts
// without a random draw per request. An id names a request in logs; it is
// no secret and grants nothing.
type requestIDs struct {
	prefix [6]byte
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	r := &requestIDs{}
	_, _ = rand.Read(r.prefix[:])
	return r
}

// next returns a new id: 24 hex digits, 12 of the prefix (48 random bits)
// and 12 of the counter (2^48 requests before it wraps).
func (r *requestIDs) next() string {
	var b [24]byte
	hex.Encode(b[:12], r.prefix[:])
	n := r.n.Add(1)
	const digits = "0123456789abcdef"
	for i := 23; i >= 12; i-- {
		b[i] = digits[n&15]
		n >>= 4
	}
	return string(b[:])
}

// assignRequestID gives every request a fresh id, in the X-Request-ID
// answer header, every error body and every log line. An id sent by the
// client is not taken: clients must not be able to forge log entries.
func (s *Server) assignRequestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := s.requestIDs.next()
		c.Set(ctxRequestID, id)
		// Under its canonical name, what Header.Set would store.
		c.Response().Header()["X-Request-Id"] = []string{id}
		return next(c)
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get(ctxRequestID).(string)
	return id
}

// header is one header an answer carries, under its canonical name.
type header struct {
	name  string
	value []string
}

// securityHeaders are the headers every answer carries.
func securityHeaders(cookieSecure bool) []header {
	headers := []header{
		{"X-Content-Type-Options", []string{"nosniff"}},
		{"Referrer-Policy", []string{"no-referrer"}},
		{"Content-Security-Policy", []string{"default-src 'none'; frame-ancestors 'none'"}},
		{"X-Frame-Options", []string{"DENY"}},
		{"Cross-Origin-Resource-Policy", []string{"same-origin"}},
		// Answers are per caller and often secret: no cache, shared or
		// private, may keep one. Set on every answer, not only on
		// authenticated ones, so that no route can forget it.
		{"Cache-Control", []string{"no-store"}},
	}
	if cookieSecure {
		headers = append(headers, header{"Strict-Transport-Security", []string{"max-age=63072000; includeSubDomains"}})
	}
	return headers
}

// secureHeaders sets the headers a JSON API answers with.
//
// Echo calls the middleware of Use for every request (to wrap the handler
// of the route found), so this and the other global middleware make
// nothing there: what they need is made once, in registerRoutes.
func (s *Server) secureHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		// The names are canonical and the values are never changed in
		// place (Set and Add replace or copy a one-element slice), so
		// every answer shares them: no allocation per request.
		h := c.Response().Header()
		for _, x := range s.headers {
			h[x.name] = x.value
		}
		return next(c)
	}
}

// reasonSignInRequired is the failure reason of an anonymous request that
// the policy allows on a route that needs a signed-in caller.
const reasonSignInRequired = "sign_in_required"

// ownerFunc resolves the owner of the resource a route acts on. It returns
// store.ErrNotFound when there is no such resource.
type ownerFunc func(c echo.Context) (uint64, error)

// authorize guards one route: default deny, decided on the route template
// and method (never the raw URL, so path tricks cannot reach another rule),
// with the resource's owner resolved first so that an owner-only rule can
// only match a resource whose owner is known.
func (s *Server) authorize(r route) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			cl := callerOf(c)
			req := rbac.Request{Sub: cl.subject(), Obj: r.path, Act: r.method, MFA: cl.mfa(), Groups: cl.groups()}
			if cl == nil && r.signedIn {
				// The handler acts as its caller, and there is none: even
				// when a rule grants anonymous this route, nothing can be
				// done for nobody. Refused before any resource is looked
				// up, so that anonymous learns nothing of what exists.
				c.Set(ctxDenied, req)
				if s.authz.Decide(req).Allowed {
					c.Set(ctxFailReason, reasonSignInRequired)
				}
				return errUnauthorized
			}
			if r.owner != nil {
				owner, err := r.owner(c)
				switch {
				case errors.Is(err, store.ErrNotFound):
					// No such resource. Say so only to a caller who could
					// act on it were it theirs; others learn nothing.
					req.Owner = req.Sub
					if s.authz.Decide(req).Allowed {
						return errNotFound
					}
					req.Owner = ""
				case err != nil:
					return err
				default:
					req.Owner = rbac.UserSubject(owner)
				}
			}
			d := s.authz.Decide(req)
			if d.Allowed {
				if cl.readOnly() && !safeMethod(r.method) {
					c.Set(ctxDenied, req)
					return apiError(http.StatusForbidden, api.CodeForbidden, "this token is read-only")
				}
				return next(c)
			}
			c.Set(ctxDenied, req)
			switch {
			case cl == nil:
				return errUnauthorized
			case d.StepUp:
				return apiError(http.StatusForbidden, api.CodeMFARequired, "this needs a session signed in with your second factor")
			}
			return errForbidden
		}
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// resourceOf returns the resource an owner resolver loaded for the handler.
func resourceOf[T any](c echo.Context) (T, bool) {
	v, ok := c.Get(ctxResource).(T)
	return v, ok
}
