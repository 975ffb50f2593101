package tui

import (
	"context"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/app/api"
)

// userDetail is the page about one user: account, effective roles with
// where each comes from, second factor, sessions and tokens, and their
// recent auth failures and changes. It costs one request per group the
// user is in and three more.
type userDetail struct {
	client   *api.Client
	clock    clock
	user     api.User
	groups   []api.Group
	failures []api.AuthFailure
	changes  []api.AuditEntry
	sessions []api.UserSession
	problem  string
	page     *detailView
	keys     userDetailKeys
}

type userDetailKeys struct {
	Back, Audit, Failures, Copy, CopyID key.Binding
}

// userDetailMsg is what the detail page loads about user id.
type userDetailMsg struct {
	id       string
	groups   []api.Group
	failures []api.AuthFailure
	changes  []api.AuditEntry
	sessions []api.UserSession
	err      error
}

// jumpMsg asks the root to show section to with its filter set to query.
type jumpMsg struct {
	to    string
	query string
}

func newUserDetail(client *api.Client, c clock, u api.User, width, height int) *userDetail {
	d := &userDetail{client: client, clock: c, user: u, keys: userDetailKeys{
		Back:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back to the list")),
		Audit:    key.NewBinding(key.WithKeys("A"), key.WithHelp("A", "their changes in Audit")),
		Failures: key.NewBinding(key.WithKeys("F"), key.WithHelp("F", "their failures")),
		Copy:     key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy email")),
		CopyID:   key.NewBinding(key.WithKeys("C"), key.WithHelp("C", "copy id")),
	}}
	d.page = newDetailView("", width, height, d.keys.Back)
	d.render()
	return d
}

// load reads the user's groups, recent failures and recent changes.
func (d *userDetail) load() tea.Cmd {
	client, u := d.client, d.user
	return func() tea.Msg {
		ctx := context.Background()
		msg := userDetailMsg{id: u.ID}
		for _, name := range u.Groups {
			g, err := client.GetGroup(ctx, name)
			if err != nil {
				msg.err = err
				return msg
			}
			msg.groups = append(msg.groups, g)
		}
		f, err := client.ListAuthFailures(ctx, api.ListOptions{Limit: 5, Filter: map[string]string{"user": u.ID}})
		if err != nil {
			msg.err = err
			return msg
		}
		a, err := client.ListAudit(ctx, api.ListOptions{Limit: 5, Filter: map[string]string{"target": "user:" + u.ID}})
		if err != nil {
			msg.err = err
			return msg
		}
		msg.failures, msg.changes = f.Items, a.Items
		msg.sessions, msg.err = client.UserSessions(ctx, u.ID)
		return msg
	}
}

func (d *userDetail) loaded(msg userDetailMsg) {
	d.groups, d.failures, d.changes, d.sessions = msg.groups, msg.failures, msg.changes, msg.sessions
	d.problem = ""
	if msg.err != nil {
		d.problem = "Could not load all of it: " + describeError(msg.err)
	}
	d.render()
}

func (d *userDetail) setSize(w, h int) { d.page.setSize(w, h) }

func (d *userDetail) render() {
	u := d.user
	status := "active"
	if u.Disabled {
		status = "disabled"
	}
	mfa := "none"
	if u.MFAEnabled {
		mfa = "enabled (TOTP)"
	}
	text := detailText("User "+u.ID+" · "+u.Email, [][2]string{
		{"Name", u.Name},
		{"Status", status},
		{"2nd factor", mfa},
		{"Created", d.clock.long(u.CreatedAt)},
		{"Groups", joinOr(u.Groups, "none")},
	})
	text += "\n" + styleLabel.Render("Effective roles") + "\n"
	for _, r := range effectiveRoles(u, d.groups) {
		text += "  " + printable(r) + "\n"
	}
	text += "\n" + styleLabel.Render("Sessions and tokens") + "\n"
	if len(d.sessions) == 0 {
		text += "  none\n"
	}
	for _, ss := range d.sessions {
		ends := "never"
		if ss.ExpiresAt != nil {
			ends = d.clock.medium(*ss.ExpiresAt)
		}
		what := ss.Kind
		if ss.Name != "" {
			what += " " + printable(fmt.Sprintf("%q", ss.Name))
		}
		if ss.ReadOnly {
			what += ", read-only"
		}
		if ss.MFA {
			what += ", second factor proven"
		}
		text += fmt.Sprintf("  %s  since %s, ends %s\n", what, d.clock.medium(ss.CreatedAt), ends)
	}
	text += "\n" + styleLabel.Render("Recent auth failures") + "\n"
	if len(d.failures) == 0 {
		text += "  none\n"
	}
	for _, f := range d.failures {
		text += fmt.Sprintf("  %s  %d %s  %s %s\n", d.clock.medium(failureLatest(f)), f.Status, printable(f.Reason), printable(f.Method), printable(f.Path))
	}
	text += "\n" + styleLabel.Render("Recent changes") + "\n"
	if len(d.changes) == 0 {
		text += "  none\n"
	}
	for _, e := range d.changes {
		text += fmt.Sprintf("  %s  %s by %s\n", d.clock.medium(e.Time), printable(e.Action), printable(auditActor(e)))
	}
	if d.problem != "" {
		text += "\n" + styleBad.Render(d.problem) + "\n"
	}
	text += "\n" + styleMuted.Render("A their changes · F their failures · c copy email · C copy id")
	d.page.page.SetContent(text + "\n" + styleMuted.Render("esc back"))
}

// effectiveRoles lists every role u holds and where it comes from: given
// directly, or through a group (the groups as read, with their roles).
func effectiveRoles(u api.User, groups []api.Group) []string {
	from := map[string][]string{}
	var order []string
	add := func(role, source string) {
		if _, ok := from[role]; !ok {
			order = append(order, role)
		}
		from[role] = append(from[role], source)
	}
	for _, r := range u.Roles {
		add(r, "direct")
	}
	for _, g := range groups {
		for _, r := range g.Roles {
			add(r, "group "+g.Name)
		}
	}
	out := make([]string, 0, len(order))
	for _, r := range order {
		out = append(out, fmt.Sprintf("%-12s from %s", r, strings.Join(from[r], ", ")))
	}
	if len(out) == 0 {
		out = append(out, "none")
	}
	return out
}

// update handles a key; closed reports the back key.
func (d *userDetail) update(msg tea.KeyMsg) (tea.Cmd, bool) {
	switch {
	case key.Matches(msg, d.keys.Audit):
		return jump("audit", "user:"+d.user.ID), true
	case key.Matches(msg, d.keys.Failures):
		return jump("failures", "user:"+d.user.ID), true
	case key.Matches(msg, d.keys.Copy):
		return copyText(d.user.Email, "copied "+d.user.Email), false
	case key.Matches(msg, d.keys.CopyID):
		return copyText(d.user.ID, "copied id "+d.user.ID), false
	}
	return d.page.update(msg)
}

func (d *userDetail) view() string { return d.page.view() }

func (d *userDetail) shortHelp() []key.Binding {
	return []key.Binding{d.keys.Back, d.keys.Audit, d.keys.Failures, d.keys.Copy}
}

// jump is the command that shows section to filtered by query.
func jump(to, query string) tea.Cmd {
	return func() tea.Msg { return jumpMsg{to: to, query: query} }
}
