package tui

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/table"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/app/api"
)

// failuresKept is how many auth failures the tail keeps in memory.
const failuresKept = 1000

// failuresTick is how often the per-minute count is brought up to date.
const failuresTick = 5 * time.Second

// failuresSection is the live tail of recorded 401, 403 and 429 answers:
// the recent history first, then the stream, newest on top.
type failuresSection struct {
	client  *api.Client
	clock   clock
	pane    listPane
	items   []api.AuthFailure // newest first
	shown   []api.AuthFailure // items that pass the filter, as in the table
	pending []api.AuthFailure // arrived while paused, newest first
	paused  bool
	follow  bool // follow the live stream
	stream  *failureStream
	state   streamState
	detail  *detailView // open detail of one failure, if any
	keys    failuresKeys
	list    listKeys

	filter   map[string]string // the server-side filters of the loaded items
	next     string            // cursor of the next older page
	total    *int
	loading  bool
	gen      int
	wasLive  bool // the stream was live before: a new live means a reconnect
	catchUps int  // pages read to fill a gap after a reconnect
}

type failuresKeys struct {
	Pause, Back key.Binding
}

type (
	// failuresLoadedMsg is a page of the list route. older: a page after
	// the loaded ones, to append; catchUp: a page read after a reconnect,
	// to fill in what the stream missed.
	failuresLoadedMsg struct {
		gen     int
		items   []api.AuthFailure
		next    string
		total   *int
		older   bool
		catchUp bool
		err     error
	}
	failuresTickMsg struct{}
)

func newFailuresSection(client *api.Client, c clock, follow bool) *failuresSection {
	s := &failuresSection{
		client: client,
		clock:  c,
		follow: follow,
		list:   newListKeys(),
		keys: failuresKeys{
			Pause: key.NewBinding(key.WithKeys(" "), key.WithHelp("space", "pause/resume")),
			Back:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back to the list")),
		},
	}
	s.pane = newListPane(func(w int) []table.Column {
		return fitColumns(w,
			[]string{"Time", "St", "Reason", "Client IP", "User", "Request", "×"},
			[]int{8, 3, 0, 0, 6, 0, 4},
			[]int{0, 0, 3, 3, 0, 5, 0})
	}, "No auth failures yet. They appear here as they happen.")
	s.list.Filter.SetHelp("/", "filter (reason:, ip:, user:)")
	return s
}

func (s *failuresSection) title() string { return "Auth failures" }

func (s *failuresSection) load() tea.Cmd {
	cmds := []tea.Cmd{s.fetch(), s.clock.after(failuresTick, failuresTickMsg{})}
	if s.follow && s.stream == nil {
		s.stream = newFailureStream(s.client)
		s.state = streamState{phase: streamConnecting}
		cmds = append(cmds, s.stream.start())
	}
	return tea.Batch(cmds...)
}

func (s *failuresSection) fetch() tea.Cmd {
	s.gen++
	return s.page("", false, false)
}

// page reads one page of the list route with the section's filters.
func (s *failuresSection) page(cursor string, older, catchUp bool) tea.Cmd {
	client, gen := s.client, s.gen
	opts := api.ListOptions{Limit: pageSize, Cursor: cursor, Filter: map[string]string{}}
	for k, v := range s.filter {
		opts.Filter[k] = v
	}
	s.loading = true
	return func() tea.Msg {
		l, err := client.ListAuthFailures(context.Background(), opts)
		return failuresLoadedMsg{gen: gen, items: l.Items, next: l.NextCursor, total: l.Total, older: older, catchUp: catchUp, err: err}
	}
}

func (s *failuresSection) isStale() bool { return false }

func (s *failuresSection) markStale() {}

func (s *failuresSection) busy() bool { return s.loading }

// search sends the filter's field words (reason:, ip:, user:) to the
// server; bare words narrow what is loaded.
func (s *failuresSection) search() tea.Cmd {
	s.filter = serverFailureFilter(s.pane.filter.Value())
	s.items, s.next, s.total = nil, "", nil
	s.refresh()
	return s.fetch()
}

// jump shows the failures query finds.
func (s *failuresSection) jump(query string) tea.Cmd {
	s.detail = nil
	s.pane.filter.SetValue(query)
	return s.search()
}

// serverFailureFilter is the list route's filters of what was typed.
func serverFailureFilter(q string) map[string]string {
	out := map[string]string{}
	for _, word := range strings.Fields(q) {
		field, value, ok := strings.Cut(word, ":")
		if ok && value != "" && (field == "reason" || field == "ip" || field == "user") {
			out[field] = value
		}
	}
	return out
}

// maxCatchUpPages bounds the pages read to fill a gap after a reconnect.
const maxCatchUpPages = 10

// stop ends the stream; the root calls it when the console quits.
func (s *failuresSection) stop() {
	if s.stream != nil {
		s.stream.stop()
	}
}

func (s *failuresSection) setSize(w, h int) {
	s.pane.setSize(w, h)
	if s.detail != nil {
		s.detail.setSize(w, h)
	}
}

func (s *failuresSection) typing() bool { return s.pane.filtering }

func (s *failuresSection) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case failuresLoadedMsg:
		if msg.gen != s.gen {
			return nil
		}
		s.loading = false
		if msg.err != nil {
			return s.pane.loadFailed(msg.err)
		}
		known := s.knows(msg.items)
		s.items = mergeFailures(s.items, msg.items)
		if !msg.catchUp {
			s.next = msg.next
			if msg.total != nil || !msg.older {
				s.total = msg.total
			}
		}
		s.refresh()
		// After a reconnect, read older pages until one holds a record seen
		// before: then nothing in between is missing.
		if msg.catchUp && !known && msg.next != "" && s.catchUps < maxCatchUpPages {
			s.catchUps++
			return s.page(msg.next, false, true)
		}
		return nil
	case streamMsg:
		var cmds []tea.Cmd
		if msg.state != nil {
			s.state = *msg.state
			switch s.state.phase {
			case streamLive:
				if s.wasLive {
					// Back after a break: what happened meanwhile is in the
					// list route, newest first.
					s.catchUps = 0
					cmds = append(cmds, s.page("", false, true))
				}
				s.wasLive = true
			case streamRetrying:
				s.state.retryAt = s.clock.now().Add(s.state.retryIn)
				cmds = append(cmds, s.clock.after(time.Second, streamTickMsg{}))
			}
		}
		if msg.failure != nil {
			if s.paused {
				s.pending = mergeFailures(s.pending, []api.AuthFailure{*msg.failure})
			} else {
				s.items = mergeFailures(s.items, []api.AuthFailure{*msg.failure})
				s.refresh()
			}
		}
		if s.state.phase == streamDenied || s.stream == nil {
			return tea.Batch(cmds...)
		}
		return tea.Batch(append(cmds, s.stream.wait())...)
	case streamTickMsg:
		// The countdown of "reconnecting in 4s" redraws every second.
		if s.state.phase == streamRetrying {
			return s.clock.after(time.Second, streamTickMsg{})
		}
		return nil
	case failuresTickMsg:
		return s.clock.after(failuresTick, failuresTickMsg{})
	case tea.KeyMsg:
		return s.handleKey(msg)
	}
	return nil
}

func (s *failuresSection) handleKey(msg tea.KeyMsg) tea.Cmd {
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
	case key.Matches(msg, s.keys.Pause):
		s.paused = !s.paused
		if !s.paused {
			s.items = mergeFailures(s.items, s.pending)
			s.pending = nil
			s.refresh()
		}
		return nil
	case key.Matches(msg, s.list.Refresh):
		return s.fetch()
	case key.Matches(msg, s.list.Open):
		if f, ok := atCursor(&s.pane, s.shown); ok {
			s.detail = newDetailView(failureDetail(f, s.clock), s.pane.width, s.pane.height, s.keys.Back)
		}
		return nil
	}
	cmd := s.pane.updateTable(msg)
	if s.pane.table.Cursor() >= len(s.shown)-loadAhead && s.next != "" && !s.loading && len(s.items) < failuresKept {
		cmd = tea.Batch(cmd, s.page(s.next, true, false))
	}
	return cmd
}

// knows reports whether any of items is loaded already.
func (s *failuresSection) knows(items []api.AuthFailure) bool {
	have := make(map[string]bool, len(s.items))
	for _, f := range s.items {
		have[f.ID] = true
	}
	for _, f := range items {
		if have[f.ID] {
			return true
		}
	}
	return false
}

// refresh re-applies the filter and rebuilds the rows; the cursor stays on
// its record (by id) as new ones arrive above it.
func (s *failuresSection) refresh() {
	s.shown = showMatching(&s.pane, s.items, failureMatches, s.row, func(f api.AuthFailure) string { return f.ID })
}

// row is f's row in the failures table.
func (s *failuresSection) row(f api.AuthFailure) table.Row {
	user := f.UserID
	if user == "" {
		user = "-"
	}
	return table.Row{
		s.clock.short(failureLatest(f)),
		strconv.Itoa(f.Status),
		f.Reason,
		f.IP,
		user,
		f.Method + " " + f.Path,
		strconv.Itoa(max(f.Count, 1)),
	}
}

// perMinute counts the failures of the last minute, folded ones included.
func (s *failuresSection) perMinute() int {
	since := s.clock.now().Add(-time.Minute)
	n := 0
	for _, list := range [][]api.AuthFailure{s.items, s.pending} {
		for _, f := range list {
			if failureLatest(f).After(since) {
				n += max(f.Count, 1)
			}
		}
	}
	return n
}

func (s *failuresSection) view() string {
	if s.detail != nil {
		return s.detail.view()
	}
	status := styleGood.Render("● " + s.state.at(s.clock.now()))
	switch s.state.phase {
	case streamRetrying, streamConnecting:
		status = styleWarn.Render("● " + s.state.at(s.clock.now()))
	case streamDenied, streamOff:
		status = styleBad.Render("● " + s.state.at(s.clock.now()))
	}
	if s.paused {
		status += "  " + styleWarn.Render(fmt.Sprintf("paused, %d new", len(s.pending)))
	}
	total := ""
	if s.total != nil {
		total = fmt.Sprintf(" of %d", *s.total)
	} else if s.next != "" {
		total = fmt.Sprintf(" of %d+", len(s.items))
	}
	status += styleMuted.Render(fmt.Sprintf("  %d in the last minute · %d shown%s", s.perMinute(), len(s.shown), total))
	return s.pane.view(status)
}

func (s *failuresSection) shortHelp() []key.Binding {
	if s.pane.filtering {
		return filterKeys
	}
	if s.detail != nil {
		return []key.Binding{s.keys.Back}
	}
	return []key.Binding{s.keys.Pause, s.list.Filter, s.list.Open}
}

func (s *failuresSection) fullHelp() [][]key.Binding {
	return [][]key.Binding{{s.keys.Pause, s.list.Open, s.keys.Back}, s.list.navigation()}
}

// failureLatest is when a failure last happened.
func failureLatest(f api.AuthFailure) time.Time {
	if f.LastTime.After(f.Time) {
		return f.LastTime
	}
	return f.Time
}

// mergeFailures adds fresh to have, a record with a known id replacing the
// old one (a folded failure whose count grew), newest first, at most
// failuresKept.
func mergeFailures(have, fresh []api.AuthFailure) []api.AuthFailure {
	byID := make(map[string]int, len(have))
	out := make([]api.AuthFailure, 0, len(have)+len(fresh))
	for _, f := range append(append([]api.AuthFailure{}, fresh...), have...) {
		if i, ok := byID[f.ID]; ok && f.ID != "" {
			if failureLatest(f).After(failureLatest(out[i])) || f.Count > out[i].Count {
				out[i] = f
			}
			continue
		}
		byID[f.ID] = len(out)
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool { return failureLatest(out[i]).After(failureLatest(out[j])) })
	if len(out) > failuresKept {
		out = out[:failuresKept]
	}
	return out
}

// failureMatches reports whether f passes the filter q: words such as
// "reason:forbidden", "ip:10.0.0.1" or "user:7" match that field, and bare
// words match the reason, IP, user or path. Every word must match.
func failureMatches(f api.AuthFailure, q string) bool {
	for _, word := range strings.Fields(q) {
		field, value, ok := strings.Cut(word, ":")
		var hit bool
		switch {
		case ok && field == "reason":
			hit = containsFold(value, f.Reason)
		case ok && field == "ip":
			hit = containsFold(value, f.IP)
		case ok && field == "user":
			hit = containsFold(value, f.UserID)
		default:
			hit = containsFold(word, f.Reason, f.IP, f.UserID, f.Path, strconv.Itoa(f.Status))
		}
		if !hit {
			return false
		}
	}
	return true
}

// failureDetail is every recorded field of f, for the detail view.
func failureDetail(f api.AuthFailure, c clock) string {
	user := f.UserID
	if user == "" {
		user = "anonymous"
	}
	lines := [][2]string{
		{"Time", c.long(f.Time)},
		{"Last", fmt.Sprintf("%s (%d times)", c.long(failureLatest(f)), max(f.Count, 1))},
		{"Status", fmt.Sprintf("%d %s", f.Status, f.Reason)},
		{"Client IP", f.IP},
		{"Request", f.Method + " " + f.Path},
		{"Route", f.Route},
		{"User", user},
		{"Request id", f.RequestID},
	}
	if f.Subject != "" || f.Object != "" {
		lines = append(lines, [2]string{"Denied", fmt.Sprintf("%s %s %s", f.Subject, f.Action, f.Object)})
	}
	if f.Explanation != "" {
		lines = append(lines, [2]string{"Why", f.Explanation})
	}
	return detailText("Auth failure "+f.ID, lines)
}
