package tui

import (
	"fmt"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// The golden views: each section at 80x24, the smallest size the console
// promises, and at 120x40.
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
	for _, size := range [][2]int{{80, 24}, {120, 40}} {
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
