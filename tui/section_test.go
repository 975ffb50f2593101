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

func TestListAllFollowsTheCursorToTheEnd(t *testing.T) {
	t.Parallel()
	var asked []string
	got, err := listAll(context.Background(), pagedList(3, &asked))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []int{0, 1, 2}) || !slices.Equal(asked, []string{"", "1", "2"}) {
		t.Errorf("got %v asking %q, want [0 1 2] asking [\"\" 1 2]", got, asked)
	}
}

func TestListAllStopsAtMaxPages(t *testing.T) {
	t.Parallel()
	var asked []string
	got, err := listAll(context.Background(), pagedList(maxPages+5, &asked))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != maxPages || len(asked) != maxPages {
		t.Errorf("got %d items in %d requests, want %d in %d", len(got), len(asked), maxPages, maxPages)
	}
}

func TestListAllReturnsTheError(t *testing.T) {
	t.Parallel()
	refused := &api.Error{Status: http.StatusForbidden, Code: "forbidden"}
	calls := 0
	got, err := listAll(context.Background(), func(_ context.Context, opts api.ListOptions) (api.List[int], error) {
		calls++
		if opts.Cursor == "" {
			return api.List[int]{Items: []int{1}, NextCursor: "next"}, nil
		}
		return api.List[int]{}, refused
	})
	if !errors.Is(err, refused) || got != nil || calls != 2 {
		t.Errorf("got %v, %v after %d calls, want nil and the refusal after 2", got, err, calls)
	}
}
