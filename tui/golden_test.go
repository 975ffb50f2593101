package tui

import (
	"fmt"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// The golden views: each section at 60x20, the smallest size the console
// promises, at 80x24 and at 120x40.
func TestGoldenViews(t *testing.T) {
	t.Parallel()
	live := streamMsg{state: &streamState{phase: streamLive}}
	cases := []struct {
		name  string
		token string
		setup func(t *testing.T, m *Model)
	}{
		{"signin", "", func(t *testing.T, m *Model) {}},
		{"users", "admin-token", func(t *testing.T, m *Model) { m.Update(live) }},
		{"users-confirm-delete", "admin-token", func(t *testing.T, m *Model) { press(t, m, "down", "down", "d") }},
		{"users-new", "admin-token", func(t *testing.T, m *Model) { press(t, m, "n") }},
		{"users-detail", "admin-token", func(t *testing.T, m *Model) { press(t, m, "down", "down", "enter") }},
		{"users-search", "admin-token", func(t *testing.T, m *Model) {
			press(t, m, "/")
			typeText(t, m, "example")
			press(t, m, "enter", ">", ">")
		}},
		{"policies-detail", "admin-token", func(t *testing.T, m *Model) { press(t, m, "3", "end", "enter") }},
		{"groups", "admin-token", func(t *testing.T, m *Model) { press(t, m, "2") }},
		{"groups-members", "admin-token", func(t *testing.T, m *Model) { press(t, m, "2", "down", "enter") }},
		{"policies", "admin-token", func(t *testing.T, m *Model) { press(t, m, "3") }},
		{"policies-whatif", "admin-token", func(t *testing.T, m *Model) {
			press(t, m, "3", "w")
			typeText(t, m, "role:admin")
			press(t, m, "enter")
			typeText(t, m, "/api/admin/users")
			press(t, m, "enter")
			typeText(t, m, "get")
			press(t, m, "enter", "enter")
		}},
		{"failures", "admin-token", func(t *testing.T, m *Model) {
			m.Update(live)
			press(t, m, "4", "space")
			m.Update(streamMsg{failure: &newFailure})
		}},
		{"failures-detail", "admin-token", func(t *testing.T, m *Model) { press(t, m, "4", "down", "enter") }},
		{"audit", "admin-token", func(t *testing.T, m *Model) { press(t, m, "5") }},
		{"audit-detail", "admin-token", func(t *testing.T, m *Model) { press(t, m, "5", "enter") }},
		{"auditor", "auditor-token", func(t *testing.T, m *Model) {}},
		{"help", "admin-token", func(t *testing.T, m *Model) { press(t, m, "?") }},
	}
	for _, size := range [][2]int{{60, 20}, {80, 24}, {120, 40}} {
		for _, c := range cases {
			name := fmt.Sprintf("%s-%dx%d", c.name, size[0], size[1])
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f := newFakeServer(t)
				m := mustConsole(t, f, c.token, size[0], size[1])
				c.setup(t, m)
				view := m.View()
				assertViewSize(t, view, size[0], size[1])
				assertGolden(t, name, view)
			})
		}
	}
}

// A resize redraws everything at the new size.
func TestResizeRedraws(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 120, 40)
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	assertViewSize(t, m.View(), 80, 24)
	want := mustConsole(t, newFakeServer(t), "admin-token", 80, 24).View()
	if got := m.View(); got != want {
		t.Errorf("after a resize to 80x24 the view differs from one drawn at 80x24:\n%s\n---\n%s", got, want)
	}
}

// Below the minimum size the console says so instead of a broken layout,
// and draws normally again once the window grows.
func TestWindowTooSmall(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 59, 24)
	view := m.View()
	assertViewSize(t, view, 59, 24)
	if !strings.Contains(view, "The window is 59x24; the console needs at least 60x20.") {
		t.Errorf("no notice at 59x24:\n%s", view)
	}
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 20})
	if strings.Contains(m.View(), "The window is") {
		t.Errorf("the notice stays at 60x20:\n%s", m.View())
	}
}

// The cursor row carries a marker of its own, so that it shows with no
// colour at all (NO_COLOR; the tests render without colour), and the
// marker follows the cursor.
func TestCursorMarkerWithoutColour(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "down")
	var marked []string
	for _, line := range strings.Split(m.View(), "\n") {
		if strings.HasPrefix(line, " "+cursorMarker+" ") {
			marked = append(marked, line)
		}
	}
	if len(marked) != 1 || !strings.Contains(marked[0], "audrey@example.com") {
		t.Errorf("marked rows %q, want audrey's alone", marked)
	}
	press(t, m, "2")
	if tabs := strings.Split(m.View(), "\n")[1]; !strings.HasPrefix(tabs, " 1 Users [2 Groups]") {
		t.Errorf("the active tab is not bracketed: %q", tabs)
	}
}
