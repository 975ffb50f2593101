package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// headerFailuresShed tells admins how many failures the log could not
// store since the server started (each still has its log line).
const headerFailuresShed = "X-Auth-Failures-Shed"

// failureFilter reads the filters of the list and the stream: ?reason=
// (exact), ?ip= (an address, or a CIDR such as an IPv6 /64) and ?user= (a
// user id, "7" or "user:7").
func failureFilter(c echo.Context) (store.FailureFilter, error) {
	var f store.FailureFilter
	problems := map[string]string{}
	f.Reason = c.QueryParam("reason")
	if len(f.Reason) > 64 {
		problems["reason"] = "must be at most 64 characters"
	}
	if v := c.QueryParam("ip"); v != "" {
		if p, err := netip.ParsePrefix(v); err == nil {
			f.Within = p.Masked()
		} else if a, err := netip.ParseAddr(v); err == nil {
			a = a.Unmap().WithZone("")
			f.Within = netip.PrefixFrom(a, a.BitLen())
		} else {
			problems["ip"] = "must be an IP address or a CIDR like 10.0.0.0/8"
		}
	}
	if v := c.QueryParam("user"); v != "" {
		id, err := store.ParseID(strings.TrimPrefix(v, "user:"))
		if err != nil {
			problems["user"] = "must be a user id"
		}
		f.UserID = id
	}
	if len(problems) > 0 {
		return f, invalidInput(problems)
	}
	return f, nil
}

// unfiltered reports whether a failure list request has no filter, so that
// its total is the whole log's count.
func unfiltered(c echo.Context) bool {
	return c.QueryParam("reason") == "" && c.QueryParam("ip") == "" && c.QueryParam("user") == ""
}

// handleAuthFailureList lists recorded failures, newest first.
func (s *Server) handleAuthFailureList(c echo.Context) error {
	p, err := page(c)
	if err != nil {
		return err
	}
	match, err := failureFilter(c)
	if err != nil {
		return err
	}
	var recs []store.AuthFailure
	var next string
	var total *int
	err = s.db.View(c.Request().Context(), func(tx store.Tx) error {
		if recs, next, err = tx.Failures().List(match, p); err != nil {
			return err
		}
		total = knownTotal(p, len(recs), next)
		if unfiltered(c) {
			n, err := tx.Failures().Count()
			if err != nil {
				return err
			}
			total = &n
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := api.List[api.AuthFailure]{Items: make([]api.AuthFailure, len(recs)), NextCursor: next, Total: total}
	for i, r := range recs {
		out.Items[i] = toAPIFailure(r)
	}
	c.Response().Header().Set(headerFailuresShed, strconv.FormatUint(s.failures.shed.Load(), 10))
	return c.JSON(http.StatusOK, out)
}

// handleAuthFailureStream sends new failures as Server-Sent Events: each
// record (a new one, or a folded one whose count grew, with the same id) as
// "data: <json>\n\n", and a comment line as heartbeat, so that proxies keep
// the connection and a dead client is noticed. It ends when the client
// goes, falls too far behind, loses its access, or the server shuts down.
func (s *Server) handleAuthFailureStream(c echo.Context) error {
	match, err := failureFilter(c)
	if err != nil {
		return err
	}
	var caller uint64 // 0: anonymous, should a policy ever grant the stream to anonymous
	if cl := callerOf(c); cl != nil {
		caller = cl.user.ID
	}
	sub, err := s.failures.subscribe(caller)
	if errors.Is(err, errTooManyStreams) {
		c.Response().Header().Set("Retry-After", streamRetrySeconds)
		c.Set(ctxFailReason, "too_many_streams")
	}
	if err != nil {
		return err
	}
	defer s.failures.unsubscribe(sub)

	w := c.Response()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set(echo.HeaderContentType, "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	h.Set(headerFailuresShed, strconv.FormatUint(s.failures.shed.Load(), 10))
	// When the stream ends, so does the connection: a client dropped for
	// falling behind is not reading, and should not keep it open by
	// keep-alive either.
	h.Set(echo.HeaderConnection, "close")
	w.WriteHeader(http.StatusOK)
	if c.Request().Method == http.MethodHead {
		return nil // the headers say it all: a HEAD has no body to stream
	}

	// The server's WriteTimeout would cut the stream after a minute: each
	// write gets its own deadline instead.
	write := func(b []byte) bool {
		if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return false
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	end := func(why string) error {
		write([]byte(": " + why + "\n\n"))
		return nil
	}
	if !write([]byte(": connected\n\n")) {
		return nil
	}
	heartbeat := time.NewTicker(s.cfg.StreamHeartbeat)
	defer heartbeat.Stop()
	ctx := c.Request().Context()
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return end("server shutting down")
		case batch, ok := <-sub.ch:
			if !ok {
				return end(sub.why)
			}
			if !s.streamStillAllowed(c) {
				return end("access revoked")
			}
			buf.Reset()
			for i := range batch {
				if !match.Match(&batch[i]) {
					continue
				}
				b, err := json.Marshal(toAPIFailure(batch[i]))
				if err != nil {
					return err
				}
				buf.WriteString("data: ")
				buf.Write(b)
				buf.WriteString("\n\n")
			}
			if buf.Len() > 0 && !write(buf.Bytes()) {
				return nil
			}
		case <-heartbeat.C:
			if !s.streamStillAllowed(c) {
				return end("access revoked")
			}
			if !write([]byte(": heartbeat\n\n")) {
				return nil
			}
		}
	}
}

// streamStillAllowed decides the stream's route again for its caller: a
// stream is one long request, and an admin who loses the role, a disabled
// user or an ended session must stop receiving records at once, as the
// next request would be refused.
func (s *Server) streamStillAllowed(c echo.Context) bool {
	cl := callerOf(c)
	// The route's own method: a stream is a GET (a HEAD never streams).
	req := rbac.Request{Sub: rbac.Anonymous, Obj: c.Path(), Act: http.MethodGet, MFA: rbac.MFANone}
	if cl != nil {
		fresh, err := s.lookupCaller(c.Request().Context(), cl.secret, store.DocRef{})
		if err != nil {
			return false
		}
		req.Sub, req.MFA = fresh.subject(), fresh.mfa()
	}
	return s.authz.Decide(req).Allowed
}
