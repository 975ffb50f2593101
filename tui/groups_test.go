package tui

import (
	"slices"
	"testing"
)

func TestGroupsMembersAddAndRemove(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "2", "down", "enter") // staff
	if m.groups.members == nil || m.groups.members.group != "staff" {
		t.Fatalf("enter did not open the members of staff: %+v", m.groups.members)
	}
	if !slices.Equal(m.groups.members.ids, []string{"3"}) {
		t.Fatalf("members = %v, want [3]", m.groups.members.ids)
	}
	press(t, m, "a")
	typeText(t, m, "CAROL@example.com") // an email, in any case, is resolved to the id
	press(t, m, "enter")
	if got, want := f.seen(), []string{"PUT /api/admin/groups/staff/members/4"}; !slices.Equal(got, want) {
		t.Fatalf("requests = %q, want %q", got, want)
	}
	if m.notice != "added carol@example.com (id 4) to staff" {
		t.Errorf("notice = %q", m.notice)
	}
	if !slices.Equal(m.groups.members.ids, []string{"3", "4"}) {
		t.Fatalf("after the reload members = %v, want [3 4]", m.groups.members.ids)
	}

	press(t, m, "d")
	want := "Take bob@example.com (id 3) out of group staff? They lose the roles it gives."
	if m.question == nil || m.question.prompt != want {
		t.Fatalf("question = %+v, want %q", m.question, want)
	}
	press(t, m, "y")
	if got := f.seen(); got[len(got)-1] != "DELETE /api/admin/groups/staff/members/3" {
		t.Errorf("last request = %q", got[len(got)-1])
	}
	press(t, m, "esc")
	if m.groups.members != nil {
		t.Error("esc did not go back to the groups")
	}
}

func TestGroupsCreateAndDelete(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "2", "n")
	typeText(t, m, "support")
	press(t, m, "tab")
	typeText(t, m, "answers tickets")
	press(t, m, "tab")
	typeText(t, m, "editor, user")
	press(t, m, "enter")
	if got, want := f.seen(), []string{`POST /api/admin/groups {"name":"support","description":"answers tickets","roles":["editor","user"]}`}; !slices.Equal(got, want) {
		t.Fatalf("requests = %q, want %q", got, want)
	}
	if len(m.groups.shown) != 3 {
		t.Fatalf("%d groups shown after create, want 3", len(m.groups.shown))
	}
	press(t, m, "down", "d") // staff
	want := "Delete group staff? Its members (1) lose the roles it gives (editor), and the rules that name group:staff are removed."
	if m.question == nil || m.question.prompt != want {
		t.Fatalf("question = %+v, want %q", m.question, want)
	}
	press(t, m, "n")
	if len(f.seen()) != 1 {
		t.Errorf("no still deleted: %q", f.seen())
	}
}

func TestGroupsRoleRemovalAsks(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "2", "down", "r")
	press(t, m, "end")
	for range len("editor") {
		press(t, m, "backspace")
	}
	press(t, m, "enter")
	want := "Remove role editor from group staff? Its members (1) lose it unless they hold it otherwise. Its roles become: none."
	if m.question == nil || m.question.prompt != want {
		t.Fatalf("question = %+v, want %q", m.question, want)
	}
	press(t, m, "y")
	if got, want := f.seen(), []string{`PATCH /api/admin/groups/staff {"roles":[]}`}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
}

func TestGroupsDescribe(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "2", "e")
	if m.form == nil || m.form.title != "Description of auditors" {
		t.Fatalf("form = %+v", m.form)
	}
	typeText(t, m, " and nothing else")
	press(t, m, "enter")
	if got, want := f.seen(), []string{`PATCH /api/admin/groups/auditors {"description":"read the logs and nothing else"}`}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
}
