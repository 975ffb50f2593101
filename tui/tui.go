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
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
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
	me     api.User
	admin  bool // may use the admin sections; false shows only the logs

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
	// accessMsg answers whether a user without the admin role may use the
	// admin API anyway (a role given through a group, say).
	accessMsg struct{ admin bool }
	// clearNoticeMsg clears the footer line it was set with.
	clearNoticeMsg struct{ id int }
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
	return newModel(client, c, true, opts.Email)
}

// newModel builds the console; follow says whether the auth-failure section
// follows the live stream (tests drive the stream separately).
func newModel(client *api.Client, c clock, follow bool, email string) *Model {
	m := &Model{
		client:   client,
		clock:    c,
		width:    80,
		height:   24,
		users:    newUsersSection(client),
		groups:   newGroupsSection(client),
		policies: newPoliciesSection(client),
		failures: newFailuresSection(client, c, follow),
		audit:    newAuditSection(client, c),
		help:     help.New(),
		keys:     newGlobalKeys(),
	}
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
		u, err := client.Me(context.Background())
		return signedInMsg{user: u, err: err}
	}
}

// probeAdmin asks the admin API itself whether the user may use it.
func (m *Model) probeAdmin() tea.Cmd {
	client := m.client
	return func() tea.Msg {
		_, err := client.ListUsers(context.Background(), api.ListOptions{Limit: 1})
		return accessMsg{admin: err == nil}
	}
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
	case accessMsg:
		if msg.admin && !m.admin {
			m.admin = true
			m.setSections()
			return m, tea.Batch(m.users.load(), m.groups.load(), m.policies.load())
		}
		return m, nil
	case noticeMsg:
		return m, m.setNotice(msg)
	case clearNoticeMsg:
		if msg.id == m.noticeID {
			m.notice = ""
		}
		return m, nil
	case askMsg:
		m.question = &confirmation{prompt: printable(msg.prompt), yes: msg.yes, keys: newConfirmKeys()}
		return m, nil
	case openFormMsg:
		m.form = msg.form
		m.form.setWidth(m.dialogWidth())
		return m, nil
	}
	var cmds []tea.Cmd
	for _, s := range m.allSections() {
		cmds = append(cmds, s.update(msg))
	}
	return m, tea.Batch(cmds...)
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
		state, cmd := m.form.update(msg)
		if state != formOpen {
			m.form = nil
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
			m.active = (m.active + 1) % len(m.visible)
			return nil
		case key.Matches(msg, m.keys.Prev):
			m.active = (m.active - 1 + len(m.visible)) % len(m.visible)
			return nil
		case key.Matches(msg, m.keys.Jump):
			if n, err := strconv.Atoi(msg.String()); err == nil && n <= len(m.visible) {
				m.active = n - 1
			}
			return nil
		}
	}
	return current.update(msg)
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
	m.me = msg.user
	m.admin = slices.Contains(msg.user.Roles, "admin")
	m.setSections()
	cmds := []tea.Cmd{m.failures.load(), m.audit.load()}
	if m.admin {
		cmds = append(cmds, m.users.load(), m.groups.load(), m.policies.load())
	} else {
		cmds = append(cmds, m.probeAdmin())
	}
	return tea.Batch(cmds...)
}

// setSections shows the sections the user may use: an admin all five, any
// other user only the two logs (whose answers say whether they may read them).
func (m *Model) setSections() {
	var shown section
	if len(m.visible) > 0 {
		shown = m.visible[m.active]
	}
	m.visible = []section{m.failures, m.audit}
	if m.admin {
		m.visible = m.allSections()
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
	if n.err != nil {
		m.notice, m.noticeOK = printable(describeError(n.err)), false
	} else {
		m.notice, m.noticeOK = printable(n.text), true
	}
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
	if m.signIn != nil {
		return m.signIn.view()
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
	who := m.me.Email
	if who == "" {
		who = "user " + m.me.ID
	}
	role := "admin"
	if !m.admin {
		role = "read-only"
	}
	server := strings.TrimPrefix(strings.TrimPrefix(m.client.BaseURL, "http://"), "https://")
	sep := styleMuted.Render(" │ ")
	left := styleBrand.Render("gatehouse") + sep + server + sep + who + styleMuted.Render(" ("+role+")")
	stream := m.failures.state
	right := styleGood.Render("● " + stream.String())
	if stream.phase != streamLive {
		right = styleWarn.Render("● " + stream.String())
	}
	left = truncate(left, m.width-lipgloss.Width(right)-1)
	gap := max(m.width-lipgloss.Width(left)-lipgloss.Width(right), 1)
	return truncate(left+strings.Repeat(" ", gap)+right, m.width)
}

func (m *Model) tabsView() string {
	tabs := make([]string, 0, len(m.visible))
	for i, s := range m.visible {
		style := styleTab
		if i == m.active {
			style = styleActiveTab
		}
		tabs = append(tabs, style.Render(strconv.Itoa(i+1)+" "+s.title()))
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
