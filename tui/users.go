package tui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/app/api"
)

// usersSection lists users a page at a time and changes them: create,
// name, roles, groups, disable and enable, password, sessions, delete.
// Role and group changes are sent one at a time (add this, remove that),
// and every change names the version it was made from (If-Match), so that
// nobody's change is silently undone.
type usersSection struct {
	client *api.Client
	acc    *access
	clock  clock
	pane   listPane
	users  *pager[api.User]
	shown  []api.User
	detail *userDetail // open detail of one user, if any
	// openID is the user whose page opens once a jump's search answers.
	openID string
	keys   usersKeys
	list   listKeys
}

type usersKeys struct {
	New, Name, Roles, Groups, Disable, Password, Sessions, Delete, Copy key.Binding
}

type (
	// userChangedMsg is the answer to a change of user id; text says what
	// was done. The user is read again after it (or gone, when deleted).
	userChangedMsg struct {
		id      string
		text    string
		err     error
		deleted bool
		created bool
		before  api.User // the user as the change was made from
	}
	// userReloadedMsg is a user read again after a change. conflict holds
	// the user the refused change was made from, to show what changed.
	userReloadedMsg struct {
		user     api.User
		err      error
		conflict *api.User
		created  bool // a new user: counted in the list's total
	}
)

func newUsersSection(client *api.Client, acc *access, c clock) *usersSection {
	s := &usersSection{
		client: client,
		acc:    acc,
		clock:  c,
		users:  newPager(client.ListUsers),
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
			Copy:     key.NewBinding(key.WithKeys("c"), key.WithHelp("c", "copy email")),
		},
	}
	s.pane = newListPane(func(w int) []table.Column {
		return fitColumns(w,
			[]string{"ID", "Email", "Name", "Roles", "Groups", "Status"},
			[]int{6, 0, 0, 0, 0, 8},
			[]int{0, 5, 3, 3, 3, 0})
	}, "No users match.")
	return s
}

func (s *usersSection) title() string { return "Users" }

func (s *usersSection) load() tea.Cmd { return s.users.reload(nil) }

func (s *usersSection) isStale() bool { return s.users.stale }

func (s *usersSection) markStale() { s.users.stale = true }

func (s *usersSection) busy() bool { return s.users.loading }

func (s *usersSection) setSize(w, h int) {
	s.pane.setSize(w, h)
	if s.detail != nil {
		s.detail.setSize(w, h)
	}
}

func (s *usersSection) typing() bool { return s.pane.filtering }

func (s *usersSection) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case pageMsg[api.User]:
		ok, err := s.users.apply(msg)
		if !ok {
			return nil
		}
		if err != nil {
			return s.pane.loadFailed(err)
		}
		s.refresh()
		if id := s.openID; id != "" && !msg.more {
			s.openID = ""
			if i := slices.IndexFunc(s.shown, func(u api.User) bool { return u.ID == id }); i >= 0 {
				s.pane.markAt(i)
				s.detail = newUserDetail(s.client, s.clock, s.shown[i], s.pane.width, s.pane.height)
				return s.detail.load()
			}
		}
		return s.users.moreNear(s.pane.table.Cursor(), len(s.shown))
	case userChangedMsg:
		if isForbidden(msg.err) {
			return fail(msg.err)
		}
		if msg.err != nil && !isStatus(msg.err, http.StatusPreconditionFailed) {
			// The refusal says why; the user is read again all the same,
			// in case the list was out of date (gone, say).
			return tea.Batch(fail(msg.err), s.reloadUser(msg.id, nil))
		}
		if msg.deleted {
			s.users.drop(func(u api.User) bool { return u.ID == msg.id })
			s.refresh()
			return notify(msg.text)
		}
		if msg.err != nil {
			return s.reloadUser(msg.id, &msg.before)
		}
		reload := s.reloadUser(msg.id, nil)
		if msg.created {
			reload = s.reloadNew(msg.id)
		}
		return tea.Batch(notify(msg.text), reload)
	case userReloadedMsg:
		if msg.err != nil {
			if isStatus(msg.err, http.StatusNotFound) && msg.user.ID != "" {
				s.users.drop(func(u api.User) bool { return u.ID == msg.user.ID })
				s.refresh()
			}
			return fail(msg.err)
		}
		if !s.users.replace(msg.user, func(u api.User) bool { return u.ID == msg.user.ID }) && msg.created {
			s.users.add(msg.user)
		}
		s.refresh()
		if s.detail != nil && s.detail.user.ID == msg.user.ID {
			s.detail.user = msg.user
			s.detail.render()
		}
		if msg.conflict != nil {
			return fail(conflictError(describeUserChange(*msg.conflict, msg.user)))
		}
		return nil
	case userOpenMsg:
		if msg.err != nil {
			return fail(msg.err)
		}
		s.openID = msg.user.ID
		s.pane.filter.SetValue(msg.user.Email)
		s.refresh()
		return s.search()
	case userDetailMsg:
		if s.detail != nil && s.detail.user.ID == msg.id {
			s.detail.loaded(msg)
		}
		return nil
	case tea.KeyMsg:
		return s.handleKey(msg)
	}
	return nil
}

// userOpenMsg is a user read to open their page after a jump.
type userOpenMsg struct {
	user api.User
	err  error
}

// jump opens the page of user id: it reads the user, then lists them by
// their email (a search) and opens their page.
func (s *usersSection) jump(id string) tea.Cmd {
	s.detail = nil
	client := s.client
	return func() tea.Msg {
		u, err := client.GetUser(context.Background(), id)
		return userOpenMsg{user: u, err: err}
	}
}

// search asks the server for the users the filter finds.
func (s *usersSection) search() tea.Cmd {
	return s.users.reload(map[string]string{"q": strings.TrimSpace(s.pane.filter.Value())})
}

func (s *usersSection) handleKey(msg tea.KeyMsg) tea.Cmd {
	if s.detail != nil {
		cmd, closed := s.detail.update(msg)
		if closed {
			s.detail = nil
		}
		return cmd
	}
	if cmd, ok := s.pane.handleFilterKey(msg, s.list, s.refresh, s.search); ok {
		return cmd
	}
	switch {
	case key.Matches(msg, s.list.Refresh):
		return s.load()
	case key.Matches(msg, s.keys.New) && s.acc.can(routeUserCreate):
		return openForm(s.createForm())
	}
	u, ok := atCursor(&s.pane, s.shown)
	if !ok {
		return s.pane.updateTable(msg)
	}
	own := s.acc.ownWarning(u.ID)
	switch {
	case key.Matches(msg, s.list.Open):
		s.detail = newUserDetail(s.client, s.clock, u, s.pane.width, s.pane.height)
		return s.detail.load()
	case key.Matches(msg, s.keys.Copy):
		return copyText(u.Email, "copied "+u.Email)
	case key.Matches(msg, s.keys.Name) && s.acc.can(routeUserUpdate):
		return openForm(s.nameForm(u))
	case key.Matches(msg, s.keys.Roles) && s.acc.can(routeRoleAdd) && s.acc.can(routeRoleRemove):
		return openForm(s.rolesForm(u))
	case key.Matches(msg, s.keys.Groups) && s.acc.can(routeMemberAdd) && s.acc.can(routeMemberRemove):
		return openForm(s.groupsForm(u))
	case key.Matches(msg, s.keys.Password) && s.acc.can(routeUserUpdate):
		return openForm(s.passwordForm(u))
	case key.Matches(msg, s.keys.Disable) && s.acc.can(routeUserUpdate):
		if u.Disabled {
			return s.change(u, api.UpdateUserRequest{Disabled: ptr(false)}, "enabled "+u.Email)
		}
		return ask(fmt.Sprintf("%sDisable %s (id %s)? They cannot sign in and their sessions end now.", own, u.Email, u.ID),
			s.change(u, api.UpdateUserRequest{Disabled: ptr(true)}, "disabled "+u.Email))
	case key.Matches(msg, s.keys.Sessions) && s.acc.can(routeUserSessions):
		prompt := fmt.Sprintf("End every session of %s (id %s)? They must sign in again.", u.Email, u.ID)
		if own != "" {
			prompt = own + "End every session of yours, this console's too? You will have to sign in again."
		}
		return ask(prompt, s.endSessions(u))
	case key.Matches(msg, s.keys.Delete) && s.acc.can(routeUserDelete):
		return ask(fmt.Sprintf("%sDelete user %s (id %s)? Their account, sessions and tokens are removed for good.", own, u.Email, u.ID),
			s.remove(u))
	}
	cmd := s.pane.updateTable(msg)
	return tea.Batch(cmd, s.users.moreNear(s.pane.table.Cursor(), len(s.shown)))
}

func (s *usersSection) refresh() {
	s.shown = showMatching(&s.pane, s.users.items, userMatches, userRow, func(u api.User) string { return u.ID })
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
	if s.detail != nil {
		return s.detail.view()
	}
	status := fmt.Sprintf("%d shown of %s", len(s.shown), s.users.count("user", "users"))
	if q := s.users.filter["q"]; q != "" {
		status += fmt.Sprintf(" matching %q", q)
	}
	return s.pane.view(styleMuted.Render(status))
}

func (s *usersSection) shortHelp() []key.Binding {
	if s.pane.filtering {
		return filterKeys
	}
	if s.detail != nil {
		return s.detail.shortHelp()
	}
	var keys []key.Binding
	for _, k := range []struct {
		b     key.Binding
		route string
	}{{s.keys.New, routeUserCreate}, {s.keys.Roles, routeRoleAdd}, {s.keys.Groups, routeMemberAdd}, {s.keys.Delete, routeUserDelete}} {
		if s.acc.can(k.route) {
			keys = append(keys, k.b)
		}
	}
	return append(keys, s.list.Open, s.list.Filter)
}

func (s *usersSection) fullHelp() [][]key.Binding {
	k := s.keys
	return [][]key.Binding{
		{k.New, k.Name, k.Roles, k.Groups, k.Copy},
		{k.Disable, k.Password, k.Sessions, k.Delete, s.list.Open},
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
			return userChangedMsg{id: u.ID, text: fmt.Sprintf("created %s (id %s)", u.Email, u.ID), err: err, created: err == nil}
		}, nil
	},
		textField("Email", "", "e.g. alice@example.com"),
		textField("Name", "", "e.g. Alice"),
		secretField("Password", "12 to 128 characters"),
		textField("Roles", "user", "e.g. user, editor, admin"),
		textField("Groups", "", "e.g. staff, auditors"),
	)
}

// confirmOwn asks first when u is the signed-in user's own account.
func (s *usersSection) confirmOwn(u api.User, what string, cmd tea.Cmd) tea.Cmd {
	if !s.acc.isMe(u.ID) {
		return cmd
	}
	return ask(s.acc.ownWarning(u.ID)+what, cmd)
}

func (s *usersSection) nameForm(u api.User) *form {
	return newForm("Name of "+u.Email, func(v []string) (tea.Cmd, error) {
		return s.change(u, api.UpdateUserRequest{Name: ptr(v[0])}, "renamed "+u.Email), nil
	}, textField("Name", u.Name, ""))
}

func (s *usersSection) rolesForm(u api.User) *form {
	f := newForm("Roles of "+u.Email, func(v []string) (tea.Cmd, error) {
		roles := splitList(v[0])
		added, gone := missing(roles, u.Roles), missing(u.Roles, roles)
		if len(added)+len(gone) == 0 {
			return notify("no change to the roles of " + u.Email), nil
		}
		change := s.changeRoles(u, added, gone)
		if len(gone) > 0 {
			return ask(fmt.Sprintf("%sRemove role %s from %s (id %s)? Their roles become: %s.",
				s.acc.ownWarning(u.ID), strings.Join(gone, ", "), u.Email, u.ID, joinOr(roles, "none")), change), nil
		}
		return s.confirmOwn(u, "Give yourself role "+strings.Join(added, ", ")+"?", change), nil
	}, textField("Roles", strings.Join(u.Roles, ", "), "e.g. user, editor, admin"))
	f.intro = "Comma-separated role names. Only what you add or remove is sent, so a change someone made meanwhile stays."
	return f
}

func (s *usersSection) groupsForm(u api.User) *form {
	f := newForm("Groups of "+u.Email, func(v []string) (tea.Cmd, error) {
		groups := splitList(v[0])
		added, gone := missing(groups, u.Groups), missing(u.Groups, groups)
		if len(added)+len(gone) == 0 {
			return notify("no change to the groups of " + u.Email), nil
		}
		change := s.changeGroups(u, added, gone)
		if len(gone) > 0 {
			return ask(fmt.Sprintf("%sTake %s (id %s) out of group %s?",
				s.acc.ownWarning(u.ID), u.Email, u.ID, strings.Join(gone, ", ")), change), nil
		}
		return s.confirmOwn(u, "Put yourself in group "+strings.Join(added, ", ")+"?", change), nil
	}, textField("Groups", strings.Join(u.Groups, ", "), "e.g. staff, auditors"))
	f.intro = "Comma-separated group names. Only what you add or remove is sent, so a change someone made meanwhile stays."
	return f
}

func (s *usersSection) passwordForm(u api.User) *form {
	f := newForm("New password for "+u.Email, func(v []string) (tea.Cmd, error) {
		if v[0] != v[1] {
			return nil, errors.New("the two passwords differ")
		}
		change := s.change(u, api.UpdateUserRequest{Password: ptr(v[0])}, "password of "+u.Email+" changed; their sessions ended")
		return s.confirmOwn(u, "Set your own password? Your sessions end, this console's too.", change), nil
	}, secretField("Password", "12 to 128 characters"), secretField("Again", ""))
	f.intro = "Their sessions end when the password changes."
	return f
}

// change is the command that applies in to u, if u is still as loaded,
// and reports text when done.
func (s *usersSection) change(u api.User, in api.UpdateUserRequest, text string) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		_, err := client.UpdateUserIfMatch(context.Background(), u.ID, u.ETag, in)
		return userChangedMsg{id: u.ID, text: text, err: err, before: u}
	}
}

// changeRoles adds and removes roles one at a time, each naming the version
// the previous one left.
func (s *usersSection) changeRoles(u api.User, added, gone []string) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		ctx := context.Background()
		etag := u.ETag
		for _, r := range added {
			after, err := client.AddUserRole(ctx, u.ID, r, etag)
			if err != nil {
				return userChangedMsg{id: u.ID, err: err, before: u}
			}
			etag = after.ETag
		}
		for _, r := range gone {
			after, err := client.RemoveUserRole(ctx, u.ID, r, etag)
			if err != nil {
				return userChangedMsg{id: u.ID, err: err, before: u}
			}
			etag = after.ETag
		}
		return userChangedMsg{id: u.ID, text: "roles of " + u.Email + ": " + describeDelta(added, gone), before: u}
	}
}

// changeGroups puts u in the added groups and takes them out of the gone
// ones, one membership at a time.
func (s *usersSection) changeGroups(u api.User, added, gone []string) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		ctx := context.Background()
		for _, g := range added {
			if err := client.AddMember(ctx, g, u.ID); err != nil {
				return userChangedMsg{id: u.ID, err: fmt.Errorf("group %s: %w", g, err), before: u}
			}
		}
		for _, g := range gone {
			if err := client.RemoveMember(ctx, g, u.ID); err != nil && !isStatus(err, http.StatusNotFound) {
				return userChangedMsg{id: u.ID, err: fmt.Errorf("group %s: %w", g, err), before: u}
			}
		}
		return userChangedMsg{id: u.ID, text: "groups of " + u.Email + ": " + describeDelta(added, gone), before: u}
	}
}

// reloadUser reads user id again; conflict is the user a refused change
// was made from.
func (s *usersSection) reloadUser(id string, conflict *api.User) tea.Cmd {
	if id == "" {
		return nil
	}
	client := s.client
	return func() tea.Msg {
		u, err := client.GetUser(context.Background(), id)
		if err != nil {
			u.ID = id
		}
		return userReloadedMsg{user: u, err: err, conflict: conflict}
	}
}

// reloadNew reads a user just created, to show and count them.
func (s *usersSection) reloadNew(id string) tea.Cmd {
	reload := s.reloadUser(id, nil)
	return func() tea.Msg {
		msg := reload().(userReloadedMsg)
		msg.created = true
		return msg
	}
}

func (s *usersSection) endSessions(u api.User) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		err := client.EndSessions(context.Background(), u.ID)
		return userChangedMsg{id: u.ID, text: "ended the sessions of " + u.Email, err: err}
	}
}

func (s *usersSection) remove(u api.User) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		err := client.DeleteUser(context.Background(), u.ID)
		return userChangedMsg{id: u.ID, text: "deleted " + u.Email, err: err, deleted: err == nil}
	}
}

// describeDelta is "+editor -user".
func describeDelta(added, gone []string) string {
	parts := make([]string, 0, len(added)+len(gone))
	for _, a := range added {
		parts = append(parts, "+"+a)
	}
	for _, g := range gone {
		parts = append(parts, "-"+g)
	}
	return strings.Join(parts, " ")
}

// describeUserChange says what differs between two reads of a user.
func describeUserChange(before, after api.User) string {
	var parts []string
	if before.Name != after.Name {
		parts = append(parts, fmt.Sprintf("name %q → %q", before.Name, after.Name))
	}
	if !slices.Equal(before.Roles, after.Roles) {
		parts = append(parts, "roles "+joinOr(before.Roles, "none")+" → "+joinOr(after.Roles, "none"))
	}
	if !slices.Equal(before.Groups, after.Groups) {
		parts = append(parts, "groups "+joinOr(before.Groups, "none")+" → "+joinOr(after.Groups, "none"))
	}
	if before.Disabled != after.Disabled {
		parts = append(parts, fmt.Sprintf("disabled %v → %v", before.Disabled, after.Disabled))
	}
	if before.MFAEnabled != after.MFAEnabled {
		parts = append(parts, fmt.Sprintf("second factor %v → %v", before.MFAEnabled, after.MFAEnabled))
	}
	what := "something not shown"
	if len(parts) > 0 {
		what = strings.Join(parts, "; ")
	}
	return after.Email + " changed meanwhile (" + what + "): nothing was changed; the list shows it now, redo your change if it still applies"
}

// conflictError is the footer line of a refused change (412).
type conflictError string

func (e conflictError) Error() string { return string(e) }

// isStatus reports whether err is an API answer with status.
func isStatus(err error, status int) bool {
	var e *api.Error
	return errors.As(err, &e) && e.Status == status
}

// ptr returns a pointer to v, for the optional fields of a PATCH.
func ptr[T any](v T) *T { return &v }
