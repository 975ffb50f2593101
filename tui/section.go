package tui

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
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
	// markStale says something changed elsewhere; isStale reports it, and
	// the root reloads a stale section when it is shown.
	markStale()
	isStale() bool
	// busy reports a request of the section in flight, for the spinner.
	busy() bool
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

// ask is a command that asks for a confirmation naming exactly what changes.
func ask(prompt string, yes tea.Cmd) tea.Cmd {
	return func() tea.Msg { return askMsg{prompt: prompt, yes: yes} }
}

// copyText is a command that copies text to the clipboard and says done.
func copyText(text, done string) tea.Cmd {
	return func() tea.Msg { return copyMsg{text: text, done: done} }
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
// The cursor row carries a marker in its own column, so that it shows
// without colour (NO_COLOR) too, and stays on the same item (by key) when
// the rows change under it.
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
	rows      []table.Row // without the marker
	marked    []table.Row // rows with the marker column, as the table has them
	markedAt  int         // the row that holds the marker, -1 for none
	keys      []string    // the item key of each row
	sortCol   int         // 0: the server's order; n: by column n, -n: reversed
}

// filterKeys are the keys of the filter input, for the short help.
var filterKeys = []key.Binding{
	key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "search the server")),
	key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
}

// cursorMarker marks the cursor row.
const cursorMarker = ">"

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
	cols := append([]table.Column{{Title: "", Width: 1}}, p.columns(max(width-3, 10))...)
	p.table.SetColumns(cols)
	p.table.SetWidth(width)
	p.table.SetHeight(max(height-1, 2))
	p.filter.Width = max(width-12, 10)
	p.mark()
}

// setRows replaces the rows (keys: each row's item key), keeping the cursor
// on the item it was on, else where it was.
func (p *listPane) setRows(rows []table.Row, keys []string) {
	p.loaded = true
	p.problem = ""
	cur := p.table.Cursor()
	// Text people chose is shown with anything that would act on the
	// terminal escaped.
	for _, row := range rows {
		for i, cell := range row {
			row[i] = printable(cell)
		}
	}
	if cur >= 0 && cur < len(p.keys) {
		want := p.keys[cur]
		for i, k := range keys {
			if k == want {
				cur = i
				break
			}
		}
	}
	p.rows, p.keys = rows, keys
	p.marked = make([]table.Row, len(rows))
	for i, r := range rows {
		p.marked[i] = append(table.Row{" "}, r...)
	}
	p.markedAt = -1
	if cur >= len(rows) {
		cur = len(rows) - 1
	}
	p.markAt(max(cur, 0))
}

// mark redraws the rows with the marker on the cursor row.
func (p *listPane) mark() { p.markAt(p.table.Cursor()) }

// markAt puts the cursor on row cur and moves the marker there: two cells
// change, however long the list.
func (p *listPane) markAt(cur int) {
	if len(p.marked) != len(p.rows) {
		p.setRows(p.rows, p.keys)
		return
	}
	if p.markedAt >= 0 && p.markedAt < len(p.marked) {
		p.marked[p.markedAt][0] = " "
	}
	p.markedAt = -1
	if cur >= 0 && cur < len(p.marked) {
		p.marked[cur][0] = cursorMarker
		p.markedAt = cur
	}
	p.table.SetRows(p.marked)
	p.table.SetCursor(cur)
}

// cursorKey is the key of the item on the cursor row, "" when none.
func (p *listPane) cursorKey() string {
	i := p.table.Cursor()
	if i < 0 || i >= len(p.keys) {
		return ""
	}
	return p.keys[i]
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
// query changed, so the section re-filters; search that the person asked
// the server to search (enter) or to drop the search (esc).
func (p *listPane) updateFilter(msg tea.KeyMsg) (changed, search bool, cmd tea.Cmd) {
	before := p.filter.Value()
	switch msg.String() {
	case "enter":
		p.filtering = false
		p.filter.Blur()
		return false, true, nil
	case "esc":
		p.filtering = false
		p.filter.Blur()
		p.filter.SetValue("")
		return before != "", true, nil
	}
	p.filter, cmd = p.filter.Update(msg)
	return p.filter.Value() != before, false, cmd
}

// handleFilterKey takes the keys every list shares around its filter: all
// keys while the filter input has the keyboard, the filter key to give it
// the keyboard, the clear key when there is a kept filter to drop, and the
// sort keys. It calls refilter when the rows must be redrawn (the loaded
// items narrowed as one types) and search when the server must be asked
// (enter, or the filter dropped), and reports whether it took msg; a key
// it did not take is the section's.
func (p *listPane) handleFilterKey(msg tea.KeyMsg, keys listKeys, refilter func(), search func() tea.Cmd) (tea.Cmd, bool) {
	if p.filtering {
		changed, ask, cmd := p.updateFilter(msg)
		if changed {
			refilter()
		}
		if ask && search != nil {
			return tea.Batch(cmd, search()), true
		}
		return cmd, true
	}
	switch {
	case key.Matches(msg, keys.Filter):
		return p.startFilter(), true
	case key.Matches(msg, keys.Clear) && p.clearFilter():
		refilter()
		if search != nil {
			return search(), true
		}
		return nil, true
	case key.Matches(msg, keys.Sort, keys.Reverse):
		p.cycleSort(key.Matches(msg, keys.Reverse))
		refilter()
		return nil, true
	}
	return nil, false
}

// showMatching fills the table with a row for each of items that matches
// the filter, sorted by the chosen column, and returns those items in the
// table's order (for atCursor). key names an item across reloads.
func showMatching[T any](p *listPane, items []T, matches func(item T, query string) bool, row func(T) table.Row, key func(T) string) []T {
	q := p.query()
	type shownRow struct {
		item T
		row  table.Row
	}
	var all []shownRow
	for _, item := range items {
		if matches(item, q) {
			all = append(all, shownRow{item, row(item)})
		}
	}
	if c := p.sortCol; c != 0 {
		col := abs(c) - 1
		sort.SliceStable(all, func(i, j int) bool {
			a, b := cellOf(all[i].row, col), cellOf(all[j].row, col)
			if c < 0 {
				a, b = b, a
			}
			return lessCell(a, b)
		})
	}
	shown := make([]T, len(all))
	rows := make([]table.Row, len(all))
	keys := make([]string, len(all))
	for i, r := range all {
		shown[i], rows[i], keys[i] = r.item, r.row, key(r.item)
	}
	p.setRows(rows, keys)
	return shown
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func cellOf(r table.Row, i int) string {
	if i < len(r) {
		return r[i]
	}
	return ""
}

// lessCell orders cells as numbers when both are, else as text ignoring case.
func lessCell(a, b string) bool {
	x, errA := strconv.Atoi(a)
	y, errB := strconv.Atoi(b)
	if errA == nil && errB == nil {
		return x < y
	}
	return strings.ToLower(a) < strings.ToLower(b)
}

// cycleSort sorts by the next column (0 is the server's order); reverse
// turns the order of the current column round.
func (p *listPane) cycleSort(reverse bool) {
	n := len(p.columns(max(p.width-3, 10)))
	switch {
	case reverse && p.sortCol != 0:
		p.sortCol = -p.sortCol
	case reverse:
	default:
		p.sortCol = (abs(p.sortCol) + 1) % (n + 1)
	}
}

// sortLabel says how the rows are sorted, for the status line.
func (p *listPane) sortLabel() string {
	if p.sortCol == 0 {
		return ""
	}
	cols := p.columns(max(p.width-3, 10))
	i := abs(p.sortCol) - 1
	if i >= len(cols) {
		return ""
	}
	dir := "↑"
	if p.sortCol < 0 {
		dir = "↓"
	}
	return " · sorted by " + cols[i].Title + " " + dir + " (loaded rows)"
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
	before := p.table.Cursor()
	p.table, cmd = p.table.Update(msg)
	if p.table.Cursor() != before {
		p.mark()
	}
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
	if p.sortCol != 0 && !p.filtering {
		line += styleMuted.Render(p.sortLabel())
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
