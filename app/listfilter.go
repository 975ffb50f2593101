package app

import (
	"fmt"
	"strings"

	"github.com/gatehouse/gatehouse/store"
	"github.com/labstack/echo/v4"
)

// Filters over lists the store pages without one (rules, the audit log):
// the store's pages are read one after another and filtered here, within
// a bound, so that a search matching nothing costs a bounded amount.

// maxFilterScan bounds how many stored items one filtered page reads. A page
// that reaches it is short (maybe empty) and has a cursor to go on from.
const maxFilterScan = 10_000

// filteredPage reads up to p.Limit items that match from list, from
// p.Cursor on. Each store page asked for is at most as long as what is
// still missing, so every item of it that matches fits and the store's own
// cursor after it is exact.
func filteredPage[T any](list func(store.Page) ([]T, string, error), match func(T) bool, p store.Page) ([]T, string, error) {
	var out []T
	cursor := p.Cursor
	scanned := 0
	for {
		need := p.Limit - len(out)
		items, next, err := list(store.Page{Limit: need, Cursor: cursor})
		if err != nil {
			return nil, "", err
		}
		scanned += len(items)
		for _, it := range items {
			if match(it) {
				out = append(out, it)
			}
		}
		cursor = next
		if next == "" || len(out) == p.Limit || scanned >= maxFilterScan {
			return out, next, nil
		}
	}
}

// searchParam reads ?q=, trimmed and lower-cased, at most maxQueryLen.
func searchParam(c echo.Context) (string, error) {
	q := strings.TrimSpace(c.QueryParam("q"))
	if len(q) > maxQueryLen {
		return "", invalidInput(map[string]string{"q": fmt.Sprintf("must be at most %d characters", maxQueryLen)})
	}
	return strings.ToLower(q), nil
}

// knownTotal is the total of a list when one page holds all of it: the
// first page with no next one. Otherwise nil, and a client says "N+".
func knownTotal(p store.Page, items int, next string) *int {
	if p.Cursor == "" && next == "" {
		return &items
	}
	return nil
}
