package tui

import (
	"context"
	"fmt"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/gatehouse/gatehouse/app/api"
)

// Lists are read from the server a page at a time: the first page when a
// section is shown or searched, the next one when the cursor comes near the
// end of what is loaded. A search goes to the server (?q=), so it finds
// what is not loaded yet; what is loaded is narrowed at once as one types.

// pageSize is how many items one request asks for: the server's most.
const pageSize = 100

// loadAhead is how close to the last loaded row the cursor comes before the
// next page is asked for.
const loadAhead = 20

// pager holds what is loaded of one server list and how to get more.
type pager[T any] struct {
	fetch   func(context.Context, api.ListOptions) (api.List[T], error)
	filter  map[string]string // the server-side filters the items answer
	items   []T
	next    string // cursor of the next page; empty when all is loaded
	total   *int   // the list's size when the server said it
	loading bool
	loaded  bool
	stale   bool // something changed since the last load: reload when shown
	gen     int  // answers of an older load are dropped
}

// pageMsg is the answer to one page request of pager to.
type pageMsg[T any] struct {
	to   *pager[T]
	gen  int
	more bool // the next page, to append; else the first, to replace
	list api.List[T]
	err  error
}

func newPager[T any](fetch func(context.Context, api.ListOptions) (api.List[T], error)) *pager[T] {
	return &pager[T]{fetch: fetch, filter: map[string]string{}}
}

// reload asks for the first page with filter (nil keeps the current one).
// The loaded items stay shown until the answer replaces them, so the cursor
// keeps its place.
func (p *pager[T]) reload(filter map[string]string) tea.Cmd {
	if filter != nil {
		p.filter = filter
	}
	p.gen++
	p.loading, p.stale = true, false
	return p.request(api.ListOptions{Limit: pageSize, Filter: p.filter}, false)
}

// more asks for the next page, unless there is none or a request is out.
func (p *pager[T]) more() tea.Cmd {
	if p.next == "" || p.loading {
		return nil
	}
	p.loading = true
	return p.request(api.ListOptions{Limit: pageSize, Cursor: p.next, Filter: p.filter}, true)
}

// moreNear asks for the next page when row (of shown rows) is near the end.
func (p *pager[T]) moreNear(row, shown int) tea.Cmd {
	if row < shown-loadAhead {
		return nil
	}
	return p.more()
}

func (p *pager[T]) request(opts api.ListOptions, more bool) tea.Cmd {
	fetch, gen := p.fetch, p.gen
	filter := make(map[string]string, len(opts.Filter))
	for k, v := range opts.Filter {
		filter[k] = v
	}
	opts.Filter = filter
	return func() tea.Msg {
		l, err := fetch(context.Background(), opts)
		return pageMsg[T]{to: p, gen: gen, more: more, list: l, err: err}
	}
}

// apply takes an answer of this pager; ok is false for another pager's or
// an older load's answer.
func (p *pager[T]) apply(msg pageMsg[T]) (ok bool, err error) {
	if msg.to != p || msg.gen != p.gen {
		return false, nil
	}
	p.loading = false
	if msg.err != nil {
		return true, msg.err
	}
	p.loaded = true
	if msg.more {
		p.items = append(p.items, msg.list.Items...)
	} else {
		p.items = append([]T(nil), msg.list.Items...)
	}
	p.next = msg.list.NextCursor
	if msg.list.Total != nil {
		p.total = msg.list.Total
	} else if !msg.more {
		p.total = nil
	}
	if p.next == "" {
		n := len(p.items)
		p.total = &n
	}
	return true, nil
}

// replace puts fresh in the place of the loaded item same finds, after a
// change reloaded it; it reports whether one was there.
func (p *pager[T]) replace(fresh T, same func(T) bool) bool {
	for i, it := range p.items {
		if same(it) {
			p.items[i] = fresh
			return true
		}
	}
	return false
}

// add puts a newly created item at the end of what is loaded and counts it.
func (p *pager[T]) add(item T) {
	p.items = append(p.items, item)
	if p.total != nil {
		n := *p.total + 1
		p.total = &n
	}
}

// drop removes the loaded item same finds (after a delete).
func (p *pager[T]) drop(same func(T) bool) {
	for i, it := range p.items {
		if same(it) {
			p.items = append(p.items[:i:i], p.items[i+1:]...)
			if p.total != nil {
				n := *p.total - 1
				p.total = &n
			}
			return
		}
	}
}

// count says how many there are, for the status line: "20000 users" when
// the total is known, "100+ users" when more pages remain uncounted.
func (p *pager[T]) count(one, many string) string {
	switch {
	case p.total != nil:
		return plural(*p.total, one, many)
	case p.next != "":
		return fmt.Sprintf("%d+ %s", len(p.items), many)
	}
	return plural(len(p.items), one, many)
}
