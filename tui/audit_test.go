package tui

import (
	"strings"
	"testing"
)

func TestAuditNewestFirstAndDetail(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "5")
	var ids []string
	for _, e := range m.audit.shown {
		ids = append(ids, e.ID)
	}
	if strings.Join(ids, " ") != "a2 a1 a3" {
		t.Fatalf("audit order = %v, want newest first [a2 a1 a3]", ids)
	}
	press(t, m, "enter")
	view := screen(m)
	for _, s := range []string{"Change a2", "Actor       admin@example.com (id 1)", "Action      user.update", "Before\n  {\n    \"roles\": [\n      \"user\"\n    ]\n  }"} {
		if !strings.Contains(view, s) {
			t.Errorf("detail lacks %q:\n%s", s, view)
		}
	}
	press(t, m, "esc")
	if m.audit.detail != nil {
		t.Error("esc did not go back")
	}
	press(t, m, "/")
	typeText(t, m, "policy")
	if len(m.audit.shown) != 1 || m.audit.shown[0].ID != "a3" {
		t.Errorf("filter policy shows %v, want a3", m.audit.shown)
	}
}
