package tui

import (
	"context"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/store"
)

func TestPrintable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"Ada Lovelace", "Ada Lovelace"},
		{"Zoë 日本", "Zoë 日本"},
		{"csi\u009b31mred", `csi\x9b31mred`},
		{"esc\x1b[2J", `esc\x1b[2J`},
		{"abc\u202Egpj.exe", `abc\u202Egpj.exe`},
		{"iso\u2066late\u2069", `iso\u2066late\u2069`},
		{"zero\u200Bwidth", `zero\u200Bwidth`},
		{"bad\xffbyte", `bad\xffbyte`},
		{"tab\there", `tab\x09here`},
	} {
		if got := printable(tc.in); got != tc.want {
			t.Errorf("printable(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := printableLines("a\nb\u009b"); got != "a\nb\\x9b" {
		t.Errorf("printableLines kept %q", got)
	}
}

// TestRealServerEscapesUserText: a user whose name holds a C1 control and
// a text-direction override (written before the server refused them) is
// listed by the console with both escaped: nothing reaches the terminal
// raw.
func TestRealServerEscapesUserText(t *testing.T) {
	t.Parallel()
	rs := newRealServer(t)
	u, err := rs.srv.CreateUser(context.Background(), "old@example.com", "Mallory", realPassword, []string{"user"})
	if err != nil {
		t.Fatal(err)
	}
	// The server refuses such a name now: it is written to the store as an
	// older version would have.
	err = rs.db.Update(context.Background(), func(tx store.Tx) error {
		u.Name = "Mal\u009b2J\u202Eory"
		return tx.Users().Update(&u)
	})
	if err != nil {
		t.Fatal(err)
	}
	m := newModel(newClient(rs.url, ""), testClock(), false, "")
	m.Update(windowSize(120, 40))
	mustSignIn(t, m, "admin@example.com", realPassword)
	if m.signIn != nil {
		t.Fatalf("still signing in: %q", m.signIn.form.err)
	}
	view := m.View()
	if strings.ContainsAny(view, "\u009b\u202E") {
		t.Fatalf("the view holds the raw characters:\n%s", view)
	}
	if !strings.Contains(view, `Mal\x9b2J\u202Eory`) {
		t.Fatalf("the name is not shown escaped:\n%s", view)
	}
}
