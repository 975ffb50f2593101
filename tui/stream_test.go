package tui

import (
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/app/api"
)

// nextStreamMsg waits for the stream's next event.
func nextStreamMsg(t *testing.T, cmd tea.Cmd) streamMsg {
	t.Helper()
	msg, ok := runCmd(t, cmd).(streamMsg)
	if !ok {
		t.Fatalf("the stream sent %T, want streamMsg", msg)
	}
	return msg
}

func wantState(t *testing.T, msg streamMsg, phase streamPhase, text string) {
	t.Helper()
	if msg.state == nil || msg.state.phase != phase || msg.state.String() != text {
		t.Fatalf("stream event = %+v, want state %q", msg, text)
	}
}

func TestStreamLiveThenReconnects(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	s := newFailureStream(f.client("admin-token"))
	t.Cleanup(s.stop)

	wantState(t, nextStreamMsg(t, s.start()), streamConnecting, "connecting…")
	wantState(t, nextStreamMsg(t, s.wait()), streamLive, "stream live")

	f.stream <- newFailure
	msg := nextStreamMsg(t, s.wait())
	if msg.failure == nil || msg.failure.ID != "f4" || msg.failure.Path != "/api/admin/users" {
		t.Fatalf("stream event = %+v, want failure f4", msg)
	}

	f.stream <- api.AuthFailure{} // the fake ends the stream
	wantState(t, nextStreamMsg(t, s.wait()), streamRetrying, "reconnecting in 1s")
	start := time.Now()
	wantState(t, nextStreamMsg(t, s.wait()), streamConnecting, "connecting…")
	if waited := time.Since(start); waited < 900*time.Millisecond {
		t.Errorf("reconnected after %v, want a backoff of 1s", waited)
	}
	wantState(t, nextStreamMsg(t, s.wait()), streamLive, "stream live")
}

func TestStreamRefusedStops(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	s := newFailureStream(f.client("bad-token"))
	t.Cleanup(s.stop)
	wantState(t, nextStreamMsg(t, s.start()), streamConnecting, "connecting…")
	msg := nextStreamMsg(t, s.wait())
	wantState(t, msg, streamDenied, "stream refused")
	if !api.IsCode(msg.state.err, api.CodeUnauthorized) {
		t.Errorf("err = %v, want unauthorized", msg.state.err)
	}
	// No retry follows a refusal: stopping ends the wait with nothing.
	s.stop()
	if msg := runCmd(t, s.wait()); msg != nil {
		t.Errorf("after a refusal the stream sent %+v", msg)
	}
}

// The section re-arms the wait after each event, and stops re-arming once
// the server has refused.
func TestFailuresSectionRearmsStream(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	s := newFailuresSection(f.client("admin-token"), testClock(), true)
	s.stream = newFailureStream(f.client("admin-token"))
	t.Cleanup(s.stream.stop)
	if cmd := s.update(streamMsg{state: &streamState{phase: streamLive}}); cmd == nil {
		t.Error("a live state did not re-arm the wait")
	}
	if cmd := s.update(streamMsg{failure: &newFailure}); cmd == nil {
		t.Error("a failure did not re-arm the wait")
	}
	if cmd := s.update(streamMsg{state: &streamState{phase: streamDenied}}); cmd != nil {
		t.Error("a refusal re-armed the wait")
	}
	if s.state.phase != streamDenied || len(s.items) != 1 {
		t.Errorf("state %v, %d items; want denied and 1 item", s.state, len(s.items))
	}
}

// "reconnecting in 16s" counts down as the clock moves.
func TestReconnectCountdown(t *testing.T) {
	t.Parallel()
	now := fakeTime
	c := clock{nowFunc: func() time.Time { return now }, loc: time.UTC}
	s := newFailuresSection(api.NewClient("http://gatehouse.test", "t"), c, false)
	s.update(streamMsg{state: &streamState{phase: streamRetrying, retryIn: 16 * time.Second}})
	if got := s.state.at(c.now()); got != "reconnecting in 16s" {
		t.Fatalf("at first: %q", got)
	}
	now = now.Add(5 * time.Second)
	s.update(streamTickMsg{})
	if got := s.state.at(c.now()); got != "reconnecting in 11s" {
		t.Errorf("5s later: %q, want reconnecting in 11s", got)
	}
}
