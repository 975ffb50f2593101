package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
	"github.com/gatehouse/gatehouse/rbac"
	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// The auth-failure log. Every 401, 403 and 429 answer becomes one JSON log
// line (for fail2ban or CrowdSec) and one record in the store. Records never
// cost the request a write: noteFailure hands them to a buffered queue and
// one writer goroutine stores them in batches, one transaction per flush,
// folding identical failures into one record with a count. Under a flood
// that is a few transactions a second however many failures there are.
// Nothing is dropped silently: what cannot be queued or stored is counted
// (the X-Auth-Failures-Shed header of the list answer) and logged.

// ctxFailReason lets a handler name why it turned a request away more
// precisely than its error code does ("bad_otp").
const ctxFailReason = "gatehouse.fail_reason"

const (
	// failureFlushEvery is how long a failure may wait for its batch: the
	// bound on how late it shows up in the list and the stream.
	failureFlushEvery = 200 * time.Millisecond
	// failureBatchMax distinct pending records force a flush sooner.
	failureBatchMax = 500
	// failureQueueLen failures can wait while a flush commits.
	failureQueueLen = 8192
	// failureFoldWindow: an identical failure within this time of a
	// record's first occurrence is folded into it, across flushes.
	failureFoldWindow = time.Minute
	// failureFoldMax bounds how many records the writer remembers for
	// folding, so that many distinct clients cannot grow its memory.
	failureFoldMax = 10000
	// failurePruneEvery prunes by age when no failure comes to do it.
	failurePruneEvery = time.Minute
	// failurePruneMax bounds deletions per transaction.
	failurePruneMax = 10000
	// maxFailurePath bounds the stored path of one record.
	maxFailurePath = 512

	// streamWriteTimeout bounds every write to a stream: a client that
	// stops reading loses its stream instead of pinning a goroutine.
	streamWriteTimeout = 10 * time.Second
	// streamBacklog is how many batches a stream may fall behind before it
	// is dropped.
	streamBacklog = 64
)

// noteFailure records a 401, 403 or 429 answer: one structured log line
// now, one record stored soon. No credential, cookie, query or body is
// ever logged or stored.
func (s *Server) noteFailure(c echo.Context, e *api.Error) {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests:
	default:
		return
	}
	req := c.Request()
	reason, _ := c.Get(ctxFailReason).(string)
	if reason == "" {
		reason = e.Code
	}
	now := s.now().UTC()
	// The escaped path: a client's %1b stays text and cannot drive the
	// terminal of an admin reading the log.
	rec := store.AuthFailure{
		Time: now, LastTime: now, Count: 1, IP: c.RealIP(), Method: req.Method, Path: req.URL.EscapedPath(),
		Route: c.Path(), Status: e.Status, Reason: reason, RequestID: e.RequestID,
	}
	if d, ok := c.Get(ctxDenied).(rbac.Request); ok {
		rec.Subject, rec.Object, rec.Action = d.Sub, d.Obj, d.Act
	}
	boundFailure(&rec)
	attrs := []slog.Attr{
		slog.String("ip", rec.IP),
		slog.String("method", rec.Method),
		slog.String("path", rec.Path),
		slog.String("route", rec.Route),
		slog.Int("status", rec.Status),
		slog.String("reason", rec.Reason),
		slog.String("request_id", rec.RequestID),
	}
	if cl := callerOf(c); cl != nil {
		rec.UserID = cl.user.ID
		attrs = append(attrs, slog.String("user_id", store.FormatID(cl.user.ID)))
	}
	ev := failureEvent{rec: rec}
	if d, ok := c.Get(ctxDenied).(rbac.Request); ok {
		ev.denied = &d
		attrs = append(attrs, slog.String("subject", rec.Subject), slog.String("object", rec.Object), slog.String("action", rec.Action))
	}
	s.log.LogAttrs(req.Context(), slog.LevelWarn, "auth failure", attrs...)
	s.failures.enqueue(ev)
}

// FlushAuthFailures waits until every auth failure noted before the call
// is stored (and sent to streams). It needs Serve running; tests use it
// instead of sleeping.
func (s *Server) FlushAuthFailures(ctx context.Context) error {
	return s.failures.flush(ctx)
}

// failureEvent is one item of the writer's queue: a failure, or a request
// to flush (flushed is closed once everything queued before it is stored).
type failureEvent struct {
	rec     store.AuthFailure
	denied  *rbac.Request
	flushed chan struct{}
}

// foldKey is what makes two failures the same failure.
type foldKey struct {
	ip, route, method, reason string
	status                    int
	user                      uint64
}

func keyOf(f *store.AuthFailure) foldKey {
	return foldKey{ip: f.IP, route: f.Route, method: f.Method, reason: f.Reason, status: f.Status, user: f.UserID}
}

// failureLog is the writer of the auth-failure log and the hub of its
// live streams.
type failureLog struct {
	db         store.Store
	authz      *rbac.Authorizer
	log        *slog.Logger
	now        func() time.Time
	retention  time.Duration
	maxRecords int

	queue chan failureEvent
	// shed counts failures noted but not stored: queue full, or a failed
	// write. flushes counts write transactions.
	shed    atomic.Uint64
	flushes atomic.Uint64

	startOnce, stopOnce sync.Once
	stopc, done         chan struct{}

	// follow is set when several processes write the store (it is a
	// store.FailureWatcher): streams then show what the store holds, read
	// in write order by follower, whoever wrote it (failurefeed.go).
	follow *follower

	mu     sync.Mutex
	subs   map[*failureSubscriber]struct{}
	closed bool
}

func newFailureLog(s *Server) *failureLog {
	l := &failureLog{
		db: s.db, authz: s.authz, log: s.log, now: s.now,
		retention: s.cfg.FailureRetention, maxRecords: s.cfg.FailureMaxRecords,
		queue: make(chan failureEvent, failureQueueLen),
		stopc: make(chan struct{}), done: make(chan struct{}),
		subs: map[*failureSubscriber]struct{}{},
	}
	if w, ok := s.db.(store.FailureWatcher); ok {
		l.follow = newFollower(l, w)
	}
	return l
}

// enqueue never blocks: a full queue sheds the failure and counts it.
func (l *failureLog) enqueue(ev failureEvent) {
	select {
	case l.queue <- ev:
	default:
		l.shed.Add(1)
	}
}

// start runs the writer until stop.
func (l *failureLog) start() {
	l.startOnce.Do(func() {
		go l.run()
		if l.follow != nil {
			l.follow.start()
		}
	})
}

// stop stores what is queued, ends the streams and waits for the writer.
func (l *failureLog) stop() {
	l.stopOnce.Do(func() { close(l.stopc) })
	started := true
	l.startOnce.Do(func() { started = false; close(l.done) })
	if started {
		<-l.done
		if l.follow != nil {
			l.follow.stop()
		}
	}
	l.closeStreams()
}

var errFailureLogStopped = errors.New("app: the auth-failure log is stopped")

func (l *failureLog) flush(ctx context.Context) error {
	select {
	case <-l.done:
		return errFailureLogStopped
	default:
	}
	done := make(chan struct{})
	select {
	case l.queue <- failureEvent{flushed: done}:
	case <-l.done:
		return errFailureLogStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-l.done:
		return nil // the writer's last flush stored everything
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pendingFailure is a failure folded within the current batch.
type pendingFailure struct {
	rec    store.AuthFailure
	denied *rbac.Request
}

func (l *failureLog) run() {
	defer close(l.done)
	w := failureWriter{l: l, pending: map[foldKey]*pendingFailure{}, recent: map[foldKey]store.AuthFailure{}}
	timer := time.NewTimer(failureFlushEvery)
	timer.Stop()
	armed := false
	prune := time.NewTicker(failurePruneEvery)
	defer prune.Stop()
	handle := func(ev failureEvent) {
		if ev.flushed != nil {
			w.flush()
			close(ev.flushed)
			return
		}
		w.add(ev)
		if len(w.order) >= failureBatchMax {
			w.flush()
		} else if !armed {
			timer.Reset(failureFlushEvery)
			armed = true
		}
	}
	for {
		select {
		case ev := <-l.queue:
			handle(ev)
		case <-timer.C:
			armed = false
			w.flush()
		case <-prune.C:
			w.prune()
		case <-l.stopc:
			// In-flight requests are done (Serve shut the server down
			// first): store what they queued. This goroutine is the only
			// receiver, so a non-empty queue cannot block it.
			for len(l.queue) > 0 {
				handle(<-l.queue)
			}
			w.flush()
			return
		}
	}
}

// failureWriter is the writer goroutine's own state: no lock needed.
type failureWriter struct {
	l       *failureLog
	pending map[foldKey]*pendingFailure
	order   []foldKey
	// recent are stored records still open for folding.
	recent     map[foldKey]store.AuthFailure
	shedLogged uint64
}

func (w *failureWriter) add(ev failureEvent) {
	k := keyOf(&ev.rec)
	if p, ok := w.pending[k]; ok {
		p.rec.Count += ev.rec.Count
		p.rec.LastTime = ev.rec.LastTime
		return
	}
	w.pending[k] = &pendingFailure{rec: ev.rec, denied: ev.denied}
	w.order = append(w.order, k)
}

// flush stores the pending failures in one transaction, folding each into
// its recent record when there is one, prunes what retention allows no
// more, then sends what it stored to the streams.
func (w *failureWriter) flush() {
	l := w.l
	w.reportShed()
	if len(w.order) == 0 {
		return
	}
	// Explanations are worked out here, off the request path, once per
	// record however many failures it folds.
	for _, k := range w.order {
		if p := w.pending[k]; p.denied != nil {
			_, p.rec.Explanation = l.authz.Explain(*p.denied)
			p.rec.Explanation = cutText(p.rec.Explanation, maxFailureExplanation)
		}
	}
	now := l.now().UTC()
	written := make([]store.AuthFailure, 0, len(w.order))
	err := l.db.Update(context.Background(), func(tx store.Tx) error {
		written = written[:0]
		for _, k := range w.order {
			rec := w.pending[k].rec
			if prev, ok := w.recent[k]; ok && rec.Time.Sub(prev.Time) < failureFoldWindow {
				prev.Count += rec.Count
				prev.LastTime = rec.LastTime
				err := tx.Failures().Update(prev)
				if err == nil {
					written = append(written, prev)
					continue
				}
				if !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			if err := tx.Failures().Add(&rec); err != nil {
				return err
			}
			written = append(written, rec)
		}
		_, err := tx.Failures().Prune(w.cutoff(now), l.maxRecords, failurePruneMax)
		return err
	})
	l.flushes.Add(1)
	if err != nil {
		n := 0
		for _, k := range w.order {
			n += w.pending[k].rec.Count
		}
		l.shed.Add(uint64(n))
		l.log.Error("auth-failure log: store a batch", "failures", n, "error", err.Error())
	} else {
		for i, k := range w.order {
			if _, ok := w.recent[k]; ok || len(w.recent) < failureFoldMax {
				w.recent[k] = written[i]
			}
		}
		for k, f := range w.recent {
			if now.Sub(f.Time) >= failureFoldWindow {
				delete(w.recent, k)
			}
		}
		if l.follow != nil {
			l.follow.poke()
		} else {
			l.publish(written)
		}
	}
	clear(w.pending)
	w.order = w.order[:0]
}

func (w *failureWriter) cutoff(now time.Time) time.Time {
	if w.l.retention <= 0 {
		return time.Time{}
	}
	return now.Add(-w.l.retention)
}

// prune applies the age limit when no flush has done it lately.
func (w *failureWriter) prune() {
	w.reportShed()
	l := w.l
	err := l.db.Update(context.Background(), func(tx store.Tx) error {
		_, err := tx.Failures().Prune(w.cutoff(l.now().UTC()), l.maxRecords, failurePruneMax)
		return err
	})
	if err != nil {
		l.log.Error("auth-failure log: prune", "error", err.Error())
	}
}

// reportShed logs how many failures were shed since it last did.
func (w *failureWriter) reportShed() {
	if n := w.l.shed.Load(); n != w.shedLogged {
		w.l.log.Warn("auth-failure log: failures not stored (each still has its log line)", "since_last_report", n-w.shedLogged, "total", n)
		w.shedLogged = n
	}
}

// failureSubscriber is one live stream. The writer sends it batches; one
// that falls streamBacklog batches behind is dropped, never waited for.
type failureSubscriber struct {
	// caller is the user the stream is for, counted against
	// maxStreamsPerCaller.
	caller uint64
	ch     chan []store.AuthFailure
	// why says why ch was closed; set before the close.
	why string
}

// maxStreamsPerCaller bounds the live streams one user holds open at
// once: each is a goroutine, a connection and a backlog of batches.
const maxStreamsPerCaller = 4

var (
	errStreamsClosed   = apiError(http.StatusServiceUnavailable, api.CodeUnavailable, "the server is shutting down")
	errTooManyStreams  = apiError(http.StatusTooManyRequests, api.CodeRateLimited, "you have 4 live streams open already: close one first")
	streamRetrySeconds = "10"
)

// subscribe opens a stream for caller, refused when the log is closed or
// the caller holds maxStreamsPerCaller streams already.
func (l *failureLog) subscribe(caller uint64) (*failureSubscriber, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errStreamsClosed
	}
	open := 0
	for sub := range l.subs {
		if sub.caller == caller {
			open++
		}
	}
	if open >= maxStreamsPerCaller {
		return nil, errTooManyStreams
	}
	sub := &failureSubscriber{caller: caller, ch: make(chan []store.AuthFailure, streamBacklog)}
	l.subs[sub] = struct{}{}
	return sub, nil
}

func (l *failureLog) unsubscribe(sub *failureSubscriber) {
	l.mu.Lock()
	delete(l.subs, sub)
	l.mu.Unlock()
}

func (l *failureLog) publish(recs []store.AuthFailure) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.subs) == 0 {
		return
	}
	// Every subscriber gets the same slice: they only read it.
	batch := recs
	for sub := range l.subs {
		select {
		case sub.ch <- batch:
		default:
			sub.why = "dropped: this stream fell too far behind"
			close(sub.ch)
			delete(l.subs, sub)
			l.log.Warn("auth-failure stream dropped: subscriber too slow")
		}
	}
}

func (l *failureLog) closeStreams() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for sub := range l.subs {
		sub.why = "server shutting down"
		close(sub.ch)
		delete(l.subs, sub)
	}
}

func toAPIFailure(f store.AuthFailure) api.AuthFailure {
	out := api.AuthFailure{
		ID: store.FormatID(f.ID), Time: f.Time, LastTime: f.LastTime, Count: f.Count, IP: f.IP,
		Method: f.Method, Path: f.Path, Route: f.Route, Status: f.Status, Reason: f.Reason,
		RequestID: f.RequestID, Subject: f.Subject, Object: f.Object, Action: f.Action, Explanation: f.Explanation,
	}
	if f.UserID != 0 {
		out.UserID = store.FormatID(f.UserID)
	}
	return out
}
