// Package tui is gatehouse's terminal admin console, a Bubble Tea program
// that is an HTTP client of the admin API through app/api.Client.
//
// The root Model signs in, then routes to five sections that share one small
// interface (users, groups, policies, auth failures, audit). Every call to
// the server runs in a tea.Cmd, so nothing blocks the keyboard; answers come
// back as messages. The live auth-failure stream is read by a goroutine and
// handed to the model one event at a time.
package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aymanbagabas/go-osc52/v2"
	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/gatehouse/gatehouse/app/api"
)

// noticeTTL is how long a line stays in the footer.
const noticeTTL = 5 * time.Second

// Options are the console's settings that come from outside it.
type Options struct {
	// Email fills in the sign-in form.
	Email string
	// Now is the clock; nil means time.Now. Tests fix it.
	Now func() time.Time
	// Location is the time zone times are shown in; nil means time.Local.
	Location *time.Location
	// Clipboard receives the OSC 52 sequence that copies a text to the
	// terminal's clipboard; nil means standard output.
	Clipboard io.Writer
}

// clock tells the time, formats times the same way everywhere and sets
// timers. Tests use one with a fixed time and no timers, so that every
// command a test runs answers at once.
type clock struct {
	nowFunc func() time.Time
	loc     *time.Location
	timers  bool
}

func (c clock) now() time.Time            { return c.nowFunc() }
func (c clock) short(t time.Time) string  { return t.In(c.loc).Format("15:04:05") }
func (c clock) medium(t time.Time) string { return t.In(c.loc).Format("01-02 15:04:05") }
func (c clock) long(t time.Time) string   { return t.In(c.loc).Format("2006-01-02 15:04:05 MST") }

// after is a command that sends msg after d.
func (c clock) after(d time.Duration, msg tea.Msg) tea.Cmd {
	if !c.timers {
		return nil
	}
	return tea.Tick(d, func(time.Time) tea.Msg { return msg })
}

// Model is the console's root Bubble Tea model: sign-in, header, tabs,
// footer, dialogs and help; the sections do the rest.
type Model struct {
	client *api.Client
	clock  clock
	width  int
	height int

	signIn *signIn // while nobody is signed in
	acc    *access // who is signed in and what they may do
	// resume says the sign-in form is back after the session ended: the
	// sections keep their place and reload once signed in again.
	resume bool
	// clipboard receives OSC 52 copies.
	clipboard io.Writer
	spin      spinner.Model
	spinning  bool
	pending   bool // a change sent from a form is waiting for its answer

	users    *usersSection
	groups   *groupsSection
	policies *policiesSection
	failures *failuresSection
	audit    *auditSection
	visible  []section
	active   int

	form     *form         // open dialog form, if any
	question *confirmation // open confirmation, if any
	showHelp bool

	notice   string
	noticeOK bool
	noticeID int

	help help.Model
	keys globalKeys
}

type (
	// clearNoticeMsg clears the footer line it was set with.
	clearNoticeMsg struct{ id int }
	// copyMsg asks the root to copy text to the clipboard and say done.
	copyMsg struct{ text, done string }
)

// Minimum window: below it the console says so instead of a broken layout.
const (
	minWidth  = 60
	minHeight = 20
)

// New returns the console for the server client talks to. With a token in
// client the console starts signed in, otherwise with the sign-in form.
func New(client *api.Client, opts Options) *Model {
	c := clock{nowFunc: opts.Now, loc: opts.Location, timers: true}
	if c.nowFunc == nil {
		c.nowFunc = time.Now
	}
	if c.loc == nil {
		c.loc = time.Local
	}
	m := newModel(client, c, true, opts.Email)
	if opts.Clipboard != nil {
		m.clipboard = opts.Clipboard
	}
	return m
}

// newModel builds the console; follow says whether the auth-failure section
// follows the live stream (tests drive the stream separately).
func newModel(client *api.Client, c clock, follow bool, email string) *Model {
	acc := &access{}
	m := &Model{
		client:    client,
		clock:     c,
		acc:       acc,
		width:     80,
		height:    24,
		clipboard: os.Stdout,
		users:     newUsersSection(client, acc, c),
		policies:  newPoliciesSection(client, acc),
		failures:  newFailuresSection(client, c, follow),
		audit:     newAuditSection(client, c),
		help:      help.New(),
		keys:      newGlobalKeys(),
		spin:      spinner.New(spinner.WithSpinner(spinner.Line)),
	}
	m.groups = newGroupsSection(client, acc, m.knownUser)
	if client.Token == "" {
		m.signIn = newSignIn(client, email, "")
	}
	return m
}

// Init checks the token, if the console was given one.
func (m *Model) Init() tea.Cmd {
	if m.signIn != nil {
		return nil
	}
	return m.whoAmI()
}

func (m *Model) whoAmI() tea.Cmd {
	client := m.client
	return func() tea.Msg {
		me, err := client.Me(context.Background())
		return signedInMsg{me: me, err: err}
	}
}

// knownUser is a user the users section has loaded, to name group members
// without asking the server.
func (m *Model) knownUser(id string) (api.User, bool) {
	for _, u := range m.users.users.items {
		if u.ID == id {
			return u, true
		}
	}
	return api.User{}, false
}

// Update handles a message: keys go to the open dialog, else to the root's
// own keys, else to the shown section; every other message goes to every
// section, so an answer lands even when its tab is not shown.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.resize()
		return m, nil
	case tea.KeyMsg:
		if key.Matches(msg, m.keys.ForceQuit) {
			return m, m.quit()
		}
		return m, m.handleKey(msg)
	case signedInMsg:
		return m, m.signedIn(msg)
	case noticeMsg:
		if isStatus(msg.err, http.StatusUnauthorized) && m.signIn == nil && m.acc.me.ID != "" {
			return m, m.sessionEnded(msg.err)
		}
		var conflict conflictError
		if errors.As(msg.err, &conflict) {
			// The form was made from what changed: it closes, and the
			// footer says what changed.
			m.form, m.pending = nil, false
		}
		if m.form != nil && m.pending {
			// The answer to the form's change: on success the form closes;
			// on a refusal it stays, with what was typed and the field marked.
			m.pending = false
			if msg.err != nil {
				m.form.failed(msg.err)
				return m, nil
			}
			m.form = nil
		}
		return m, m.setNotice(msg)
	case copyMsg:
		return m, m.copy(msg)
	case jumpMsg:
		return m, m.jump(msg)
	case spinner.TickMsg:
		if !m.spinning {
			return m, nil
		}
		var cmd tea.Cmd
		m.spin, cmd = m.spin.Update(msg)
		if !m.busy() {
			m.spinning = false
			return m, nil
		}
		return m, cmd
	case clearNoticeMsg:
		if msg.id == m.noticeID {
			m.notice = ""
		}
		return m, nil
	case askMsg:
		m.question = &confirmation{prompt: printable(msg.prompt), yes: msg.yes, keys: newConfirmKeys()}
		m.form, m.pending = nil, false
		return m, nil
	case userChangedMsg:
		m.markStale(m.users)
	case groupChangedMsg:
		m.markStale(m.groups)
	case policyChangedMsg:
		m.markStale(m.policies)
	case openFormMsg:
		m.form = msg.form
		m.form.setWidth(m.dialogWidth())
		return m, nil
	}
	var cmds []tea.Cmd
	for _, s := range m.allSections() {
		cmds = append(cmds, s.update(msg))
	}
	cmds = append(cmds, m.startSpinner())
	return m, tea.Batch(cmds...)
}

// markStale marks every section but the one that made a change stale: the
// shown one reloads now, the others when next shown. The changing section
// reads again only the object it changed.
func (m *Model) markStale(origin section) {
	for _, s := range m.allSections() {
		if s != origin {
			s.markStale()
		}
	}
}

// busy reports whether a request is in flight: a load or a change.
func (m *Model) busy() bool {
	if m.pending {
		return true
	}
	for _, s := range m.visible {
		if s.busy() {
			return true
		}
	}
	return false
}

// startSpinner starts the spinner's ticks when a request went out.
func (m *Model) startSpinner() tea.Cmd {
	if m.spinning || !m.busy() || !m.clock.timers {
		return nil
	}
	m.spinning = true
	return m.spin.Tick
}

// sessionEnded brings back the sign-in form after a 401: the session ended
// (signed out elsewhere, expired, password changed). The sections keep
// their filter, cursor and place, and reload once signed in again.
func (m *Model) sessionEnded(err error) tea.Cmd {
	m.resume = true
	m.form, m.question, m.pending = nil, nil, false
	m.signIn = newSignIn(m.client, m.acc.me.Email, "Your session ended ("+describeError(err)+"). Sign in again to go on where you were.")
	m.resize()
	return nil
}

// copy writes text to the terminal's clipboard with OSC 52, which works
// over SSH and inside tmux (with set-clipboard on).
func (m *Model) copy(msg copyMsg) tea.Cmd {
	if _, err := io.WriteString(m.clipboard, osc52.New(msg.text).String()); err != nil {
		return fail(err)
	}
	return notify(msg.done)
}

// jump shows the section named to, filtered by query.
func (m *Model) jump(msg jumpMsg) tea.Cmd {
	type jumper interface{ jump(string) tea.Cmd }
	var target section
	switch msg.to {
	case "users":
		target = m.users
	case "groups":
		target = m.groups
	case "policies":
		target = m.policies
	case "audit":
		target = m.audit
	case "failures":
		target = m.failures
	}
	i := slices.Index(m.visible, target)
	j, ok := target.(jumper)
	if i < 0 || !ok {
		return fail(errors.New("that section is not available to this session"))
	}
	m.active = i
	return j.jump(msg.query)
}

// show makes section i the shown one, reloading it when it is stale.
func (m *Model) show(i int) tea.Cmd {
	m.active = i
	if s := m.visible[i]; s.isStale() {
		return s.load()
	}
	return nil
}

func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	switch {
	case m.signIn != nil:
		return m.signIn.update(msg)
	case m.question != nil:
		done, cmd := m.question.update(msg)
		if done {
			m.question = nil
		}
		return cmd
	case m.form != nil:
		if m.pending {
			return nil // the change is on its way; its answer closes or keeps the form
		}
		state, cmd := m.form.update(msg)
		switch {
		case state == formCancelled:
			m.form = nil
		case state == formSubmitted && cmd == nil:
			m.form = nil
		case state == formSubmitted:
			m.pending = true
			return tea.Batch(cmd, m.startSpinner())
		}
		return cmd
	case m.showHelp:
		switch {
		case key.Matches(msg, m.keys.Quit):
			return m.quit()
		case key.Matches(msg, m.keys.Help, m.keys.Back):
			m.showHelp = false
		}
		return nil
	case len(m.visible) == 0: // checking the token
		if key.Matches(msg, m.keys.Quit) {
			return m.quit()
		}
		return nil
	}
	current := m.visible[m.active]
	if !current.typing() {
		switch {
		case key.Matches(msg, m.keys.Quit):
			return m.quit()
		case key.Matches(msg, m.keys.Help):
			m.showHelp = true
			return nil
		case key.Matches(msg, m.keys.Next):
			return m.show((m.active + 1) % len(m.visible))
		case key.Matches(msg, m.keys.Prev):
			return m.show((m.active - 1 + len(m.visible)) % len(m.visible))
		case key.Matches(msg, m.keys.Jump):
			if n, err := strconv.Atoi(msg.String()); err == nil && n <= len(m.visible) {
				return m.show(n - 1)
			}
			return nil
		}
	}
	return tea.Batch(current.update(msg), m.startSpinner())
}

// signedIn shows the sections the user may use and starts loading them.
func (m *Model) signedIn(msg signedInMsg) tea.Cmd {
	if msg.err != nil {
		if m.signIn == nil {
			problem := "Could not check the token: " + describeError(msg.err)
			if api.IsCode(msg.err, api.CodeUnauthorized) {
				problem = "The token was not accepted: " + describeError(msg.err)
			}
			m.signIn = newSignIn(m.client, "", problem)
			m.resize()
		} else {
			m.signIn.failed(msg.err)
		}
		return nil
	}
	m.signIn = nil
	m.acc.set(msg.me)
	m.setSections()
	if m.resume {
		// Signed in again: every section goes on where it was; the shown
		// one reloads now (same filter, the cursor stays on its item).
		m.resume = false
		for _, s := range m.allSections() {
			s.markStale()
		}
		var cmds []tea.Cmd
		if len(m.visible) > 0 {
			cmds = append(cmds, m.show(m.active))
		}
		if m.failures.state.phase == streamDenied || m.failures.state.phase == streamOff {
			m.failures.stream = nil
			cmds = append(cmds, m.failures.load())
		}
		return tea.Batch(cmds...)
	}
	// Each section loads its first page now: one request each.
	var cmds []tea.Cmd
	for _, s := range m.visible {
		cmds = append(cmds, s.load())
	}
	return tea.Batch(cmds...)
}

// setSections shows the sections the server says the user may read.
func (m *Model) setSections() {
	var shown section
	if len(m.visible) > 0 {
		shown = m.visible[m.active]
	}
	m.visible = nil
	for _, s := range []struct {
		s     section
		route string
	}{{m.users, routeUsers}, {m.groups, routeGroups}, {m.policies, routePolicies}, {m.failures, routeFailures}, {m.audit, routeAudit}} {
		if m.acc.can(s.route) {
			m.visible = append(m.visible, s.s)
		}
	}
	m.active = max(slices.Index(m.visible, shown), 0)
	m.resize()
}

func (m *Model) allSections() []section {
	return []section{m.users, m.groups, m.policies, m.failures, m.audit}
}

func (m *Model) quit() tea.Cmd {
	m.failures.stop()
	return tea.Quit
}

func (m *Model) setNotice(n noticeMsg) tea.Cmd {
	m.noticeID++
	text, ok := n.text, true
	if n.err != nil {
		text, ok = describeError(n.err), false
	}
	// The footer is one line: a message of several must not push the
	// header off the screen.
	m.notice, m.noticeOK = printable(strings.Join(strings.Fields(text), " ")), ok
	return m.clock.after(noticeTTL, clearNoticeMsg{id: m.noticeID})
}

// The screen is the header, the tabs, the body, the notice line and the
// short help: four lines around the body.
const chromeLines = 4

func (m *Model) bodyHeight() int { return max(m.height-chromeLines, 3) }

func (m *Model) dialogWidth() int { return min(m.width-4, 72) }

func (m *Model) resize() {
	for _, s := range m.allSections() {
		s.setSize(m.width, m.bodyHeight())
	}
	if m.signIn != nil {
		m.signIn.setSize(m.width, m.height)
	}
	if m.form != nil {
		m.form.setWidth(m.dialogWidth())
	}
	m.help.Width = m.width
}

// View renders the whole screen.
func (m *Model) View() string {
	if m.width < minWidth || m.height < minHeight {
		text := fmt.Sprintf("The window is %dx%d; the console needs at least %dx%d. Make it larger.", m.width, m.height, minWidth, minHeight)
		return lipgloss.Place(m.width, m.height, lipgloss.Center, lipgloss.Center, lipgloss.NewStyle().Width(max(m.width-2, 1)).Render(text))
	}
	if m.signIn != nil {
		return m.signIn.view()
	}
	if m.acc.me.ID != "" && len(m.visible) == 0 {
		text := "Signed in as " + m.acc.me.Email + ", who may use none of the admin API: nothing to show. q quits."
		return lipgloss.Place(m.width, m.height, lipgloss.Center, lipgloss.Center, lipgloss.NewStyle().Width(m.width-4).Render(text))
	}
	if len(m.visible) == 0 {
		text := styleMuted.Render("Checking the token with " + m.client.BaseURL + "…")
		return lipgloss.Place(m.width, m.height, lipgloss.Center, lipgloss.Center, text)
	}
	body := m.bodyView()
	body = lipgloss.NewStyle().Width(m.width).Height(m.bodyHeight()).MaxHeight(m.bodyHeight()).MaxWidth(m.width).Render(body)
	return strings.Join([]string{m.headerView(), m.tabsView(), body, m.noticeView(), m.helpView()}, "\n")
}

func (m *Model) bodyView() string {
	switch {
	case m.question != nil:
		box := styleDanger.Render(m.question.view(m.dialogWidth() - 4))
		return lipgloss.Place(m.width, m.bodyHeight(), lipgloss.Center, lipgloss.Center, box)
	case m.form != nil:
		box := styleDialog.Render(m.form.view())
		return lipgloss.Place(m.width, m.bodyHeight(), lipgloss.Center, lipgloss.Center, box)
	case m.showHelp:
		return m.fullHelpView()
	}
	return m.visible[m.active].view()
}

// headerView is the server, who is signed in and the stream's state, which
// keeps its place on the right when the line is too long for the terminal.
func (m *Model) headerView() string {
	who := m.acc.me.Email
	if who == "" {
		who = "user " + m.acc.me.ID
	}
	role := m.acc.role()
	server := strings.TrimPrefix(strings.TrimPrefix(m.client.BaseURL, "http://"), "https://")
	sep := styleMuted.Render(" │ ")
	left := styleBrand.Render("gatehouse") + sep + server + sep + who + styleMuted.Render(" ("+role+")")
	stream := m.failures.state
	right := styleGood.Render("● " + stream.at(m.clock.now()))
	if stream.phase != streamLive {
		right = styleWarn.Render("● " + stream.at(m.clock.now()))
	}
	if m.busy() {
		right = m.spin.View() + " " + right
	}
	left = truncate(left, m.width-lipgloss.Width(right)-1)
	gap := max(m.width-lipgloss.Width(left)-lipgloss.Width(right), 1)
	return truncate(left+strings.Repeat(" ", gap)+right, m.width)
}

func (m *Model) tabsView() string {
	tabs := make([]string, 0, len(m.visible))
	for i, s := range m.visible {
		// The active tab is bracketed as well as styled, so that it shows
		// without colour (NO_COLOR) too.
		label := strconv.Itoa(i+1) + " " + s.title()
		if i == m.active {
			tabs = append(tabs, "["+styleActiveTab.Render(label)+"]")
		} else {
			tabs = append(tabs, " "+styleTab.Render(label)+" ")
		}
	}
	return truncate(lipgloss.JoinHorizontal(lipgloss.Top, tabs...), m.width)
}

func (m *Model) noticeView() string {
	switch {
	case m.notice == "":
		return ""
	case m.noticeOK:
		return truncate(styleGood.Render("✓ "+m.notice), m.width)
	}
	return truncate(styleBad.Render("✗ "+m.notice), m.width)
}

// helpView is the short help: the dialog's keys, or the section's and the
// root's.
func (m *Model) helpView() string {
	var keys []key.Binding
	switch {
	case m.question != nil:
		keys = []key.Binding{m.question.keys.Yes, m.question.keys.No}
	case m.form != nil:
		keys = []key.Binding{m.form.keys.Submit, m.form.keys.Next, m.form.keys.Cancel, m.keys.ForceQuit}
	case m.showHelp:
		keys = []key.Binding{m.keys.Help, m.keys.Back, m.keys.Quit}
	case len(m.visible) > 0:
		current := m.visible[m.active]
		keys = append(keys, current.shortHelp()...)
		if current.typing() {
			keys = append(keys, m.keys.ForceQuit)
		} else {
			keys = append(keys, m.keys.Next, m.keys.Help, m.keys.Quit)
		}
	}
	// help's own cut leaves the last item in when its "…" does not fit.
	return truncate(m.help.ShortHelpView(keys), m.width)
}

func (m *Model) fullHelpView() string {
	current := m.visible[m.active]
	everywhere := [][]key.Binding{{m.keys.Next, m.keys.Prev, m.keys.Jump}, {m.keys.Help, m.keys.Back, m.keys.Quit, m.keys.ForceQuit}}
	text := "Before anything is deleted, disabled or removed, the console asks; the answer is No unless you press y."
	return styleTitle.Render("Keys of "+current.title()) + "\n\n" + m.help.FullHelpView(current.fullHelp()) + "\n\n" +
		styleTitle.Render("Everywhere") + "\n\n" + m.help.FullHelpView(everywhere) + "\n\n" +
		styleMuted.Width(m.width).Render(text)
}
