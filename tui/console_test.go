package tui

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"github.com/gatehouse/gatehouse/app/api"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMain(m *testing.M) {
	// Golden views are plain text: no colour, no bold.
	lipgloss.SetColorProfile(termenv.Ascii)
	code := m.Run()
	stopScale()
	os.Exit(code)
}

// testClock is a clock stopped at fakeTime, in UTC, without timers.
func testClock() clock {
	return clock{nowFunc: func() time.Time { return fakeTime }, loc: time.UTC}
}

// mustConsole returns a console of f signed in with token ("" for the
// sign-in form), sized width by height, with its first loads done.
func mustConsole(t *testing.T, f *fakeServer, token string, width, height int) *Model {
	t.Helper()
	m := newModel(f.client(token), testClock(), false, "")
	m.Update(tea.WindowSizeMsg{Width: width, Height: height})
	drive(t, m, m.Init())
	return m
}

// drive runs cmd and every command that follows from it, feeding each
// message to m, and returns the messages in order. Every command must answer
// within a few seconds: the test clock sets no timers and the tests do not
// follow the stream, so a command that hangs is a bug.
func drive(t *testing.T, m *Model, cmd tea.Cmd) []tea.Msg {
	t.Helper()
	var seen []tea.Msg
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		c := queue[0]
		queue = queue[1:]
		if c == nil {
			continue
		}
		msg := runCmd(t, c)
		switch msg := msg.(type) {
		case nil:
			continue
		case tea.BatchMsg:
			queue = append(queue, msg...)
			continue
		case tea.QuitMsg:
			seen = append(seen, msg)
			continue
		}
		seen = append(seen, msg)
		_, next := m.Update(msg)
		queue = append(queue, next)
	}
	return seen
}

// runCmd runs one command with a deadline. The deadline catches a command
// that hangs; it is no speed target (a sign-in hashes a password, slow
// under the race detector on a busy machine).
func runCmd(t *testing.T, c tea.Cmd) tea.Msg {
	t.Helper()
	done := make(chan tea.Msg, 1)
	go func() { done <- c() }()
	select {
	case msg := <-done:
		return msg
	case <-time.After(30 * time.Second):
		t.Fatalf("a command did not answer within 30s")
		return nil
	}
}

// keyMsg is the key message of a key name ("enter", "ctrl+c", "space") or
// of typed text.
func keyMsg(k string) tea.KeyMsg {
	named := map[string]tea.KeyType{
		"enter": tea.KeyEnter, "esc": tea.KeyEscape, "tab": tea.KeyTab, "shift+tab": tea.KeyShiftTab,
		"ctrl+c": tea.KeyCtrlC, "up": tea.KeyUp, "down": tea.KeyDown, "backspace": tea.KeyBackspace,
		"home": tea.KeyHome, "end": tea.KeyEnd,
	}
	if t, ok := named[k]; ok {
		return tea.KeyMsg{Type: t}
	}
	if k == "space" {
		return tea.KeyMsg{Type: tea.KeySpace, Runes: []rune{' '}}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(k)}
}

// press sends keys to m one by one, running what each one starts, and
// returns the messages that came of them.
func press(t *testing.T, m *Model, keys ...string) []tea.Msg {
	t.Helper()
	var seen []tea.Msg
	for _, k := range keys {
		_, cmd := m.Update(keyMsg(k))
		seen = append(seen, drive(t, m, cmd)...)
	}
	return seen
}

// typeText types text into whatever has the keyboard, one rune at a time.
func typeText(t *testing.T, m *Model, text string) {
	t.Helper()
	for _, r := range text {
		press(t, m, string(r))
	}
}

// quits reports whether msgs hold tea.QuitMsg.
func quits(msgs []tea.Msg) bool {
	for _, msg := range msgs {
		if _, ok := msg.(tea.QuitMsg); ok {
			return true
		}
	}
	return false
}

// assertGolden compares view with testdata/name.golden; -update rewrites it.
func assertGolden(t *testing.T, name, view string) {
	t.Helper()
	// Trailing spaces are padding, not content; keep the files diffable.
	lines := strings.Split(view, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	got := strings.Join(lines, "\n") + "\n"
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./tui -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("view differs from %s (go test ./tui -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// assertViewSize checks that view fills exactly width by height cells.
func assertViewSize(t *testing.T, view string, width, height int) {
	t.Helper()
	lines := strings.Split(view, "\n")
	if len(lines) != height {
		t.Errorf("view has %d lines, want %d", len(lines), height)
	}
	for i, l := range lines {
		if w := lipgloss.Width(l); w > width {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i+1, w, width, l)
		}
	}
}

// screen is m's view without the spaces that pad its lines.
func screen(m *Model) string {
	lines := strings.Split(m.View(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

// newClient is a client of the server at url.
func newClient(url, token string) *api.Client { return api.NewClient(url, token) }

// windowSize is a window size message.
func windowSize(w, h int) tea.WindowSizeMsg { return tea.WindowSizeMsg{Width: w, Height: h} }
