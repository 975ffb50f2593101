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

// groupsSection lists groups and changes them: create, describe, roles,
// members, delete. enter opens a group's members. Every change names the
// group's version (If-Match); a member is added or removed on its own.
type groupsSection struct {
	client  *api.Client
	acc     *access
	pane    listPane
	groups  *pager[api.Group]
	shown   []api.Group
	known   func(id string) (api.User, bool) // users loaded elsewhere, to name members
	members *membersPane                     // the group being looked into, if any
	// openName is the group whose members open once a jump's search answers.
	openName string
	keys     groupsKeys
	list     listKeys
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
	OpenMember, Rules                     key.Binding
}

type (
	// groupChangedMsg is the answer to a change of group name.
	groupChangedMsg struct {
		name    string
		text    string
		err     error
		deleted bool
		created bool
		before  api.Group
	}
	// groupReloadedMsg is a group read again after a change.
	groupReloadedMsg struct {
		group    api.Group
		err      error
		conflict *api.Group
		created  bool
	}
)

func newGroupsSection(client *api.Client, acc *access, known func(string) (api.User, bool)) *groupsSection {
	s := &groupsSection{
		client: client,
		acc:    acc,
		known:  known,
		groups: newPager(client.ListGroups),
		list:   newListKeys(),
		keys: groupsKeys{
			New:          key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new group")),
			Describe:     key.NewBinding(key.WithKeys("e"), key.WithHelp("e", "describe")),
			Roles:        key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "roles")),
			Members:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "members")),
			Delete:       key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "delete")),
			AddMember:    key.NewBinding(key.WithKeys("a"), key.WithHelp("a", "add member")),
			RemoveMember: key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "remove member")),
			Back:         key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back to groups")),
			OpenMember:   key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "member's page")),
			Rules:        key.NewBinding(key.WithKeys("P"), key.WithHelp("P", "its rules in Policies")),
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

func (s *groupsSection) load() tea.Cmd { return s.groups.reload(nil) }

func (s *groupsSection) isStale() bool { return s.groups.stale }

func (s *groupsSection) markStale() { s.groups.stale = true }

func (s *groupsSection) busy() bool { return s.groups.loading }

func (s *groupsSection) setSize(w, h int) {
	s.pane.setSize(w, h)
	if s.members != nil {
		s.members.pane.setSize(w, h-1)
	}
}

func (s *groupsSection) typing() bool { return s.pane.filtering }

func (s *groupsSection) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case pageMsg[api.Group]:
		ok, err := s.groups.apply(msg)
		if !ok {
			return nil
		}
		if err != nil {
			return s.pane.loadFailed(err)
		}
		s.refresh()
		if name := s.openName; name != "" && !msg.more {
			s.openName = ""
			if g, ok := s.group(name); ok {
				s.openMembers(g)
				return nil
			}
		}
		return s.groups.moreNear(s.pane.table.Cursor(), len(s.shown))
	case groupChangedMsg:
		switch {
		case msg.deleted:
			s.groups.drop(func(g api.Group) bool { return g.Name == msg.name })
			s.refresh()
			return notify(msg.text)
		case isStatus(msg.err, http.StatusPreconditionFailed):
			return s.reloadGroup(msg.name, &msg.before)
		case isForbidden(msg.err):
			return fail(msg.err)
		case msg.err != nil:
			return tea.Batch(fail(msg.err), s.reloadGroup(msg.name, nil))
		}
		reload := s.reloadGroup(msg.name, nil)
		if msg.created {
			reload = func() tea.Msg {
				r := s.reloadGroup(msg.name, nil)().(groupReloadedMsg)
				r.created = true
				return r
			}
		}
		return tea.Batch(notify(msg.text), reload)
	case groupReloadedMsg:
		if msg.err != nil {
			return fail(msg.err)
		}
		if !s.groups.replace(msg.group, func(g api.Group) bool { return g.Name == msg.group.Name }) && msg.created {
			s.groups.add(msg.group)
		}
		s.refresh()
		if msg.conflict != nil {
			return fail(conflictError(describeGroupChange(*msg.conflict, msg.group)))
		}
		return nil
	case tea.KeyMsg:
		if s.members != nil {
			return s.handleMembersKey(msg)
		}
		return s.handleKey(msg)
	}
	return nil
}

func (s *groupsSection) search() tea.Cmd {
	return s.groups.reload(map[string]string{"q": strings.TrimSpace(s.pane.filter.Value())})
}

func (s *groupsSection) handleKey(msg tea.KeyMsg) tea.Cmd {
	if cmd, ok := s.pane.handleFilterKey(msg, s.list, s.refresh, s.search); ok {
		return cmd
	}
	switch {
	case key.Matches(msg, s.list.Refresh):
		return s.load()
	case key.Matches(msg, s.keys.New) && s.acc.can(routeGroupCreate):
		return openForm(s.createForm())
	}
	g, ok := atCursor(&s.pane, s.shown)
	if !ok {
		return s.pane.updateTable(msg)
	}
	switch {
	case key.Matches(msg, s.keys.Members):
		s.openMembers(g)
		return nil
	case key.Matches(msg, s.keys.Describe) && s.acc.can(routeGroupUpdate):
		return openForm(s.describeForm(g))
	case key.Matches(msg, s.keys.Roles) && s.acc.can(routeGroupUpdate):
		return openForm(s.rolesForm(g))
	case key.Matches(msg, s.keys.Delete) && s.acc.can(routeGroupDelete):
		return ask(fmt.Sprintf("Delete group %s? Its members (%d) lose the roles it gives (%s), and the rules that name group:%s are removed.",
			g.Name, len(g.Members), joinOr(g.Roles, "none"), g.Name), s.remove(g))
	}
	cmd := s.pane.updateTable(msg)
	return tea.Batch(cmd, s.groups.moreNear(s.pane.table.Cursor(), len(s.shown)))
}

func (s *groupsSection) handleMembersKey(msg tea.KeyMsg) tea.Cmd {
	m := s.members
	g, _ := s.group(m.group)
	switch {
	case key.Matches(msg, s.keys.Back):
		s.members = nil
		return nil
	case key.Matches(msg, s.keys.Rules):
		return jump("policies", "group:"+m.group)
	case key.Matches(msg, s.keys.OpenMember):
		id, ok := atCursor(&m.pane, m.ids)
		if !ok {
			return nil
		}
		return jump("users", id)
	case key.Matches(msg, s.keys.AddMember) && s.acc.can(routeMemberAdd):
		return openForm(s.addMemberForm(g))
	case key.Matches(msg, s.keys.RemoveMember) && s.acc.can(routeMemberRemove):
		id, ok := atCursor(&m.pane, m.ids)
		if !ok {
			return nil
		}
		return ask(fmt.Sprintf("%sTake %s out of group %s? They lose the roles it gives.", s.acc.ownWarning(id), s.userName(id), m.group),
			s.memberCmd(g, id, false).cmd())
	}
	return m.pane.updateTable(msg)
}

// jump searches the groups for query and opens the members of the group
// called query when it is found.
func (s *groupsSection) jump(query string) tea.Cmd {
	s.members, s.openName = nil, query
	s.pane.filter.SetValue(query)
	s.refresh()
	return s.search()
}

// openMembers shows the members of group g.
func (s *groupsSection) openMembers(g api.Group) {
	s.members = &membersPane{group: g.Name, pane: newListPane(func(w int) []table.Column {
		return fitColumns(w, []string{"ID", "Email", "Name"}, []int{6, 0, 0}, []int{0, 3, 2})
	}, "No members. Press a to add one.")}
	s.members.pane.setSize(s.pane.width, s.pane.height-1)
	s.refreshMembers()
}

// group is the loaded group called name.
func (s *groupsSection) group(name string) (api.Group, bool) {
	for _, g := range s.groups.items {
		if g.Name == name {
			return g, true
		}
	}
	return api.Group{Name: name}, false
}

func (s *groupsSection) refresh() {
	s.shown = showMatching(&s.pane, s.groups.items, groupMatches, groupRow, func(g api.Group) string { return g.Name })
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
	g, _ := s.group(m.group)
	m.ids = append([]string(nil), g.Members...)
	rows := make([]table.Row, 0, len(m.ids))
	for _, id := range m.ids {
		u, _ := s.known(id)
		rows = append(rows, table.Row{id, u.Email, u.Name})
	}
	m.pane.setRows(rows, m.ids)
}

// userName is "email (id 7)" when the email is known, "user 7" otherwise.
func (s *groupsSection) userName(id string) string {
	if u, ok := s.known(id); ok && u.Email != "" {
		return fmt.Sprintf("%s (id %s)", u.Email, id)
	}
	return "user " + id
}

func (s *groupsSection) view() string {
	if m := s.members; m != nil {
		g, _ := s.group(m.group)
		about := fmt.Sprintf(" · roles %s · %s", joinOr(g.Roles, "none"), plural(len(m.ids), "member", "members"))
		if g.Description != "" {
			about += " · " + g.Description
		}
		return truncate(styleTitle.Render("Group "+m.group)+styleMuted.Render(printable(about)), s.pane.width) + "\n" +
			m.pane.view(styleMuted.Render("enter a member's page · P its rules in Policies · esc back"))
	}
	status := fmt.Sprintf("%d shown of %s", len(s.shown), s.groups.count("group", "groups"))
	return s.pane.view(styleMuted.Render(status))
}

func (s *groupsSection) shortHelp() []key.Binding {
	if s.pane.filtering {
		return filterKeys
	}
	if s.members != nil {
		if !s.acc.can(routeMemberAdd) {
			return []key.Binding{s.keys.OpenMember, s.keys.Rules, s.keys.Back}
		}
		return []key.Binding{s.keys.AddMember, s.keys.RemoveMember, s.keys.OpenMember, s.keys.Back}
	}
	if !s.acc.can(routeGroupUpdate) {
		return []key.Binding{s.keys.Members, s.list.Filter}
	}
	return []key.Binding{s.keys.New, s.keys.Members, s.keys.Roles, s.keys.Delete, s.list.Filter}
}

func (s *groupsSection) fullHelp() [][]key.Binding {
	k := s.keys
	return [][]key.Binding{
		{k.New, k.Describe, k.Roles, k.Delete},
		{k.Members, k.AddMember, k.RemoveMember, k.OpenMember, k.Rules, k.Back},
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
			return groupChangedMsg{name: in.Name, text: "created group " + g.Name, err: err, created: err == nil}
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
	f.intro = "Comma-separated role names; refused if someone changed the group since it was loaded."
	return f
}

func (s *groupsSection) addMemberForm(g api.Group) *form {
	client := s.client
	return newForm("Add a member to "+g.Name, func(v []string) (tea.Cmd, error) {
		typed := v[0]
		if typed == "" {
			return nil, errors.New("type a user's email or id")
		}
		add := s.memberCmd(g, "", true)
		return func() tea.Msg {
			id, err := findUser(context.Background(), client, typed)
			if err != nil {
				return groupChangedMsg{name: g.Name, err: err}
			}
			return add.withUser(id)()
		}, nil
	}, textField("User", "", "email or id"))
}

// findUser resolves what was typed, an id or an exact email, with one
// search on the server.
func findUser(ctx context.Context, client *api.Client, typed string) (string, error) {
	if strings.Trim(typed, "0123456789") == "" {
		return typed, nil
	}
	l, err := client.ListUsers(ctx, api.ListOptions{Limit: pageSize, Filter: map[string]string{"q": typed}})
	if err != nil {
		return "", err
	}
	for _, u := range l.Items {
		if strings.EqualFold(u.Email, typed) {
			return u.ID, nil
		}
	}
	return "", fmt.Errorf("there is no user with the email %s", typed)
}

func (s *groupsSection) change(g api.Group, in api.UpdateGroupRequest, text string) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		_, err := client.UpdateGroupIfMatch(context.Background(), g.Name, g.ETag, in)
		return groupChangedMsg{name: g.Name, text: text, err: err, before: g}
	}
}

// memberChange adds or removes one member of a group, naming its version.
type memberChange struct {
	client *api.Client
	group  api.Group
	name   func(id string) string
	add    bool
	id     string
}

func (c memberChange) withUser(id string) tea.Cmd {
	c.id = id
	return c.cmd()
}

func (c memberChange) cmd() tea.Cmd {
	return func() tea.Msg {
		ctx := context.Background()
		name := c.name(c.id)
		if c.add {
			err := c.client.AddMemberIfMatch(ctx, c.group.Name, c.id, c.group.ETag)
			return groupChangedMsg{name: c.group.Name, text: "added " + name + " to " + c.group.Name, err: err, before: c.group}
		}
		err := c.client.RemoveMemberIfMatch(ctx, c.group.Name, c.id, c.group.ETag)
		return groupChangedMsg{name: c.group.Name, text: "took " + name + " out of " + c.group.Name, err: err, before: c.group}
	}
}

func (s *groupsSection) memberCmd(g api.Group, userID string, add bool) memberChange {
	return memberChange{client: s.client, group: g, name: s.userName, add: add, id: userID}
}

func (s *groupsSection) reloadGroup(name string, conflict *api.Group) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		g, err := client.GetGroup(context.Background(), name)
		return groupReloadedMsg{group: g, err: err, conflict: conflict}
	}
}

func (s *groupsSection) remove(g api.Group) tea.Cmd {
	client := s.client
	return func() tea.Msg {
		err := client.DeleteGroup(context.Background(), g.Name)
		return groupChangedMsg{name: g.Name, text: "deleted group " + g.Name, err: err, deleted: err == nil}
	}
}

// describeGroupChange says what differs between two reads of a group.
func describeGroupChange(before, after api.Group) string {
	var parts []string
	if before.Description != after.Description {
		parts = append(parts, fmt.Sprintf("description %q → %q", before.Description, after.Description))
	}
	if !slices.Equal(before.Roles, after.Roles) {
		parts = append(parts, "roles "+joinOr(before.Roles, "none")+" → "+joinOr(after.Roles, "none"))
	}
	if added, gone := missing(after.Members, before.Members), missing(before.Members, after.Members); len(added)+len(gone) > 0 {
		parts = append(parts, "members "+describeDelta(prefixed("user ", added), prefixed("user ", gone)))
	}
	what := "something not shown"
	if len(parts) > 0 {
		what = strings.Join(parts, "; ")
	}
	return "group " + after.Name + " changed meanwhile (" + what + "): nothing was changed; redo your change if it still applies"
}

func prefixed(p string, items []string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = p + it
	}
	return out
}
