package tui

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/gatehouse/gatehouse/app/api"
)

// pagedList is a list of n items served one a page, the cursor being the
// index of the next item.
func pagedList(n int, asked *[]string) func(context.Context, api.ListOptions) (api.List[int], error) {
	return func(_ context.Context, opts api.ListOptions) (api.List[int], error) {
		*asked = append(*asked, opts.Cursor)
		i := 0
		if opts.Cursor != "" {
			i, _ = strconv.Atoi(opts.Cursor)
		}
		l := api.List[int]{Items: []int{i}}
		if i+1 < n {
			l.NextCursor = strconv.Itoa(i + 1)
		}
		return l, nil
	}
}

// mustApply runs cmd, a page request of p, and applies its answer.
func mustApply[T any](t *testing.T, p *pager[T], cmd func() any) error {
	t.Helper()
	msg, ok := cmd().(pageMsg[T])
	if !ok {
		t.Fatalf("the command answered %T", msg)
	}
	applied, err := p.apply(msg)
	if !applied {
		t.Fatal("the pager did not take its own answer")
	}
	return err
}

// A pager asks for the next page only near the end of what is loaded, one
// request at a time, and stops at the last page; the total is then known.
func TestPagerFollowsTheCursorOnDemand(t *testing.T) {
	t.Parallel()
	var asked []string
	p := newPager(pagedList(3, &asked))
	if err := mustApply(t, p, func() any { return p.reload(nil)() }); err != nil {
		t.Fatal(err)
	}
	if p.count("item", "items") != "1+ items" {
		t.Errorf("count after one page: %q", p.count("item", "items"))
	}
	if cmd := p.moreNear(-loadAhead-1, 0); cmd != nil {
		t.Error("asked for more far from the end")
	}
	for p.next != "" {
		cmd := p.moreNear(0, len(p.items))
		if cmd == nil {
			t.Fatal("no request for the next page at the end")
		}
		if p.more() != nil {
			t.Fatal("a second request while one is out")
		}
		if err := mustApply(t, p, func() any { return cmd() }); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(p.items, []int{0, 1, 2}) || !slices.Equal(asked, []string{"", "1", "2"}) {
		t.Errorf("got %v asking %q, want [0 1 2] asking [\"\" 1 2]", p.items, asked)
	}
	if p.more() != nil || p.count("item", "items") != "3 items" {
		t.Errorf("after the last page: more asked, or count %q", p.count("item", "items"))
	}
}

// An answer to an older load is dropped: a search typed after a reload
// wins whatever order the answers come in.
func TestPagerDropsOlderAnswers(t *testing.T) {
	t.Parallel()
	var asked []string
	p := newPager(pagedList(3, &asked))
	first := p.reload(nil)
	second := p.reload(map[string]string{"q": "x"})
	if ok, _ := p.apply(first().(pageMsg[int])); ok {
		t.Error("the older answer was taken")
	}
	if ok, _ := p.apply(second().(pageMsg[int])); !ok {
		t.Error("the newer answer was dropped")
	}
}

func TestPagerReturnsTheError(t *testing.T) {
	t.Parallel()
	refused := &api.Error{Status: http.StatusForbidden, Code: "forbidden"}
	p := newPager(func(_ context.Context, opts api.ListOptions) (api.List[int], error) {
		return api.List[int]{}, refused
	})
	if err := mustApply(t, p, func() any { return p.reload(nil)() }); !errors.Is(err, refused) || p.loading {
		t.Errorf("got %v (loading %v), want the refusal", err, p.loading)
	}
}
