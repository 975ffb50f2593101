package tui

import (
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
)

func TestUsersCreate(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "n")
	if m.form == nil || m.form.title != "New user" {
		t.Fatalf("n opened %+v, want the New user form", m.form)
	}
	typeText(t, m, "dora@example.com")
	press(t, m, "tab")
	typeText(t, m, "Dora")
	press(t, m, "tab")
	typeText(t, m, "a long enough password")
	press(t, m, "tab", "tab")
	typeText(t, m, "staff")
	press(t, m, "enter")

	want := []string{`POST /api/admin/users {"email":"dora@example.com","name":"Dora","password":"a long enough password","roles":["user"],"groups":["staff"]}`}
	if got := f.seen(); !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	if m.form != nil {
		t.Error("the form stayed open after a successful submit")
	}
	if m.notice != "created dora@example.com (id 11)" || !m.noticeOK {
		t.Errorf("notice = %q (ok %v)", m.notice, m.noticeOK)
	}
	if n := len(m.users.shown); n != 5 {
		t.Errorf("after the reload %d users are shown, want 5", n)
	}
}

func TestUsersCreateNeedsEmailAndPassword(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "n")
	press(t, m, "enter", "enter", "enter", "enter", "enter")
	if m.form == nil || m.form.err != "email and password are needed" {
		t.Fatalf("form = %+v, want it open with the error", m.form)
	}
	if got := f.seen(); len(got) != 0 {
		t.Errorf("an incomplete form sent %q", got)
	}
}

func TestUsersFilter(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "/")
	typeText(t, m, "q") // q goes into the filter, it does not quit
	press(t, m, "backspace")
	typeText(t, m, "editor")
	if !m.users.typing() {
		t.Fatal("the filter does not have the keyboard")
	}
	if len(m.users.shown) != 1 || m.users.shown[0].Email != "bob@example.com" {
		t.Fatalf("filter editor shows %v, want bob only", m.users.shown)
	}
	press(t, m, "enter")
	if m.users.typing() || m.users.pane.filter.Value() != "editor" {
		t.Errorf("enter should keep the filter and give the keyboard back")
	}
	press(t, m, "esc")
	if len(m.users.shown) != 4 || m.users.pane.filter.Value() != "" {
		t.Errorf("esc on the list shows %d users, want the filter gone and all 4", len(m.users.shown))
	}
	press(t, m, "/")
	typeText(t, m, "carol")
	press(t, m, "esc")
	if len(m.users.shown) != 4 || m.users.typing() {
		t.Errorf("esc in the filter shows %d users, want all 4 and the keyboard back", len(m.users.shown))
	}
}

func TestUsersRolesRemovalAsksFirst(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "down", "down", "r") // bob: user, editor
	if m.form == nil || m.form.fields[0].input.Value() != "user, editor" {
		t.Fatalf("roles form = %+v", m.form)
	}
	press(t, m, "end")
	for range len(", editor") {
		press(t, m, "backspace")
	}
	press(t, m, "enter")
	if m.question == nil {
		t.Fatal("removing a role did not ask first")
	}
	want := "Remove role editor from bob@example.com (id 3)? Their roles become: user."
	if m.question.prompt != want {
		t.Errorf("prompt = %q, want %q", m.question.prompt, want)
	}
	if got := f.seen(); len(got) != 0 {
		t.Fatalf("sent %q before the answer", got)
	}
	press(t, m, "y")
	// Only the change is sent: a role someone added meanwhile stays.
	if got, want := f.seen(), []string{`DELETE /api/admin/users/3/roles/editor`}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestUsersAddGroupDoesNotAsk(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "down", "down", "down", "g") // carol, no groups
	typeText(t, m, "staff")
	press(t, m, "enter")
	if m.question != nil {
		t.Fatalf("adding a group asked %q", m.question.prompt)
	}
	if got, want := f.seen(), []string{`PUT /api/admin/groups/staff/members/4`}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

// Every destructive key asks, names what changes, and does nothing unless
// the answer is y; enter, n and esc all mean no.
func TestUsersDestructiveKeysAskDefaultNo(t *testing.T) {
	t.Parallel()
	cases := []struct {
		key, prompt, request string
	}{
		{"d", "Delete user bob@example.com (id 3)? Their account, sessions and tokens are removed for good.", "DELETE /api/admin/users/3"},
		{"s", "Disable bob@example.com (id 3)? They cannot sign in and their sessions end now.", `PATCH /api/admin/users/3 {"disabled":true}`},
		{"o", "End every session of bob@example.com (id 3)? They must sign in again.", "DELETE /api/admin/users/3/sessions"},
	}
	for _, c := range cases {
		for _, answer := range []string{"enter", "n", "esc", "y"} {
			t.Run(c.key+"-"+answer, func(t *testing.T) {
				t.Parallel()
				f := newFakeServer(t)
				m := mustConsole(t, f, "admin-token", 80, 24)
				press(t, m, "down", "down", c.key)
				if m.question == nil || m.question.prompt != c.prompt {
					t.Fatalf("question = %+v, want %q", m.question, c.prompt)
				}
				press(t, m, answer)
				var want []string
				if answer == "y" {
					want = []string{c.request}
				}
				if got := f.seen(); !slices.Equal(got, want) {
					t.Errorf("after %s: requests = %q, want %q", answer, got, want)
				}
				if m.question != nil {
					t.Error("the question stayed open")
				}
			})
		}
	}
}

func TestUsersEnableDoesNotAsk(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "end", "s") // carol is disabled
	if got, want := f.seen(), []string{`PATCH /api/admin/users/4 {"disabled":false}`}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	if m.notice != "enabled carol@example.com" {
		t.Errorf("notice = %q", m.notice)
	}
}

func TestUsersPasswordMustMatch(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "p")
	typeText(t, m, "first password!!")
	press(t, m, "enter")
	typeText(t, m, "other password!!")
	press(t, m, "enter")
	if m.form == nil || m.form.err != "the two passwords differ" {
		t.Fatalf("form = %+v", m.form)
	}
	if strings.Contains(screen(m), "first password") {
		t.Error("the password is shown in clear")
	}
	press(t, m, "esc")
	if m.form != nil || len(f.seen()) != 0 {
		t.Errorf("esc left the form %v, sent %q", m.form, f.seen())
	}
}

func TestUsersEditName(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "down", "e")
	if m.form == nil || m.form.fields[0].input.Value() != "Audrey Auditor" {
		t.Fatalf("name form = %+v, want it filled with the name", m.form)
	}
	press(t, m, "end")
	for range len(" Auditor") {
		press(t, m, "backspace")
	}
	press(t, m, "enter")
	if got, want := f.seen(), []string{`PATCH /api/admin/users/2 {"name":"Audrey"}`}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	if m.users.shown[1].Name != "Audrey" {
		t.Errorf("after the reload the name is %q", m.users.shown[1].Name)
	}
}

// TestUsersShowProvider: a user linked from the OpenID Connect provider is
// marked in the table and found by filtering for the provider.
func TestUsersShowProvider(t *testing.T) {
	t.Parallel()
	linked := api.User{ID: "7", Email: "ada@example.com", Provider: "https://id.example.com/realms/acme", Roles: []string{"user"}}
	local := api.User{ID: "8", Email: "bob@example.com", Roles: []string{"user"}}
	if got := userRow(linked)[1]; got != "ada@example.com (oidc)" {
		t.Errorf("linked user's email cell %q", got)
	}
	if got := userRow(local)[1]; got != "bob@example.com" {
		t.Errorf("local user's email cell %q", got)
	}
	if !userMatches(linked, "id.example.com") || userMatches(local, "id.example.com") {
		t.Error("filtering by the provider's issuer finds the wrong users")
	}
}
