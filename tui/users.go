package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/app/api"
)

// usersSection lists users and changes them: create, name, roles, groups,
// disable and enable, password, sessions, delete.
type usersSection struct {
	client *api.Client
	pane   listPane
	users  []api.User
	shown  []api.User
	keys   usersKeys
	list   listKeys
}

type usersKeys struct {
	New, Name, Roles, Groups, Disable, Password, Sessions, Delete key.Binding
}

type (
	usersLoadedMsg struct {
		users []api.User
		err   error
	}
	// userChangedMsg is the answer to a change; text says what was done.
	userChangedMsg struct {
		text string
		err  error
	}
)

func newUsersSection(client *api.Client) *usersSection {
	s := &usersSection{
		client: client,
		list:   newListKeys(),
		keys: usersKeys{
			New:      key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new user")),
			Name:     key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "edit name")),
			Roles:    key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "roles")),
			Groups:   key.NewBinding(key.WithKeys("g"), key.WithHelp("g", "groups")),
			Disable:  key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "disable/enable")),
			Password: key.NewBinding(key.WithKeys("p"), key.WithHelp("p", "reset password")),
			Sessions: key.NewBinding(key.WithKeys("o"), key.WithHelp("o", "end sessions")),
			Delete:   key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "delete")),
		},
	}
	s.pane = newListPane(func(w int) []table.Column {
		return fitColumns(w,
			[]string{"ID", "Email", "Name", "Roles", "Groups", "Status"},
			[]int{4, 0, 0, 0, 0, 8},
			[]int{0, 5, 3, 3, 3, 0})
	}, "No users match.")
	return s
}

func (s *usersSection) title() string { return "Users" }

func (s *usersSection) load() tea.Cmd {
	client := s.client
	return func() tea.Msg {
		users, err := listAll(context.Background(), client.ListUsers)
		return usersLoadedMsg{users: users, err: err}
	}
}

func (s *usersSection) setSize(w, h int) { s.pane.setSize(w, h) }

func (s *usersSection) typing() bool { return s.pane.filtering }

func (s *usersSection) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case usersLoadedMsg:
		if msg.err != nil {
			return s.pane.loadFailed(msg.err)
		}
		s.users = msg.users
		s.refresh()
	case userChangedMsg:
		// Reload even after a refusal: the list may be out of date.
		return tea.Batch(report(msg.text, msg.err), s.load())
	case tea.KeyMsg:
		return s.handleKey(msg)
	}
	return nil
}

func (s *usersSection) handleKey(msg tea.KeyMsg) tea.Cmd {
	if cmd, ok := s.pane.handleFilterKey(msg, s.list, s.refresh); ok {
		return cmd
	}
	switch {
	case key.Matches(msg, s.list.Refresh):
		return s.load()
	case key.Matches(msg, s.keys.New):
		return openForm(s.createForm())
	}
	u, ok := atCursor(&s.pane, s.shown)
	if !ok {
		return s.pane.updateTable(msg)
	}
	switch {
	case key.Matches(msg, s.keys.Name):
		return openForm(s.nameForm(u))
	case key.Matches(msg, s.keys.Roles):
		return openForm(s.rolesForm(u))
	case key.Matches(msg, s.keys.Groups):
		return openForm(s.groupsForm(u))
	case key.Matches(msg, s.keys.Password):
		return openForm(s.passwordForm(u))
	case key.Matches(msg, s.keys.Disable):
		if u.Disabled {
			return s.change(u, api.UpdateUserRequest{Disabled: ptr(false)}, "enabled "+u.Email)
		}
		return ask(fmt.Sprintf("Disable %s (id %s)? They cannot sign in and their sessions end now.", u.Email, u.ID),
			s.change(u, api.UpdateUserRequest{Disabled: ptr(true)}, "disabled "+u.Email))
	case key.Matches(msg, s.keys.Sessions):
		return ask(fmt.Sprintf("End every session of %s (id %s)? They must sign in again.", u.Email, u.ID),
			s.endSessions(u))
	case key.Matches(msg, s.keys.Delete):
		return ask(fmt.Sprintf("Delete user %s (id %s)? Their account, sessions and tokens are removed for good.", u.Email, u.ID),
			s.remove(u))
	}
	return s.pane.updateTable(msg)
}

func (s *usersSection) refresh() {
	s.shown = showMatching(&s.pane, s.users, userMatches, userRow)
}

// userMatches reports whether the filter q finds u.
func userMatches(u api.User, q string) bool {
	return containsFold(q, u.ID, u.Email, u.Name, strings.Join(u.Roles, " "), strings.Join(u.Groups, " "), u.Provider)
}

// userRow is u's row in the users table.
func userRow(u api.User) table.Row {
	status := "active"
	if u.Disabled {
		status = "disabled"
	}
	email := u.Email
	if u.Provider != "" {
		// Linked from the OpenID Connect provider on first use: no
		// password here, signs in at the provider.
		email += " (oidc)"
	}
	return table.Row{u.ID, email, u.Name, joinOr(u.Roles, "-"), joinOr(u.Groups, "-"), status}
}

func (s *usersSection) view() string {
	return s.pane.view(styleMuted.Render(fmt.Sprintf("%d of %d users", len(s.shown), len(s.users))))
}

func (s *usersSection) shortHelp() []key.Binding {
	if s.pane.filtering {
		return filterKeys
	}
	return []key.Binding{s.keys.New, s.keys.Roles, s.keys.Groups, s.keys.Delete, s.list.Filter}
}

func (s *usersSection) fullHelp() [][]key.Binding {
	k := s.keys
	return [][]key.Binding{
		{k.New, k.Name, k.Roles, k.Groups},
		{k.Disable, k.Password, k.Sessions, k.Delete},
		s.list.navigation(),
	}
}

func (s *usersSection) createForm() *form {
	client := s.client
	return newForm("New user", func(v []string) (tea.Cmd, error) {
		if v[0] == "" || v[2] == "" {
			return nil, errors.New("email and password are needed")
		}
		in := api.CreateUserRequest{Email: v[0], Name: v[1], Password: v[2], Roles: splitList(v[3]), Groups: splitList(v[4])}
		return func() tea.Msg {
			u, err := client.CreateUser(context.Background(), in)
			return userChangedMsg{text: fmt.Sprintf("created %s (id %s)", u.Email, u.ID), err: err}
		}, nil
	},
		textField("Email", "", "e.g. alice@example.com"),
		textField("Name", "", "e.g. Alice"),
		secretField("Password", "12 to 128 characters"),
		textField("Roles", "user", "e.g. user, editor, admin"),
		textField("Groups", "", "e.g. staff, auditors"),
	)
}

func (s *usersSection) nameForm(u api.User) *form {
	return newForm("Name of "+u.Email, func(v []string) (tea.Cmd, error) {
		return s.change(u, api.UpdateUserRequest{Name: ptr(v[0])}, "renamed "+u.Email), nil
	}, textField("Name", u.Name, ""))
}

func (s *usersSection) rolesForm(u api.User) *form {
	f := newForm("Roles of "+u.Email, func(v []string) (tea.Cmd, error) {
		roles := splitList(v[0])
		change := s.change(u, api.UpdateUserRequest{Roles: &roles}, "roles of "+u.Email+": "+joinOr(roles, "none"))
		if gone := missing(u.Roles, roles); len(gone) > 0 {
			return ask(fmt.Sprintf("Remove role %s from %s (id %s)? Their roles become: %s.",
				strings.Join(gone, ", "), u.Email, u.ID, joinOr(roles, "none")), change), nil
		}
		return change, nil
	}, textField("Roles", strings.Join(u.Roles, ", "), "e.g. user, editor, admin"))
	f.intro = "Comma-separated role names; this list replaces the current one."
	return f
}

func (s *usersSection) groupsForm(u api.User) *form {
	f := newForm("Groups of "+u.Email, func(v []string) (tea.Cmd, error) {
		groups := splitList(v[0])
		change := s.change(u, api.UpdateUserRequest{Groups: &groups}, "groups of "+u.Email+": "+joinOr(groups, "none"))
		if gone := missing(u.Groups, groups); len(gone) > 0 {
			return ask(fmt.Sprintf("Take %s (id %s) out of group %s? Their groups become: %s.",
				u.Email, u.ID, strings.Join(gone, ", "), joinOr(groups, "none")), change), nil
		}
		return change, nil
	}, textField("Groups", strings.Join(u.Groups, ", "), "e.g. staff, auditors"))
	f.intro = "Comma-separated group names; this list replaces the current one."
	return f
}

func (s *usersSection) passwordForm(u api.User) *form {
	f := newForm("New password for "+u.Email, func(v []string) (tea.Cmd, error) {
		if v[0] != v[1] {
			return nil, errors.New("the two passwords differ")
		}
		return s.change(u, api.UpdateUserRequest{Password: ptr(v[0])}, "password of "+u.Email+" changed; their sessions ended"), nil
	}, secretField("Password", "12 to 128 characters"), secretField("Again", ""))
	f.intro = "Their sessions end when the password changes."
	return f
}

// change is the command that applies in to u and reports text when done.
func (s *usersSection) change(u api.User, in api.UpdateUserRequest, text string) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		_, err := client.UpdateUser(context.Background(), u.ID, in)
		return userChangedMsg{text: text, err: err}
	}
}

func (s *usersSection) endSessions(u api.User) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		err := client.EndSessions(context.Background(), u.ID)
		return userChangedMsg{text: "ended the sessions of " + u.Email, err: err}
	}
}

func (s *usersSection) remove(u api.User) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		err := client.DeleteUser(context.Background(), u.ID)
		return userChangedMsg{text: "deleted " + u.Email, err: err}
	}
}

// ptr returns a pointer to v, for the optional fields of a PATCH.
func ptr[T any](v T) *T { return &v }
