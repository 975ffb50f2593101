package tui

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/app/api"
)

// newFailure is a failure that arrives on the stream during a test.
var newFailure = api.AuthFailure{ID: "f4", Time: fakeTime.Add(-2 * time.Second), Count: 1, IP: "172.16.5.77", Method: "GET", Path: "/api/admin/users", Route: "/api/admin/users", Status: 401, Reason: "unauthorized", RequestID: "req-4"}

func TestFailuresNewestOnTopAndPause(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "4")
	s := m.failures
	if got := failureIDs(s.shown); !slices.Equal(got, []string{"f3", "f2", "f1"}) {
		t.Fatalf("history = %v, want newest first [f3 f2 f1]", got)
	}
	m.Update(streamMsg{failure: &newFailure})
	if got := failureIDs(s.shown); !slices.Equal(got, []string{"f4", "f3", "f2", "f1"}) {
		t.Fatalf("after a live failure = %v, want it on top", got)
	}

	press(t, m, "space")
	later := newFailure
	later.ID, later.Time = "f5", fakeTime.Add(-time.Second)
	m.Update(streamMsg{failure: &later})
	folded := api.AuthFailure{ID: "f2", Time: fakeTime.Add(-40 * time.Second), LastTime: fakeTime, Count: 9, Status: 403, Reason: "forbidden"}
	m.Update(streamMsg{failure: &folded})
	if got := failureIDs(s.shown); !slices.Equal(got, []string{"f4", "f3", "f2", "f1"}) {
		t.Errorf("paused list moved: %v", got)
	}
	if !strings.Contains(screen(m), "paused, 2 new") {
		t.Errorf("view does not say paused, 2 new:\n%s", screen(m))
	}
	press(t, m, "space")
	if got := failureIDs(s.shown); !slices.Equal(got, []string{"f2", "f5", "f4", "f3", "f1"}) {
		t.Errorf("after resuming = %v, want [f2 f5 f4 f3 f1] (f2 folded again just now)", got)
	}
	if s.shown[0].Count != 9 {
		t.Errorf("folded record kept count %d, want 9", s.shown[0].Count)
	}
	// f2 (9, last now), f5, f4, f3: f1 is five minutes old.
	if n := s.perMinute(); n != 12 {
		t.Errorf("per minute = %d, want 12", n)
	}
}

func TestFailuresFilter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		query string
		want  []string
	}{
		{"reason:rate", []string{"f3"}},
		{"ip:10.0.0", []string{"f2", "f1"}},
		{"user:3", []string{"f2"}},
		{"403", []string{"f2"}},
		{"login", []string{"f1"}},
		{"ip:10.0.0 reason:invalid", []string{"f1"}},
		{"reason:nothing", []string{}},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t)
			m := mustConsole(t, f, "admin-token", 80, 24)
			press(t, m, "4", "/")
			typeText(t, m, c.query)
			press(t, m, "enter")
			if got := failureIDs(m.failures.shown); !slices.Equal(got, c.want) {
				t.Errorf("filter %q shows %v, want %v", c.query, got, c.want)
			}
			// A live failure that does not match stays out of sight.
			m.Update(streamMsg{failure: &newFailure})
			if got := failureIDs(m.failures.shown); !slices.Equal(got, c.want) {
				t.Errorf("after a live failure filter %q shows %v, want %v", c.query, got, c.want)
			}
		})
	}
}

func TestFailuresDetail(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "4", "down", "enter")
	if m.failures.detail == nil {
		t.Fatal("enter did not open the detail")
	}
	view := screen(m)
	for _, s := range []string{"Auth failure f2", "Request id  req-2", "Denied      user:3 DELETE /api/notes/:id", "Last        2026-11-23 09:29:40 UTC (3 times)"} {
		if !strings.Contains(view, s) {
			t.Errorf("detail lacks %q", s)
		}
	}
	if quits(press(t, m, "esc")) || m.failures.detail != nil {
		t.Error("esc did not go back to the list")
	}
}

func TestFailuresForbiddenShowsServerMessage(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	s := newFailuresSection(f.client("nobody"), testClock(), false)
	s.setSize(80, 20)
	msg := runCmd(t, s.fetch())
	if cmd := s.update(msg); cmd == nil {
		t.Fatal("a 401 should be reported in the footer")
	}
	s = newFailuresSection(f.client("admin-token"), testClock(), false)
	s.update(failuresLoadedMsg{err: &api.Error{Status: 403, Code: "forbidden", Message: "user:9 may not GET /api/admin/auth-failures"}})
	if want := "not allowed: user:9 may not GET /api/admin/auth-failures"; !strings.Contains(s.view(), want) {
		t.Errorf("view lacks %q:\n%s", want, s.view())
	}
}

func failureIDs(fs []api.AuthFailure) []string {
	ids := []string{}
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	return ids
}
