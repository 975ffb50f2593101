package tui

import (
	"context"
	"errors"
	"net/http"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/app/api"
)

// streamPhase is where the live auth-failure stream stands.
type streamPhase int

const (
	streamOff streamPhase = iota
	streamConnecting
	streamLive
	streamRetrying
	streamDenied
)

// streamState is the stream's connection state as the header shows it.
type streamState struct {
	phase   streamPhase
	retryIn time.Duration
	retryAt time.Time // when the next attempt is due, set as the state arrives
	err     error
}

// streamTickMsg redraws the reconnection countdown.
type streamTickMsg struct{}

// at is String with the countdown as of now: "reconnecting in 3s".
func (s streamState) at(now time.Time) string {
	if s.phase == streamRetrying && !s.retryAt.IsZero() {
		left := max(s.retryAt.Sub(now).Round(time.Second), 0)
		return "reconnecting in " + left.String()
	}
	return s.String()
}

// String is the state in a few words: "stream live", "reconnecting in 4s".
func (s streamState) String() string {
	switch s.phase {
	case streamConnecting:
		return "connecting…"
	case streamLive:
		return "stream live"
	case streamRetrying:
		return "reconnecting in " + s.retryIn.String()
	case streamDenied:
		return "stream refused"
	}
	return "stream off"
}

// streamMsg is one event of the stream's goroutine: a failure or a new state.
type streamMsg struct {
	failure *api.AuthFailure
	state   *streamState
}

// Backoff between reconnection attempts: doubled after each failed attempt,
// back to the first once a connection is accepted.
const (
	streamFirstBackoff = time.Second
	streamMaxBackoff   = 30 * time.Second
)

// failureStream follows GET /api/admin/auth-failures/stream in a goroutine
// and hands its events over a channel. The model reads the channel one
// event at a time with a command it re-arms after each event (the pattern of
// bubbletea's examples/realtime), so the stream never blocks the keyboard.
type failureStream struct {
	client *api.Client
	events chan streamMsg
	ctx    context.Context
	cancel context.CancelFunc
}

func newFailureStream(client *api.Client) *failureStream {
	ctx, cancel := context.WithCancel(context.Background())
	return &failureStream{client: client, events: make(chan streamMsg, 64), ctx: ctx, cancel: cancel}
}

// start is the command that starts following the stream and waits for its
// first event.
func (s *failureStream) start() tea.Cmd {
	return func() tea.Msg {
		go s.run()
		return s.wait()()
	}
}

// wait is the command that waits for the next event; re-arm it after each.
func (s *failureStream) wait() tea.Cmd {
	return func() tea.Msg {
		select {
		case ev := <-s.events:
			return ev
		case <-s.ctx.Done():
			return nil
		}
	}
}

// stop ends the stream.
func (s *failureStream) stop() { s.cancel() }

func (s *failureStream) send(m streamMsg) bool {
	select {
	case s.events <- m:
		return true
	case <-s.ctx.Done():
		return false
	}
}

func (s *failureStream) sendState(st streamState) bool { return s.send(streamMsg{state: &st}) }

func (s *failureStream) run() {
	backoff := streamFirstBackoff
	for {
		if !s.sendState(streamState{phase: streamConnecting}) {
			return
		}
		err := streamWithOpen(s.ctx, s.client, func() {
			backoff = streamFirstBackoff
			s.sendState(streamState{phase: streamLive})
		}, func(f api.AuthFailure) {
			s.send(streamMsg{failure: &f})
		})
		if s.ctx.Err() != nil {
			return
		}
		var apiErr *api.Error
		if errors.As(err, &apiErr) && (apiErr.Status == http.StatusForbidden || apiErr.Status == http.StatusUnauthorized) {
			// Trying again will not change the server's mind.
			s.sendState(streamState{phase: streamDenied, err: err})
			return
		}
		if !s.sendState(streamState{phase: streamRetrying, retryIn: backoff, err: err}) {
			return
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, streamMaxBackoff)
	}
}

// streamWithOpen is Client.StreamAuthFailures that also calls opened when
// the server accepts the stream, so the header can say "live" before the
// first failure arrives. It watches the answer's status through a wrapper
// of the HTTP transport on a copy of the client.
func streamWithOpen(ctx context.Context, client *api.Client, opened func(), fn func(api.AuthFailure)) error {
	c := *client
	hc := http.Client{}
	if client.HTTP != nil {
		hc = *client.HTTP
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = openNotifier{base: base, opened: opened}
	c.HTTP = &hc
	return c.StreamAuthFailures(ctx, fn)
}

// openNotifier is an http.RoundTripper that calls opened on a 200 answer.
type openNotifier struct {
	base   http.RoundTripper
	opened func()
}

// RoundTrip sends the request and reports a successful answer.
func (o openNotifier) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := o.base.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusOK {
		o.opened()
	}
	return resp, err
}
