package tui

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/app/api"
)

// auditSection is the audit log: who changed which user, group or policy,
// newest first, with a detail view of the change.
type auditSection struct {
	client  *api.Client
	clock   clock
	pane    listPane
	entries *pager[api.AuditEntry]
	shown   []api.AuditEntry
	detail  *detailView // open detail of one change, if any
	list    listKeys
	back    key.Binding
}

func newAuditSection(client *api.Client, c clock) *auditSection {
	s := &auditSection{
		client:  client,
		clock:   c,
		entries: newPager(client.ListAudit),
		list:    newListKeys(),
		back:    key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back to the list")),
	}
	s.pane = newListPane(func(w int) []table.Column {
		return fitColumns(w,
			[]string{"Time", "Actor", "Action", "Target"},
			[]int{14, 0, 0, 0},
			[]int{0, 4, 3, 4})
	}, "Nothing changed yet.")
	return s
}

func (s *auditSection) title() string { return "Audit" }

func (s *auditSection) load() tea.Cmd { return s.entries.reload(nil) }

func (s *auditSection) isStale() bool { return s.entries.stale }

func (s *auditSection) markStale() { s.entries.stale = true }

func (s *auditSection) busy() bool { return s.entries.loading }

// search asks the server for the changes whose actor, action or target
// holds the filter.
func (s *auditSection) search() tea.Cmd {
	return s.entries.reload(map[string]string{"q": strings.TrimSpace(s.pane.filter.Value())})
}

// jump shows the changes query finds.
func (s *auditSection) jump(query string) tea.Cmd {
	s.detail = nil
	s.pane.filter.SetValue(query)
	s.refresh()
	return s.search()
}

func (s *auditSection) setSize(w, h int) {
	s.pane.setSize(w, h)
	if s.detail != nil {
		s.detail.setSize(w, h)
	}
}

func (s *auditSection) typing() bool { return s.pane.filtering }

func (s *auditSection) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case pageMsg[api.AuditEntry]:
		ok, err := s.entries.apply(msg)
		if !ok {
			return nil
		}
		if err != nil {
			return s.pane.loadFailed(err)
		}
		s.refresh()
		return s.entries.moreNear(s.pane.table.Cursor(), len(s.shown))
	case tea.KeyMsg:
		return s.handleKey(msg)
	}
	return nil
}

func (s *auditSection) handleKey(msg tea.KeyMsg) tea.Cmd {
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
	case key.Matches(msg, s.list.Open):
		if e, ok := atCursor(&s.pane, s.shown); ok {
			s.detail = newDetailView(auditDetail(e, s.clock), s.pane.width, s.pane.height, s.back)
		}
		return nil
	}
	cmd := s.pane.updateTable(msg)
	return tea.Batch(cmd, s.entries.moreNear(s.pane.table.Cursor(), len(s.shown)))
}

func (s *auditSection) refresh() {
	s.shown = showMatching(&s.pane, s.entries.items, auditMatches, s.row, func(e api.AuditEntry) string { return e.ID })
}

// auditMatches reports whether the filter q finds e.
func auditMatches(e api.AuditEntry, q string) bool {
	return containsFold(q, e.Actor, e.ActorID, e.Action, e.Target)
}

// row is e's row in the audit table.
func (s *auditSection) row(e api.AuditEntry) table.Row {
	return table.Row{s.clock.medium(e.Time), auditActor(e), e.Action, e.Target}
}

func (s *auditSection) view() string {
	if s.detail != nil {
		return s.detail.view()
	}
	return s.pane.view(styleMuted.Render(fmt.Sprintf("%d shown of %s, newest first", len(s.shown), s.entries.count("change", "changes"))))
}

func (s *auditSection) shortHelp() []key.Binding {
	if s.pane.filtering {
		return filterKeys
	}
	if s.detail != nil {
		return []key.Binding{s.back}
	}
	return []key.Binding{s.list.Open, s.list.Filter, s.list.Refresh}
}

func (s *auditSection) fullHelp() [][]key.Binding {
	return [][]key.Binding{{s.list.Open, s.back}, s.list.navigation()}
}

// auditActor names who made a change: their email, else their id.
func auditActor(e api.AuditEntry) string {
	if e.Actor != "" {
		return e.Actor
	}
	return "user:" + e.ActorID
}

// auditDetail shows one change with the changed thing before and after.
func auditDetail(e api.AuditEntry, c clock) string {
	text := detailText("Change "+e.ID, [][2]string{
		{"Time", c.long(e.Time)},
		{"Actor", auditActor(e) + " (id " + e.ActorID + ")"},
		{"Action", e.Action},
		{"Target", e.Target},
	}) + "\n"
	for _, part := range []struct {
		label string
		value map[string]any
	}{{"Before", e.Before}, {"After", e.After}} {
		body := "(nothing)"
		if part.value != nil {
			b, _ := json.MarshalIndent(part.value, "  ", "  ")
			body = string(b)
		}
		text += styleLabel.Render(part.label) + "\n  " + printableLines(body) + "\n"
	}
	return text
}
