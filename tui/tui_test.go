package tui

import (
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/app/api"
)

func titles(m *Model) []string {
	var out []string
	for _, s := range m.visible {
		out = append(out, s.title())
	}
	return out
}

func TestSignInWithCode(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "", 80, 24)
	if m.signIn == nil {
		t.Fatal("no token, no sign-in form")
	}
	typeText(t, m, "admin@example.com")
	press(t, m, "enter")
	typeText(t, m, "correct horse battery")
	press(t, m, "enter")
	if !m.signIn.needOTP || len(m.signIn.form.fields) != 3 || m.signIn.form.focus != 2 {
		t.Fatalf("mfa_required did not ask for the code: %+v", m.signIn)
	}
	if !strings.Contains(screen(m), "This account has a second factor") {
		t.Errorf("view does not explain the code:\n%s", screen(m))
	}
	typeText(t, m, "000000")
	press(t, m, "enter")
	if m.signIn == nil || m.signIn.form.err != "Wrong email, password or code." {
		t.Fatalf("a wrong code: %+v", m.signIn)
	}
	press(t, m, "backspace", "backspace", "backspace", "backspace", "backspace", "backspace")
	typeText(t, m, "123456")
	press(t, m, "enter")
	if m.signIn != nil {
		t.Fatalf("still signing in: %s", m.signIn.form.err)
	}
	if m.acc.me.Email != "admin@example.com" || m.acc.role() != "admin" {
		t.Errorf("signed in as %+v, %s", m.acc.me, m.acc.role())
	}
	if got := titles(m); !slices.Equal(got, []string{"Users", "Groups", "Policies", "Auth failures", "Audit"}) {
		t.Errorf("sections = %v", got)
	}
	if len(m.users.users.items) != 4 || len(m.audit.entries.items) != 3 {
		t.Errorf("sections not loaded after sign-in: %d users, %d audit entries", len(m.users.users.items), len(m.audit.entries.items))
	}
	logins := 0
	for _, r := range f.seen() {
		if strings.HasPrefix(r, "POST /api/auth/login ") {
			logins++
		}
	}
	if logins != 3 {
		t.Errorf("%d login requests, want 3", logins)
	}
}

func TestSignInKeysAreText(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "", 80, 24)
	if msgs := press(t, m, "q", "1", "tab", "?", "esc"); quits(msgs) {
		t.Fatal("q quit the sign-in form")
	}
	if got := m.signIn.form.fields[0].input.Value(); got != "q1" {
		t.Errorf("email = %q, want q1 (tab moved on, ? went to the password)", got)
	}
	if !quits(press(t, m, "ctrl+c")) {
		t.Error("ctrl+c did not quit")
	}
}

func TestBadTokenShowsSignIn(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "expired-token", 80, 24)
	if m.signIn == nil || m.signIn.form.err != "The token was not accepted: not signed in: sign in first" {
		t.Fatalf("signIn = %+v", m.signIn)
	}
}

// An auditor sees the two logs and no edit action; the console asked the
// admin API once to be sure, and the server said no.
func TestAuditorSeesOnlyTheLogs(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "auditor-token", 80, 24)
	if m.acc.role() != "read-only" {
		t.Fatalf("the auditor is taken for %s", m.acc.role())
	}
	if got := titles(m); !slices.Equal(got, []string{"Auth failures", "Audit"}) {
		t.Errorf("sections = %v, want the two logs", got)
	}
	view := screen(m)
	if !strings.Contains(view, "audrey@example.com (read-only)") {
		t.Errorf("header does not say read-only:\n%s", view)
	}
	for _, edit := range []string{"new user", "delete", "add rule"} {
		if strings.Contains(view, edit) {
			t.Errorf("the auditor's view offers %q", edit)
		}
	}
	press(t, m, "3", "5") // no such sections
	if m.active != 0 {
		t.Errorf("a number beyond the tabs moved to %d", m.active)
	}
	press(t, m, "2")
	if m.visible[m.active].title() != "Audit" {
		t.Errorf("2 shows %s, want Audit", m.visible[m.active].title())
	}
}

// The console learns what the user may do from GET /api/auth/me, and never
// by trying an admin route (which would put a refusal in the failure log).
func TestNoProbeForAccess(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	mustConsole(t, f, "auditor-token", 80, 24)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if strings.HasPrefix(r, "GET /api/admin/users") || strings.HasPrefix(r, "GET /api/admin/groups") || strings.HasPrefix(r, "GET /api/admin/policies") {
			t.Errorf("the auditor's console asked %s", r)
		}
	}
}

func TestNavigationKeys(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	steps := []struct {
		key  string
		want string
	}{
		{"tab", "Groups"}, {"tab", "Policies"}, {"shift+tab", "Groups"}, {"shift+tab", "Users"},
		{"shift+tab", "Audit"}, {"tab", "Users"}, {"4", "Auth failures"}, {"1", "Users"},
	}
	for _, s := range steps {
		press(t, m, s.key)
		if got := m.visible[m.active].title(); got != s.want {
			t.Fatalf("after %s: %s, want %s", s.key, got, s.want)
		}
	}
	press(t, m, "?")
	if !m.showHelp || !strings.Contains(screen(m), "Keys of Users") || !strings.Contains(screen(m), "reset password") {
		t.Fatalf("? did not show the full help:\n%s", screen(m))
	}
	press(t, m, "esc")
	if m.showHelp {
		t.Error("esc did not close the help")
	}
	if !quits(press(t, m, "q")) {
		t.Error("q did not quit")
	}
}

func TestQNotWhileTyping(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "n")
	if quits(press(t, m, "q", "2")) {
		t.Fatal("q quit while typing in a form")
	}
	if got := m.form.fields[0].input.Value(); got != "q2" {
		t.Errorf("typed %q, want q2", got)
	}
	if m.visible[m.active].title() != "Users" {
		t.Error("a digit typed in a form switched sections")
	}
	if !quits(press(t, m, "ctrl+c")) {
		t.Error("ctrl+c did not quit while typing")
	}
}

func TestNoticeClearsOnlyItsOwnLine(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	m.Update(noticeMsg{text: "first"})
	m.Update(noticeMsg{err: &api.Error{Status: 403, Code: "forbidden", Message: "user:1 may not DELETE /api/admin/users/1"}})
	if m.notice != "not allowed: user:1 may not DELETE /api/admin/users/1" || m.noticeOK {
		t.Fatalf("notice = %q ok=%v", m.notice, m.noticeOK)
	}
	if !strings.Contains(screen(m), "✗ not allowed: user:1 may not DELETE") {
		t.Errorf("footer lacks the 403 message:\n%s", screen(m))
	}
	m.Update(clearNoticeMsg{id: 1}) // the first line's timer
	if m.notice == "" {
		t.Fatal("an older timer cleared a newer line")
	}
	m.Update(clearNoticeMsg{id: 2})
	if m.notice != "" {
		t.Errorf("notice = %q after its timer", m.notice)
	}
}

// The production clock sets a timer to clear the footer; the test clock
// sets none, which is what lets drive run every command to the end.
func TestNoticeSetsATimer(t *testing.T) {
	t.Parallel()
	c := testClock()
	if c.after(noticeTTL, nil) != nil {
		t.Fatal("the test clock set a timer")
	}
	c.timers = true
	if c.after(noticeTTL, nil) == nil {
		t.Fatal("the production clock set no timer")
	}
}

// A 403 from the server on a change shows the server's own message.
func TestForbiddenChangeShowsServerMessage(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	// The admin loses the role behind the console's back.
	f.mu.Lock()
	f.users[0].Roles = []string{"user"}
	f.mu.Unlock()
	press(t, m, "down", "d", "y")
	if want := "not allowed: user:1 may not DELETE /api/admin/users/2"; m.notice != want {
		t.Errorf("notice = %q, want %q", m.notice, want)
	}
}

func TestDescribeError(t *testing.T) {
	t.Parallel()
	err := &api.Error{Status: 400, Code: "invalid_input", Message: "invalid input", Details: map[string]string{"password": "too short", "email": "taken"}}
	if got, want := describeError(err), "invalid input (email: taken; password: too short)"; got != want {
		t.Errorf("describeError = %q, want %q", got, want)
	}
}

var _ tea.Model = (*Model)(nil)

// A server that cannot be reached is an error in the form, which still fits.
func TestSignInServerDown(t *testing.T) {
	t.Parallel()
	m := newModel(newClient("http://127.0.0.1:1", ""), testClock(), false, "admin@example.com")
	m.Update(windowSize(80, 24))
	typeText(t, m, "whatever password")
	press(t, m, "enter")
	if m.signIn == nil || !strings.Contains(m.signIn.form.err, "connection refused") {
		t.Fatalf("signIn = %+v, want the connection error", m.signIn)
	}
	assertViewSize(t, m.View(), 80, 24)
	if !strings.Contains(screen(m), "connection refused") {
		t.Errorf("the error is not on screen:\n%s", screen(m))
	}
}

// While the token is being checked the screen says so, and q quits.
func TestCheckingToken(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := newModel(f.client("admin-token"), testClock(), false, "")
	m.Update(windowSize(80, 24))
	if !strings.Contains(screen(m), "Checking the token with http://gatehouse.test:8080…") {
		t.Errorf("screen:\n%s", screen(m))
	}
	assertViewSize(t, m.View(), 80, 24)
	if !quits(press(t, m, "q")) {
		t.Error("q did not quit while the token was checked")
	}
}
