package tui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/gatehouse/gatehouse/app/api"
)

// section is one tab of the console. The root model owns the sections,
// sizes them, sends them the keys while they are shown and every other
// message always (so an answer that arrives while another tab is shown still
// lands), and asks them for their help keys.
type section interface {
	// title is the tab's name.
	title() string
	// load starts fetching what the section shows.
	load() tea.Cmd
	// update handles a message and returns the next command.
	update(msg tea.Msg) tea.Cmd
	// view renders the section in the size last given.
	view() string
	// setSize gives the section its width and height.
	setSize(width, height int)
	// shortHelp and fullHelp are the section's keys for the footer and `?`.
	shortHelp() []key.Binding
	fullHelp() [][]key.Binding
	// typing reports whether an input has the keyboard, so that the root
	// leaves letters like q and the digits to it.
	typing() bool
}

// Messages the sections send to the root model.
type (
	// noticeMsg puts a line in the footer that clears after a few seconds.
	noticeMsg struct {
		text string
		err  error
	}
	// askMsg asks for a default-No confirmation before running yes.
	askMsg struct {
		prompt string
		yes    tea.Cmd
	}
	// openFormMsg shows a form as a dialog.
	openFormMsg struct{ form *form }
)

// notify is a command that shows text in the footer.
func notify(text string) tea.Cmd {
	return func() tea.Msg { return noticeMsg{text: text} }
}

// fail is a command that shows err in the footer.
func fail(err error) tea.Cmd {
	return func() tea.Msg { return noticeMsg{err: err} }
}

// report is the command that ends a change: the footer shows err if the
// change failed, text (what was done) if not.
func report(text string, err error) tea.Cmd {
	if err != nil {
		return fail(err)
	}
	return notify(text)
}

// ask is a command that asks for a confirmation naming exactly what changes.
func ask(prompt string, yes tea.Cmd) tea.Cmd {
	return func() tea.Msg { return askMsg{prompt: prompt, yes: yes} }
}

// openForm is a command that shows f as a dialog.
func openForm(f *form) tea.Cmd {
	return func() tea.Msg { return openFormMsg{form: f} }
}

// describeError is err as a person reads it: the server's own message for
// an API error (a 403 says why), the Go error otherwise.
func describeError(err error) string {
	var e *api.Error
	if !errors.As(err, &e) {
		// A transport error: say what the network said, not the URL again.
		var ue *url.Error
		if errors.As(err, &ue) {
			return "cannot reach the server: " + ue.Err.Error()
		}
		return err.Error()
	}
	msg := e.Message
	if msg == "" {
		msg = e.Code
	}
	if len(e.Details) > 0 {
		fields := make([]string, 0, len(e.Details))
		for f := range e.Details {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		parts := make([]string, 0, len(fields))
		for _, f := range fields {
			parts = append(parts, f+": "+e.Details[f])
		}
		msg += " (" + strings.Join(parts, "; ") + ")"
	}
	switch e.Status {
	case http.StatusForbidden:
		return "not allowed: " + msg
	case http.StatusUnauthorized:
		return "not signed in: " + msg
	}
	return msg
}

// isForbidden reports whether err is the server saying no (403).
func isForbidden(err error) bool {
	var e *api.Error
	return errors.As(err, &e) && e.Status == http.StatusForbidden
}

// maxPages bounds how many pages of 100 a list loads.
const maxPages = 20

// listAll fetches every page of a list with list, at most maxPages of 100.
func listAll[T any](ctx context.Context, list func(context.Context, api.ListOptions) (api.List[T], error)) ([]T, error) {
	var all []T
	opts := api.ListOptions{Limit: 100}
	for range maxPages {
		page, err := list(ctx, opts)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.NextCursor == "" {
			break
		}
		opts.Cursor = page.NextCursor
	}
	return all, nil
}

// newInput is a text input in the console's style: no blinking cursor (a
// blink is a timer, and a static cursor keeps screen captures stable).
func newInput(placeholder string) textinput.Model {
	in := textinput.New()
	in.Prompt = ""
	in.Placeholder = placeholder
	in.Cursor.SetMode(cursor.CursorStatic)
	in.PlaceholderStyle = styleMuted
	return in
}

// listPane is the filterable table that is the body of most sections. The
// section keeps the items and turns the filter into rows; the pane owns the
// table, the filter input and the states around them (loading, failed).
type listPane struct {
	table     table.Model
	filter    textinput.Model
	filtering bool
	loaded    bool
	problem   string // why there is nothing to show: the load's error
	width     int
	height    int
	columns   func(width int) []table.Column
	empty     string
}

// filterKeys are the keys of the filter input, for the short help.
var filterKeys = []key.Binding{
	key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
	key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
}

func newListPane(columns func(width int) []table.Column, empty string) listPane {
	t := table.New(table.WithFocused(true), table.WithKeyMap(tableKeys()), table.WithStyles(tableStyles()))
	f := newInput("text to look for")
	p := listPane{table: t, filter: f, columns: columns, empty: empty}
	// The table needs its columns before its first rows, which may come
	// before the first size does.
	p.setSize(80, 20)
	return p
}

// setSize fits the table to width by height, less the status line above it.
func (p *listPane) setSize(width, height int) {
	p.width, p.height = width, height
	// Columns first: the table renders its rows with the columns it has.
	p.table.SetColumns(p.columns(width))
	p.table.SetWidth(width)
	p.table.SetHeight(max(height-1, 2))
	p.filter.Width = max(width-12, 10)
}

// setRows replaces the rows, keeping the cursor where it can.
func (p *listPane) setRows(rows []table.Row) {
	p.loaded = true
	p.problem = ""
	cur := p.table.Cursor()
	for _, row := range rows {
		for i, cell := range row {
			row[i] = printable(cell)
		}
	}
	p.table.SetRows(rows)
	if cur >= len(rows) {
		cur = len(rows) - 1
	}
	p.table.SetCursor(max(cur, 0))
}

// loadFailed shows why the list could not be loaded in its place; other
// than a refusal (whose message the list shows), the footer says it too.
func (p *listPane) loadFailed(err error) tea.Cmd {
	p.problem = "Could not load: " + describeError(err)
	if isForbidden(err) {
		p.problem = describeError(err)
		return nil
	}
	return fail(err)
}

// clearFilter drops a kept filter; it reports whether there was one.
func (p *listPane) clearFilter() bool {
	if p.filter.Value() == "" {
		return false
	}
	p.filter.SetValue("")
	return true
}

// query is the filter as typed, lower-cased.
func (p *listPane) query() string {
	return strings.ToLower(strings.TrimSpace(p.filter.Value()))
}

// startFilter focuses the filter input.
func (p *listPane) startFilter() tea.Cmd {
	p.filtering = true
	return p.filter.Focus()
}

// updateFilter handles a key while filtering. changed reports that the
// query changed, so the section re-filters.
func (p *listPane) updateFilter(msg tea.KeyMsg) (changed bool, cmd tea.Cmd) {
	before := p.filter.Value()
	switch msg.String() {
	case "enter":
		p.filtering = false
		p.filter.Blur()
		return false, nil
	case "esc":
		p.filtering = false
		p.filter.Blur()
		p.filter.SetValue("")
		return before != "", nil
	}
	p.filter, cmd = p.filter.Update(msg)
	return p.filter.Value() != before, cmd
}

// handleFilterKey takes the keys every list shares around its filter: all
// keys while the filter input has the keyboard, the filter key to give it
// the keyboard, and the clear key when there is a kept filter to drop. It
// calls refilter when the query changed, and reports whether it took msg;
// a key it did not take is the section's.
func (p *listPane) handleFilterKey(msg tea.KeyMsg, keys listKeys, refilter func()) (tea.Cmd, bool) {
	if p.filtering {
		changed, cmd := p.updateFilter(msg)
		if changed {
			refilter()
		}
		return cmd, true
	}
	switch {
	case key.Matches(msg, keys.Filter):
		return p.startFilter(), true
	case key.Matches(msg, keys.Clear) && p.clearFilter():
		refilter()
		return nil, true
	}
	return nil, false
}

// showMatching fills the table with a row for each of items that matches
// the filter, and returns those items in the table's order (for atCursor).
func showMatching[T any](p *listPane, items []T, matches func(item T, query string) bool, row func(T) table.Row) []T {
	q := p.query()
	var shown []T
	rows := make([]table.Row, 0, len(items))
	for _, item := range items {
		if matches(item, q) {
			shown = append(shown, item)
			rows = append(rows, row(item))
		}
	}
	p.setRows(rows)
	return shown
}

// atCursor is the item of shown on the table's cursor row, where shown is
// what the table lists, row for row; false when the list is empty.
func atCursor[T any](p *listPane, shown []T) (T, bool) {
	i := p.table.Cursor()
	if i < 0 || i >= len(shown) {
		var none T
		return none, false
	}
	return shown[i], true
}

// updateTable moves the table's cursor.
func (p *listPane) updateTable(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	p.table, cmd = p.table.Update(msg)
	return cmd
}

// view renders the status line (the filter when there is one, then status)
// and the table, or why there is no table.
func (p *listPane) view(status string) string {
	line := status
	if p.filtering || p.filter.Value() != "" {
		line = styleLabel.Render("filter: ") + p.filter.View()
		if !p.filtering {
			line = styleLabel.Render("filter: ") + p.filter.Value() + "  " + status + styleMuted.Render("  (/ change, esc clear)")
		}
	}
	var body string
	switch {
	case p.problem != "":
		body = styleBad.Render(lipgloss.NewStyle().Width(p.width).Render(p.problem))
	case !p.loaded:
		body = styleMuted.Render("loading…")
	case len(p.table.Rows()) == 0:
		body = p.table.View() + "\n" + styleMuted.Render(p.empty)
	default:
		body = p.table.View()
	}
	return lipgloss.NewStyle().MaxWidth(p.width).Render(truncate(line, p.width) + "\n" + body)
}

// fitColumns gives fixed columns their width and shares what is left of
// width among the flexible ones (width 0) by their weights.
func fitColumns(width int, titles []string, fixed []int, weights []int) []table.Column {
	// Each cell has one space of padding on either side.
	free := width - 2*len(titles)
	total := 0
	for i, w := range fixed {
		free -= w
		if w == 0 {
			total += weights[i]
		}
	}
	cols := make([]table.Column, len(titles))
	left := free
	last := -1
	for i, t := range titles {
		w := fixed[i]
		if w == 0 && total > 0 {
			w = max(free*weights[i]/total, 3)
			left -= w
			last = i
		}
		cols[i] = table.Column{Title: t, Width: w}
	}
	if last >= 0 && left > 0 {
		cols[last].Width += left
	}
	return cols
}

// truncate cuts s to width cells.
func truncate(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if lipgloss.Width(s) <= width {
		return s
	}
	return lipgloss.NewStyle().MaxWidth(width-1).Render(s) + "…"
}

// splitList turns "a, b,,c" into [a b c].
func splitList(s string) []string {
	out := []string{}
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// missing returns the items of before that after does not have.
func missing(before, after []string) []string {
	keep := map[string]bool{}
	for _, a := range after {
		keep[a] = true
	}
	var gone []string
	for _, b := range before {
		if !keep[b] {
			gone = append(gone, b)
		}
	}
	return gone
}

// joinOr is the list for a person: "a, b", or dash when empty.
func joinOr(items []string, empty string) string {
	if len(items) == 0 {
		return empty
	}
	return strings.Join(items, ", ")
}

// containsFold reports whether any of fields contains q, ignoring case.
func containsFold(q string, fields ...string) bool {
	if q == "" {
		return true
	}
	for _, f := range fields {
		if strings.Contains(strings.ToLower(f), q) {
			return true
		}
	}
	return false
}

// plural is "1 member" or "3 members".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
