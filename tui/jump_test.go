package tui

import (
	"strings"
	"testing"
)

// From a rule to its group's members, from a member to their page, and
// from the page to their changes in Audit: each jump shows the section
// with the item open.
func TestJumpsBetweenRelatedItems(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 100, 30)
	press(t, m, "3", "end", "enter") // rule 5: g, group:staff, role:editor
	if !strings.Contains(screen(m), "Rule 5") {
		t.Fatalf("no rule page:\n%s", screen(m))
	}
	press(t, m, "J")
	if m.visible[m.active] != section(m.groups) || m.groups.members == nil || m.groups.members.group != "staff" {
		t.Fatalf("J did not open staff's members:\n%s", screen(m))
	}
	press(t, m, "enter") // bob
	if m.visible[m.active] != section(m.users) || m.users.detail == nil || m.users.detail.user.ID != "3" {
		t.Fatalf("enter on a member did not open their page:\n%s", screen(m))
	}
	if m.users.pane.filter.Value() != "bob@example.com" {
		t.Errorf("the users filter is %q, want bob's email", m.users.pane.filter.Value())
	}
	press(t, m, "A")
	if m.visible[m.active] != section(m.audit) || m.audit.pane.filter.Value() != "user:3" || len(m.audit.shown) == 0 {
		t.Fatalf("A did not show bob's changes:\n%s", screen(m))
	}
	for _, e := range m.audit.shown {
		if e.Target != "user:3" {
			t.Errorf("audit shows a change of %s", e.Target)
		}
	}
}

// c copies the email under the cursor to the clipboard with OSC 52.
func TestCopyEmail(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	var clip strings.Builder
	m.clipboard = &clip
	press(t, m, "down", "c")
	// OSC 52: ESC ] 52 ; c ; base64 BEL
	if want := "\x1b]52;c;YXVkcmV5QGV4YW1wbGUuY29t\x07"; clip.String() != want || m.notice != "copied audrey@example.com" {
		t.Errorf("clipboard %q, notice %q", clip.String(), m.notice)
	}
}

// > sorts the loaded rows by the next column, < reverses, and the cursor
// stays on its item.
func TestColumnSorting(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 100, 30)
	press(t, m, "down")        // audrey
	press(t, m, ">", ">", ">") // by Name
	var names []string
	for _, u := range m.users.shown {
		names = append(names, u.Name)
	}
	if strings.Join(names, ",") != "Ada Admin,Audrey Auditor,Bob Builder,Carol" {
		t.Errorf("by name: %v", names)
	}
	press(t, m, "<")
	if m.users.shown[0].Name != "Carol" {
		t.Errorf("reversed: %v first", m.users.shown[0].Name)
	}
	if m.users.pane.cursorKey() != "2" {
		t.Errorf("the cursor moved to user %s", m.users.pane.cursorKey())
	}
	if !strings.Contains(screen(m), "sorted by Name ↓") {
		t.Errorf("the status does not say the order:\n%s", screen(m))
	}
}

// After a change every other section is stale and reloads when shown;
// the changed user alone is read again.
func TestChangeMarksOtherSectionsStale(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 100, 30)
	f.mu.Lock()
	f.requests = nil
	f.mu.Unlock()
	press(t, m, "down", "down", "down", "e")
	typeText(t, m, " C.")
	press(t, m, "enter")
	f.mu.Lock()
	got := strings.Join(f.requests, "\n")
	f.mu.Unlock()
	if got != "PATCH /api/admin/users/4 {\"name\":\"Carol C.\"}\nGET /api/admin/users/4" {
		t.Errorf("requests of a rename:\n%s", got)
	}
	for _, s := range []section{m.groups, m.policies, m.audit} {
		if !s.isStale() {
			t.Errorf("%s is not stale after a change", s.title())
		}
	}
	if m.users.isStale() {
		t.Error("the users section is stale after its own change")
	}
	press(t, m, "2")
	if m.groups.isStale() || m.groups.busy() {
		t.Error("the groups section did not reload when shown")
	}
}

// While a request is out the header shows the spinner; it goes once the
// answer is in.
func TestSpinnerWhileInFlight(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	_, cmd := m.Update(keyMsg("R"))
	header := strings.Split(m.View(), "\n")[0]
	if !m.busy() || !strings.Contains(header, "| ● stream") {
		t.Errorf("a reload in flight: busy %v, header %q", m.busy(), header)
	}
	drive(t, m, cmd)
	header = strings.Split(m.View(), "\n")[0]
	if m.busy() || strings.Contains(header, "| ●") {
		t.Errorf("after the answer: busy %v, header %q", m.busy(), header)
	}
}
