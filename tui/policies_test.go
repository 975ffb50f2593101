package tui

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestPoliciesAdd(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "3", "a")
	typeText(t, m, "p, role:support, /api/tickets, GET")
	press(t, m, "enter")
	want := []string{`POST /api/admin/policies {"type":"p","rule":["role:support","/api/tickets","GET","*"]}`}
	if got := f.seen(); !slices.Equal(got, want) {
		t.Fatalf("requests = %q, want %q", got, want)
	}
	if m.notice != "added rule 11: p, role:support, /api/tickets, GET, *" {
		t.Errorf("notice = %q", m.notice)
	}
	if len(m.policies.shown) != 6 {
		t.Errorf("%d rules shown, want 6", len(m.policies.shown))
	}
}

func TestPoliciesAddRejectsBadLine(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "3", "a")
	typeText(t, m, "x, nonsense")
	press(t, m, "enter")
	if m.form == nil || !strings.HasPrefix(m.form.err, "write p, subject") {
		t.Fatalf("form = %+v, want it open with the format", m.form)
	}
	if len(f.seen()) != 0 {
		t.Errorf("sent %q", f.seen())
	}
}

func TestPoliciesRemoveAsks(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "3", "end", "d")
	want := "Remove rule 5: g, group:staff, role:editor? What it links stops at the next request."
	if m.question == nil || m.question.prompt != want {
		t.Fatalf("question = %+v, want %q", m.question, want)
	}
	press(t, m, "y")
	if got, want := f.seen(), []string{"DELETE /api/admin/policies/5"}; !slices.Equal(got, want) {
		t.Errorf("requests = %q, want %q", got, want)
	}
	if len(m.policies.rules.items) != 4 {
		t.Errorf("%d rules after the reload, want 4", len(m.policies.rules.items))
	}
}

func TestPoliciesImport(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "extra.csv")
	csv := "p, role:support, /api/tickets, GET, *\ng, group:help, role:support\n"
	if err := os.WriteFile(path, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, replace := range []string{"no", "yes"} {
		t.Run("replace="+replace, func(t *testing.T) {
			t.Parallel()
			f := newFakeServer(t)
			m := mustConsole(t, f, "admin-token", 80, 24)
			press(t, m, "3", "i")
			typeText(t, m, path)
			press(t, m, "tab")
			for range 2 {
				press(t, m, "backspace")
			}
			typeText(t, m, replace)
			press(t, m, "enter")
			body := `{"csv":"p, role:support, /api/tickets, GET, *\ng, group:help, role:support\n"}`
			if replace == "yes" {
				want := "Replace the whole policy with the rules in " + path + "? Every rule that is not in that file is removed."
				if m.question == nil || m.question.prompt != want {
					t.Fatalf("question = %+v, want %q", m.question, want)
				}
				press(t, m, "y")
				body = `{"csv":"p, role:support, /api/tickets, GET, *\ng, group:help, role:support\n","replace":true}`
			}
			if got, want := f.seen(), []string{"POST /api/admin/policies/import " + body}; !slices.Equal(got, want) {
				t.Errorf("requests = %q, want %q", got, want)
			}
			if want := "imported " + path + ": 2 rules added, 0 removed"; m.notice != want {
				t.Errorf("notice = %q, want %q", m.notice, want)
			}
		})
	}
}

func TestPoliciesImportMissingFile(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "3", "i")
	typeText(t, m, "/no/such/file.csv")
	press(t, m, "enter", "enter")
	// The form stays open with what was typed and says why.
	if m.form == nil || !strings.Contains(m.form.err, "no such file") || m.form.values()[0] != "/no/such/file.csv" {
		t.Fatalf("form = %+v, want it open with the file error", m.form)
	}
	if len(f.seen()) != 0 {
		t.Errorf("sent %q", f.seen())
	}
}

func TestPoliciesWhatIf(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t)
	m := mustConsole(t, f, "admin-token", 80, 24)
	press(t, m, "3", "w")
	if !m.policies.typing() {
		t.Fatal("the what-if panel does not have the keyboard")
	}
	typeText(t, m, "user:3")
	press(t, m, "enter")
	typeText(t, m, "/api/notes/:id")
	press(t, m, "enter")
	typeText(t, m, "delete")
	press(t, m, "enter")
	typeText(t, m, "user:3")
	press(t, m, "enter")
	want := []string{`POST /api/admin/policies/check {"subject":"user:3","object":"/api/notes/:id","action":"DELETE","owner":"user:3"}`}
	if got := f.seen(); !slices.Equal(got, want) {
		t.Fatalf("requests = %q, want %q", got, want)
	}
	view := screen(m)
	for _, s := range []string{"DENIED  user:3 DELETE /api/notes/:id (owner user:3)", "no rule lets user:3 DELETE /api/notes/:id; gatehouse denies by default."} {
		if !strings.Contains(view, s) {
			t.Errorf("view lacks %q:\n%s", s, view)
		}
	}
	// q is a letter while the panel is open, and esc closes the panel.
	if quits(press(t, m, "q")) {
		t.Fatal("q quit while typing in the what-if panel")
	}
	press(t, m, "esc")
	if m.policies.whatIf != nil || m.policies.typing() {
		t.Error("esc did not close the what-if panel")
	}
}

func TestParseRule(t *testing.T) {
	t.Parallel()
	cases := []struct {
		line, want string
		ok         bool
	}{
		{"p, role:editor, /api/notes/:id, PATCH, *", "p [role:editor /api/notes/:id PATCH *]", true},
		{"p,role:user,/api/notes/:id,GET,owner", "p [role:user /api/notes/:id GET owner]", true},
		{"p, anonymous, /api/health, GET", "p [anonymous /api/health GET *]", true},
		{"g, user:7, role:admin", "g [user:7 role:admin]", true},
		{"g, user:7", "", false},
		{"p, a, b", "", false},
		{"q, a, b, c", "", false},
		{`p, "unterminated`, "", false},
	}
	for _, c := range cases {
		in, err := parseRule(c.line)
		if (err == nil) != c.ok {
			t.Errorf("parseRule(%q) error = %v, want ok %v", c.line, err, c.ok)
			continue
		}
		if got := in.Type + " [" + strings.Join(in.Rule, " ") + "]"; c.ok && got != c.want {
			t.Errorf("parseRule(%q) = %s, want %s", c.line, got, c.want)
		}
	}
}
