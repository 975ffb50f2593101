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

// groupsSection lists groups and changes them: create, describe, roles,
// members, delete. enter opens a group's members.
type groupsSection struct {
	client  *api.Client
	pane    listPane
	groups  []api.Group
	shown   []api.Group
	users   map[string]api.User // by id, to name the members
	members *membersPane        // the group being looked into, if any
	keys    groupsKeys
	list    listKeys
}

// membersPane is the members of one group.
type membersPane struct {
	group string
	pane  listPane
	ids   []string
}

type groupsKeys struct {
	New, Describe, Roles, Members, Delete key.Binding
	AddMember, RemoveMember, Back         key.Binding
}

type (
	groupsLoadedMsg struct {
		groups []api.Group
		users  []api.User
		err    error
	}
	groupChangedMsg struct {
		text string
		err  error
	}
)

func newGroupsSection(client *api.Client) *groupsSection {
	s := &groupsSection{
		client: client,
		list:   newListKeys(),
		users:  map[string]api.User{},
		keys: groupsKeys{
			New:          key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new group")),
			Describe:     key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "describe")),
			Roles:        key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "roles")),
			Members:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "members")),
			Delete:       key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "delete")),
			AddMember:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add member")),
			RemoveMember: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "remove member")),
			Back:         key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back to groups")),
		},
	}
	s.pane = newListPane(func(w int) []table.Column {
		return fitColumns(w,
			[]string{"Name", "Description", "Roles", "Members"},
			[]int{0, 0, 0, 7},
			[]int{2, 5, 3, 0})
	}, "No groups match.")
	return s
}

func (s *groupsSection) title() string { return "Groups" }

func (s *groupsSection) load() tea.Cmd {
	client := s.client
	return func() tea.Msg {
		ctx := context.Background()
		groups, err := listAll(ctx, client.ListGroups)
		if err != nil {
			return groupsLoadedMsg{err: err}
		}
		// The users are only there to put emails on member ids: without
		// them the ids show alone.
		users, _ := listAll(ctx, client.ListUsers)
		return groupsLoadedMsg{groups: groups, users: users}
	}
}

func (s *groupsSection) setSize(w, h int) {
	s.pane.setSize(w, h)
	if s.members != nil {
		s.members.pane.setSize(w, h-1)
	}
}

func (s *groupsSection) typing() bool { return s.pane.filtering }

func (s *groupsSection) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case groupsLoadedMsg:
		if msg.err != nil {
			return s.pane.loadFailed(msg.err)
		}
		s.groups = msg.groups
		for _, u := range msg.users {
			s.users[u.ID] = u
		}
		s.refresh()
	case groupChangedMsg:
		// Reload even after a refusal: the list may be out of date.
		return tea.Batch(report(msg.text, msg.err), s.load())
	case tea.KeyMsg:
		if s.members != nil {
			return s.handleMembersKey(msg)
		}
		return s.handleKey(msg)
	}
	return nil
}

func (s *groupsSection) handleKey(msg tea.KeyMsg) tea.Cmd {
	if cmd, ok := s.pane.handleFilterKey(msg, s.list, s.refresh); ok {
		return cmd
	}
	switch {
	case key.Matches(msg, s.list.Refresh):
		return s.load()
	case key.Matches(msg, s.keys.New):
		return openForm(s.createForm())
	}
	g, ok := atCursor(&s.pane, s.shown)
	if !ok {
		return s.pane.updateTable(msg)
	}
	switch {
	case key.Matches(msg, s.keys.Members):
		s.members = &membersPane{group: g.Name, pane: newListPane(func(w int) []table.Column {
			return fitColumns(w, []string{"ID", "Email", "Name"}, []int{6, 0, 0}, []int{0, 3, 2})
		}, "No members. Press a to add one.")}
		s.members.pane.setSize(s.pane.width, s.pane.height-1)
		s.refreshMembers()
		return nil
	case key.Matches(msg, s.keys.Describe):
		return openForm(s.describeForm(g))
	case key.Matches(msg, s.keys.Roles):
		return openForm(s.rolesForm(g))
	case key.Matches(msg, s.keys.Delete):
		return ask(fmt.Sprintf("Delete group %s? Its members (%d) lose the roles it gives (%s), and the rules that name group:%s are removed.",
			g.Name, len(g.Members), joinOr(g.Roles, "none"), g.Name), s.remove(g))
	}
	return s.pane.updateTable(msg)
}

func (s *groupsSection) handleMembersKey(msg tea.KeyMsg) tea.Cmd {
	m := s.members
	switch {
	case key.Matches(msg, s.keys.Back):
		s.members = nil
		return nil
	case key.Matches(msg, s.keys.AddMember):
		return openForm(s.addMemberForm(m.group))
	case key.Matches(msg, s.keys.RemoveMember):
		id, ok := atCursor(&m.pane, m.ids)
		if !ok {
			return nil
		}
		return ask(fmt.Sprintf("Take %s out of group %s? They lose the roles it gives.", s.userName(id), m.group),
			s.memberCmd(m.group, id, false))
	}
	return m.pane.updateTable(msg)
}

func (s *groupsSection) refresh() {
	s.shown = showMatching(&s.pane, s.groups, groupMatches, groupRow)
	if s.members != nil {
		s.refreshMembers()
	}
}

// groupMatches reports whether the filter q finds g.
func groupMatches(g api.Group, q string) bool {
	return containsFold(q, g.Name, g.Description, strings.Join(g.Roles, " "))
}

// groupRow is g's row in the groups table.
func groupRow(g api.Group) table.Row {
	return table.Row{g.Name, g.Description, joinOr(g.Roles, "-"), fmt.Sprint(len(g.Members))}
}

func (s *groupsSection) refreshMembers() {
	m := s.members
	m.ids = nil
	for _, g := range s.groups {
		if g.Name == m.group {
			m.ids = append(m.ids, g.Members...)
		}
	}
	rows := make([]table.Row, 0, len(m.ids))
	for _, id := range m.ids {
		u := s.users[id]
		rows = append(rows, table.Row{id, u.Email, u.Name})
	}
	m.pane.setRows(rows)
}

// userName is "email (id 7)" when the email is known, "user 7" otherwise.
func (s *groupsSection) userName(id string) string {
	if u, ok := s.users[id]; ok && u.Email != "" {
		return fmt.Sprintf("%s (id %s)", u.Email, id)
	}
	return "user " + id
}

// userID resolves what was typed, an email or an id, to a user id.
func (s *groupsSection) userID(typed string) string {
	for id, u := range s.users {
		if strings.EqualFold(u.Email, typed) {
			return id
		}
	}
	return typed
}

func (s *groupsSection) view() string {
	if m := s.members; m != nil {
		return styleTitle.Render("Group "+m.group) + styleMuted.Render(" · esc back") + "\n" +
			m.pane.view(styleMuted.Render(plural(len(m.ids), "member", "members")))
	}
	return s.pane.view(styleMuted.Render(fmt.Sprintf("%d of %d groups", len(s.shown), len(s.groups))))
}

func (s *groupsSection) shortHelp() []key.Binding {
	if s.pane.filtering {
		return filterKeys
	}
	if s.members != nil {
		return []key.Binding{s.keys.AddMember, s.keys.RemoveMember, s.keys.Back}
	}
	return []key.Binding{s.keys.New, s.keys.Members, s.keys.Roles, s.keys.Delete, s.list.Filter}
}

func (s *groupsSection) fullHelp() [][]key.Binding {
	k := s.keys
	return [][]key.Binding{
		{k.New, k.Describe, k.Roles, k.Delete},
		{k.Members, k.AddMember, k.RemoveMember, k.Back},
		s.list.navigation(),
	}
}

func (s *groupsSection) createForm() *form {
	client := s.client
	return newForm("New group", func(v []string) (tea.Cmd, error) {
		if v[0] == "" {
			return nil, errors.New("a group needs a name")
		}
		in := api.CreateGroupRequest{Name: v[0], Description: v[1], Roles: splitList(v[2])}
		return func() tea.Msg {
			g, err := client.CreateGroup(context.Background(), in)
			return groupChangedMsg{text: "created group " + g.Name, err: err}
		}, nil
	},
		textField("Name", "", "e.g. support"),
		textField("Description", "", "e.g. what its members do"),
		textField("Roles", "", "e.g. editor"),
	)
}

func (s *groupsSection) describeForm(g api.Group) *form {
	return newForm("Description of "+g.Name, func(v []string) (tea.Cmd, error) {
		return s.change(g, api.UpdateGroupRequest{Description: ptr(v[0])}, "described group "+g.Name), nil
	}, textField("Description", g.Description, ""))
}

func (s *groupsSection) rolesForm(g api.Group) *form {
	f := newForm("Roles of group "+g.Name, func(v []string) (tea.Cmd, error) {
		roles := splitList(v[0])
		change := s.change(g, api.UpdateGroupRequest{Roles: &roles}, "roles of group "+g.Name+": "+joinOr(roles, "none"))
		if gone := missing(g.Roles, roles); len(gone) > 0 {
			return ask(fmt.Sprintf("Remove role %s from group %s? Its members (%d) lose it unless they hold it otherwise. Its roles become: %s.",
				strings.Join(gone, ", "), g.Name, len(g.Members), joinOr(roles, "none")), change), nil
		}
		return change, nil
	}, textField("Roles", strings.Join(g.Roles, ", "), "e.g. editor"))
	f.intro = "Comma-separated role names; this list replaces the current one."
	return f
}

func (s *groupsSection) addMemberForm(group string) *form {
	return newForm("Add a member to "+group, func(v []string) (tea.Cmd, error) {
		if v[0] == "" {
			return nil, errors.New("type a user's email or id")
		}
		return s.memberCmd(group, s.userID(v[0]), true), nil
	}, textField("User", "", "email or id"))
}

func (s *groupsSection) change(g api.Group, in api.UpdateGroupRequest, text string) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		_, err := client.UpdateGroup(context.Background(), g.Name, in)
		return groupChangedMsg{text: text, err: err}
	}
}

func (s *groupsSection) memberCmd(group, userID string, add bool) tea.Cmd {
	client := s.client
	name := s.userName(userID)
	return func() tea.Msg {
		if add {
			err := client.AddMember(context.Background(), group, userID)
			return groupChangedMsg{text: "added " + name + " to " + group, err: err}
		}
		err := client.RemoveMember(context.Background(), group, userID)
		return groupChangedMsg{text: "took " + name + " out of " + group, err: err}
	}
}

func (s *groupsSection) remove(g api.Group) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		err := client.DeleteGroup(context.Background(), g.Name)
		return groupChangedMsg{text: "deleted group " + g.Name, err: err}
	}
}
